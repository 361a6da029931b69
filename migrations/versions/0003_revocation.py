"""Revocation that holds: re-authentication marks, IdP session ids, seen logout tokens.

Also lets a removed device keep its fingerprint while a new device takes it over: the
uniqueness of (user, fingerprint) now covers live devices only.

Revision ID: 0003_revocation
Revises: 0002_sessions_user_created
Create Date: 2026-11-25 22:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_revocation"
down_revision = "0002_sessions_user_created"
branch_labels = None
depends_on = None

LIVE = sa.text("removed_at IS NULL")


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("reauth_required_after", sa.DateTime(timezone=True)))
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("reported_suspicious_at", sa.DateTime(timezone=True)))
        batch.drop_constraint("uq_devices_user_fingerprint", type_="unique")
    op.create_index(
        "uq_devices_user_fingerprint_live",
        "devices",
        ["user_id", "fingerprint"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("idp_sid", sa.String(length=255)))
        batch.create_index("ix_sessions_idp_sid", ["idp_sid"])
    op.create_table(
        "seen_logout_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_seen_logout_tokens_seen_at", "seen_logout_tokens", ["seen_at"])


def downgrade():
    op.drop_index("ix_seen_logout_tokens_seen_at", table_name="seen_logout_tokens")
    op.drop_table("seen_logout_tokens")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index("ix_sessions_idp_sid")
        batch.drop_column("idp_sid")
    op.drop_index("uq_devices_user_fingerprint_live", table_name="devices")
    with op.batch_alter_table("devices") as batch:
        batch.create_unique_constraint("uq_devices_user_fingerprint", ["user_id", "fingerprint"])
        batch.drop_column("reported_suspicious_at")
        batch.drop_column("revoked_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("reauth_required_after")
