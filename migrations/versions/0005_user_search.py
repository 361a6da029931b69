"""Substring search over users by index: pg_trgm on PostgreSQL, an FTS5 trigram table on SQLite.

See portal/models/search.py. On PostgreSQL, ``CREATE EXTENSION pg_trgm`` needs a role allowed to
create it (a superuser, or the database owner where the extension is trusted, as it is since
PostgreSQL 13).

Revision ID: 0005_user_search
Revises: 0004_sessions_ended
Create Date: 2026-11-25 23:00:00
"""

from alembic import op

revision = "0005_user_search"
down_revision = "0004_sessions_ended"
branch_labels = None
depends_on = None

COLUMNS = ("email", "name", "subject")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in COLUMNS:
            op.execute(
                f"CREATE INDEX ix_users_{column}_trgm ON users USING gin ({column} gin_trgm_ops)"
            )
        return
    op.execute(
        "CREATE VIRTUAL TABLE users_search USING fts5("
        "user_id UNINDEXED, email, name, subject, tokenize='trigram')"
    )
    op.execute(
        "INSERT INTO users_search (user_id, email, name, subject) "
        "SELECT id, email, name, subject FROM users"
    )
    op.execute(
        "CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN "
        "INSERT INTO users_search (user_id, email, name, subject) "
        "VALUES (new.id, new.email, new.name, new.subject); END"
    )
    op.execute(
        "CREATE TRIGGER users_search_update AFTER UPDATE OF email, name, subject ON users BEGIN "
        "DELETE FROM users_search WHERE user_id = old.id; "
        "INSERT INTO users_search (user_id, email, name, subject) "
        "VALUES (new.id, new.email, new.name, new.subject); END"
    )
    op.execute(
        "CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN "
        "DELETE FROM users_search WHERE user_id = old.id; END"
    )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for column in COLUMNS:
            op.execute(f"DROP INDEX IF EXISTS ix_users_{column}_trgm")
        return
    for trigger in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS users_search_{trigger}")
    op.execute("DROP TABLE IF EXISTS users_search")
