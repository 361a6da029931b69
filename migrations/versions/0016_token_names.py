"""Two open personal tokens of one user never share a name (issue 32).

``personal_tokens.ended_at`` copies its session's ``ended_at``, kept so by a trigger on
``sessions`` (every way a session ends, in one place), and a partial unique index on
``(user_id, name)`` over the tokens that have not ended refuses a second open token of a name.
Open tokens that already share a name keep the oldest's name; the later ones are renamed
"name (2)", "name (3)"... (a rename only: each still works as before).

Revision ID: 0016_token_names
Revises: 0015_scim_groups
Create Date: 2026-12-06 22:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_token_names"
down_revision = "0015_scim_groups"
branch_labels = None
depends_on = None

_SQLITE_TRIGGER = (
    "CREATE TRIGGER personal_tokens_ended AFTER UPDATE OF ended_at ON sessions "
    "WHEN new.login_method = 'bearer' AND new.ended_at IS NOT old.ended_at BEGIN "
    "UPDATE personal_tokens SET ended_at = new.ended_at WHERE session_id = new.id; END"
)
_POSTGRESQL_FUNCTION = (
    "CREATE FUNCTION personal_tokens_ended() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "UPDATE personal_tokens SET ended_at = NEW.ended_at WHERE session_id = NEW.id; "
    "RETURN NULL; END $$"
)
_POSTGRESQL_TRIGGER = (
    "CREATE TRIGGER personal_tokens_ended AFTER UPDATE OF ended_at ON sessions FOR EACH ROW "
    "WHEN (NEW.login_method = 'bearer' AND NEW.ended_at IS DISTINCT FROM OLD.ended_at) "
    "EXECUTE FUNCTION personal_tokens_ended()"
)


def _rename_duplicates() -> None:
    """Rename the later of open tokens that share a name, so the unique index can be built."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT id, user_id, name FROM personal_tokens WHERE ended_at IS NULL "
            "ORDER BY user_id, created_at, id"
        )
    ).all()
    taken: set[tuple[str, str]] = {(str(r.user_id), r.name) for r in rows}
    seen: set[tuple[str, str]] = set()
    for row in rows:
        key = (str(row.user_id), row.name)
        if key not in seen:
            seen.add(key)
            continue
        n = 2
        while (str(row.user_id), f"{row.name[:56]} ({n})") in taken:
            n += 1
        name = f"{row.name[:56]} ({n})"
        taken.add((str(row.user_id), name))
        seen.add((str(row.user_id), name))
        bind.execute(
            sa.text("UPDATE personal_tokens SET name = :name WHERE id = :id"),
            {"name": name, "id": row.id},
        )


def upgrade():
    op.add_column(
        "personal_tokens", sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE personal_tokens SET ended_at = "
        "(SELECT ended_at FROM sessions WHERE sessions.id = personal_tokens.session_id)"
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute(_SQLITE_TRIGGER)
    else:
        op.execute(_POSTGRESQL_FUNCTION)
        op.execute(_POSTGRESQL_TRIGGER)
    _rename_duplicates()
    op.create_index(
        "ux_personal_tokens_user_name_open",
        "personal_tokens",
        ["user_id", "name"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
        sqlite_where=sa.text("ended_at IS NULL"),
    )


def downgrade():
    op.drop_index("ux_personal_tokens_user_name_open", table_name="personal_tokens")
    op.execute("DROP TRIGGER IF EXISTS personal_tokens_ended" + (
        "" if op.get_bind().dialect.name == "sqlite" else " ON sessions"
    ))
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS personal_tokens_ended()")
    with op.batch_alter_table("personal_tokens") as batch:
        batch.drop_column("ended_at")
