"""Sign-ins searchable across all users, and bulk jobs to sign out what matches.

``sessions.ip_key`` keeps each sign-in's address as a sortable 16-byte key (IPv4 mapped into
IPv6, big-endian; ``portal.models.addresses``), so an address or a CIDR block is a range of
an index on both databases. Indexes answer a country and each investigation flag too (partial
indexes on the flag bits; reported devices on ``devices``), and the newest-first walk over
all sessions. Existing sessions get their key here, in batches by id.

``bulk_jobs`` and ``bulk_job_items``: a job and the fixed set of sessions it ends.

Revision ID: 0011_sign_in_search
Revises: 0010_deactivation_and_scim
Create Date: 2026-12-04 18:10:00
"""

import sqlalchemy as sa
from alembic import op

from portal.models.addresses import address_key
from portal.models.types import UTCDateTime

revision = "0011_sign_in_search"
down_revision = "0010_deactivation_and_scim"
branch_labels = None
depends_on = None

BATCH = 5000


def _backfill(bind) -> None:
    sessions = sa.table(
        "sessions",
        sa.column("id", sa.Uuid()),
        sa.column("ip_address", sa.String()),
        sa.column("ip_key", sa.LargeBinary()),
    )
    first = (
        sa.select(sessions.c.id, sessions.c.ip_address)
        .where(sessions.c.ip_address.is_not(None))
        .order_by(sessions.c.id)
        .limit(BATCH)
    )
    write = (
        sa.update(sessions)
        .where(sessions.c.id == sa.bindparam("sid"))
        .values(ip_key=sa.bindparam("key"))
    )
    rows = bind.execute(first).all()
    while rows:
        keyed = [{"sid": r.id, "key": address_key(r.ip_address)} for r in rows]
        keyed = [k for k in keyed if k["key"] is not None]
        if keyed:
            bind.execute(write, keyed)
        rows = bind.execute(first.where(sessions.c.id > rows[-1].id)).all()


def upgrade():
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("ip_key", sa.LargeBinary(16), nullable=True))
    _backfill(op.get_bind())
    op.create_index("ix_sessions_created", "sessions", ["created_at", "id"])
    op.create_index("ix_sessions_ip_key_created", "sessions", ["ip_key", "created_at", "id"])
    op.create_index(
        "ix_sessions_country_created", "sessions", ["country_code", "created_at", "id"]
    )
    for name, bit in (("new_country", 1), ("impossible_travel", 2)):
        where = sa.text(f"(sign_in_flags & {bit}) != 0")
        op.create_index(
            f"ix_sessions_{name}_created",
            "sessions",
            ["created_at", "id"],
            postgresql_where=where,
            sqlite_where=where,
        )
    reported = sa.text("reported_suspicious_at IS NOT NULL")
    op.create_index(
        "ix_devices_reported",
        "devices",
        ["reported_suspicious_at"],
        postgresql_where=reported,
        sqlite_where=reported,
    )

    op.create_table(
        "bulk_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("actor_label", sa.String(320), nullable=True),
        sa.Column("actor_ip", sa.String(45), nullable=True),
        sa.Column("via", sa.String(8), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=True),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("ended", sa.Integer(), nullable=False),
        sa.Column("cursor_user_id", sa.Uuid(), nullable=True),
        sa.Column("cursor_session_id", sa.Uuid(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_bulk_jobs_creator_key",
        "bulk_jobs",
        ["created_by_id", "idempotency_key"],
        unique=True,
    )
    op.create_index("ix_bulk_jobs_status_created", "bulk_jobs", ["status", "created_at"])
    op.create_table(
        "bulk_job_items",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["bulk_jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "user_id", "session_id"),
    )


def downgrade():
    op.drop_table("bulk_job_items")
    op.drop_index("ix_bulk_jobs_status_created", table_name="bulk_jobs")
    op.drop_index("uq_bulk_jobs_creator_key", table_name="bulk_jobs")
    op.drop_table("bulk_jobs")
    op.drop_index("ix_devices_reported", table_name="devices")
    for name in (
        "ix_sessions_impossible_travel_created",
        "ix_sessions_new_country_created",
        "ix_sessions_country_created",
        "ix_sessions_ip_key_created",
        "ix_sessions_created",
    ):
        op.drop_index(name, table_name="sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("ip_key")
