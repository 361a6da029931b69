"""The Security Event Tokens the portal received as an SSF receiver (issue 31), so a
replayed ``jti`` changes nothing and ``flask ssf subscribe`` sees its verification event.

Revision ID: 0018_ssf_received
Revises: 0016_token_names
Create Date: 2026-12-06 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_ssf_received"
down_revision = "0017_ssf_streams"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ssf_received",
        sa.Column("set_hash", sa.String(length=64), nullable=False),
        sa.Column("issuer", sa.String(length=2048), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=255), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("set_hash"),
    )
    op.create_index("ix_ssf_received_issued_at", "ssf_received", ["issued_at"])


def downgrade():
    op.drop_index("ix_ssf_received_issued_at", table_name="ssf_received")
    op.drop_table("ssf_received")
