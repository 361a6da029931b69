"""Each audit event records the transaction that wrote it, so the events feed can hand out an
event as soon as it is committed and never skip one committed late.

On PostgreSQL the column defaults to the writing transaction's id (``pg_current_xact_id()``,
64 bits, never wraps): ``GET /audit/events`` orders by (transaction, id) and hands out only
transactions below its snapshot's horizon, all of which have ended. On SQLite writers take the
database lock in turn, so ids already commit in order: the column stays 0. Events written
before this migration are all committed: they keep 0 and come first.

Revision ID: 0008_audit_event_transactions
Revises: 0007_sign_in_flags
Create Date: 2026-12-04 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_audit_event_transactions"
down_revision = "0007_sign_in_flags"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "audit_events",
        sa.Column("xact_id", sa.BigInteger(), nullable=False, server_default="0"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "audit_events",
            "xact_id",
            server_default=sa.text("(pg_current_xact_id()::text::bigint)"),
        )
    op.create_index("ix_audit_xact_id", "audit_events", ["xact_id", "id"])


def downgrade():
    op.drop_index("ix_audit_xact_id", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("xact_id")
