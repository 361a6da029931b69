"""Store each sign-in's investigation flags on its session, for the users list.

The list showed how many of each listed user's sign-ins of the last 30 days raised "new
country" or "impossible travel" by replaying the users' histories on every look, work that grew
with each listed user's history. The flags are now computed once, when a session opens, and
kept in ``sessions.sign_in_flags`` (one bit each). Sessions opened in the last 30 days get
their flags here, computed by the same rule from the history before them; older ones keep 0, as
the list looks back 30 days only (the user page still computes its flags, with their reasons,
from the whole history).

Revision ID: 0007_sign_in_flags
Revises: 0006_personal_tokens
Create Date: 2026-12-01 21:30:00
"""

from datetime import UTC, datetime
from itertools import groupby

import sqlalchemy as sa
from alembic import op

from portal.models.types import UTCDateTime
from portal.services.devices.flags import NEW_COUNTRY_LOOKBACK, flag_bits, sign_in_findings

revision = "0007_sign_in_flags"
down_revision = "0006_personal_tokens"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade():
    op.add_column(
        "sessions",
        sa.Column("sign_in_flags", sa.SmallInteger(), nullable=False, server_default="0"),
    )
    bind = op.get_bind()
    sessions = sa.table(
        "sessions",
        sa.column("id", sa.Uuid()),
        sa.column("user_id", sa.Uuid()),
        sa.column("created_at", UTCDateTime()),
        sa.column("country_code", sa.String()),
        sa.column("city", sa.String()),
        sa.column("latitude", sa.Float()),
        sa.column("longitude", sa.Float()),
        sa.column("sign_in_flags", sa.SmallInteger()),
    )
    store_from = datetime.now(UTC) - NEW_COUNTRY_LOOKBACK
    rows = bind.execute(
        sa.select(
            sessions.c.id,
            sessions.c.user_id,
            sessions.c.created_at,
            sessions.c.country_code,
            sessions.c.city,
            sessions.c.latitude,
            sessions.c.longitude,
        )
        .where(sessions.c.created_at >= store_from - NEW_COUNTRY_LOOKBACK)
        .order_by(sessions.c.user_id, sessions.c.created_at)
        .execution_options(yield_per=BATCH)  # this statement's rows only, streamed
    )
    update = (
        sa.update(sessions)
        .where(sessions.c.id == sa.bindparam("sid"))
        .values(sign_in_flags=sa.bindparam("bits"))
    )
    flagged = []  # written once the read is done, not under its open cursor
    for _, group in groupby(rows, key=lambda r: r.user_id):
        history = list(group)
        found = sign_in_findings(history)
        flagged.extend(
            {"sid": s.id, "bits": flag_bits(found[s.id])}
            for s in history
            if s.id in found and s.created_at >= store_from  # older ones were only history
        )
    for start in range(0, len(flagged), BATCH):
        bind.execute(update, flagged[start : start + BATCH])


def downgrade():
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("sign_in_flags")
