"""The user search's triggers find a user's old entry by the search index, not by a scan.

The FTS5 table's ``user_id`` column is UNINDEXED, so ``DELETE ... WHERE user_id = old.id``
(0005, 0010) read every entry: each change of a user's email, name or subject, and each
deleted user, cost a pass over the whole table, growing with it (docs/performance.md).
The old entry holds the old values, so a phrase query of the longest of them (three
characters or more) finds it among the few entries that contain it; a user with no value
that long (rare: an FTS5 trigram query needs three) is still found by the scan.

SQLite only: PostgreSQL's trigram indexes are on the users table itself.

Revision ID: 0013_user_search_deletes
Revises: 0012_device_set_version
Create Date: 2026-12-05 22:00:00
"""

from alembic import op

revision = "0013_user_search_deletes"
down_revision = "0012_device_set_version"
branch_labels = None
depends_on = None

# The longest of the old email, subject and name of three characters or more, as a quoted
# FTS5 phrase ('""' when there is none, which matches nothing).
_OLD_PHRASE = (
    "'\"' || replace(coalesce((SELECT v FROM (SELECT old.email AS v UNION ALL "
    "SELECT old.subject UNION ALL SELECT old.name) WHERE length(v) >= 3 "
    "ORDER BY length(v) DESC LIMIT 1), ''), '\"', '\"\"') || '\"'"
)
_DELETE_OLD = (
    "DELETE FROM users_search WHERE rowid IN (SELECT rowid FROM users_search "
    f"WHERE users_search MATCH {_OLD_PHRASE}) AND user_id = old.id; "
    "DELETE FROM users_search WHERE coalesce(length(old.email), 0) < 3 "
    "AND coalesce(length(old.subject), 0) < 3 AND coalesce(length(old.name), 0) < 3 "
    "AND user_id = old.id; "
)
_INSERT_NEW = (
    "INSERT INTO users_search (user_id, email, name, subject) "
    "VALUES (new.id, new.email, new.name, new.subject); "
)
TRIGGERS = (
    "CREATE TRIGGER users_search_update AFTER UPDATE OF email, name, subject ON users BEGIN "
    f"{_DELETE_OLD}{_INSERT_NEW}END",
    f"CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN {_DELETE_OLD}END",
)
SCANNING_TRIGGERS = (
    "CREATE TRIGGER users_search_update AFTER UPDATE OF email, name, subject ON users BEGIN "
    f"DELETE FROM users_search WHERE user_id = old.id; {_INSERT_NEW}END",
    "CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN "
    "DELETE FROM users_search WHERE user_id = old.id; END",
)


def _replace(triggers):
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS users_search_{name}")
    for statement in triggers:
        op.execute(statement)


def upgrade():
    _replace(TRIGGERS)


def downgrade():
    _replace(SCANNING_TRIGGERS)
