"""Personal API tokens: a user's own bearer tokens, each the session of its own API client;
and how each audit event was asked for (``audit_events.via``: page, api, cli, idp), which the
events API (GET /audit/events) reports.

Revision ID: 0006_personal_tokens
Revises: 0005_user_search
Create Date: 2026-12-01 21:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_personal_tokens"
down_revision = "0005_user_search"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "personal_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_ip", sa.String(length=45), nullable=True),
        sa.Column("last_used_user_agent", sa.Text(), nullable=True),
        sa.Column("seen_addresses", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id"),
        sa.UniqueConstraint("secret_hash"),
    )
    op.create_index("ix_personal_tokens_user_id", "personal_tokens", ["user_id"])
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("via", sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("via")
    op.drop_index("ix_personal_tokens_user_id", table_name="personal_tokens")
    op.drop_table("personal_tokens")
