"""Whether the database is there: what an outage looks like, and readiness for load balancers.

An outage is an error of the connection, not of the request: a locked database past
``PORTAL_DATABASE_LOCK_TIMEOUT``, a statement past ``PORTAL_DATABASE_STATEMENT_TIMEOUT``, a
server that is stopped or unreachable, a pool with no connection to spare. Pages answer it with
a 503 page that reads nothing from the database, JSON routes with a 503 in their shape and
``Retry-After``; the next request tries the database again.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .extensions import db

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
# What a 503 asks clients to wait before they try again, in seconds.
RETRY_AFTER_SECONDS = 5


# SQLite's primary result codes (the low byte of an extended code) that mean "not now": busy
# or locked past the timeout, out of memory or disk, an I/O error, a file that cannot be opened.
_SQLITE_TEMPORARY = frozenset({5, 6, 7, 9, 10, 13, 14, 15})
# PostgreSQL SQLSTATE classes that mean "not now": the connection (08), the server's resources
# (53), an operator or a timeout cancelling the statement (57), the system (58), a serialisation
# failure or deadlock (40); and a lock not available (55P03, lock_timeout).
_POSTGRES_TEMPORARY_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_POSTGRES_TEMPORARY = frozenset({"55P03"})


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be used right now (try again: 503), rather
    than that the request or the schema is wrong (a missing table or column, a constraint the
    code did not expect: a 500, which no retry mends)."""
    if isinstance(error, PoolTimeout):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    code = getattr(error.orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_TEMPORARY
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate:
        return sqlstate[:2] in _POSTGRES_TEMPORARY_CLASSES or sqlstate in _POSTGRES_TEMPORARY
    return True  # no code at all: the driver lost or never had its connection


_MIGRATED = text("SELECT version_num FROM alembic_version")


@lru_cache(maxsize=1)
def migration_heads() -> frozenset[str]:
    """The revisions ``flask db upgrade`` leads to (read once: they change only with a release)."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


def not_ready() -> str | None:
    """None when the database answers and its schema is at the migrations' head; otherwise
    why not, in a few words that name what is wrong (the revision, the missing tables)."""
    try:
        with db.engine.connect() as connection:
            current = set(connection.execute(_MIGRATED).scalars())
            missing = _missing_tables(connection)
    except DBAPIError as exc:
        if "alembic_version" in str(exc.orig):  # no such table: never migrated
            return "the database has not been migrated"
        log.warning("readiness: the database is unavailable: %s", exc.orig or exc)
        return "the database is unavailable"
    heads = migration_heads()
    if current != heads:
        return (
            "the database schema is not at the migrations' head: at "
            f"{', '.join(sorted(current)) or 'no revision'}, head {', '.join(sorted(heads))}"
        )
    if missing:
        return f"the database schema lacks {', '.join(missing)}"
    return None


# Every table's columns, from the catalog alone: SQLAlchemy's inspector asks PostgreSQL for
# things (defaults, types) that wait on a table lock, and a probe must not wait.
_COLUMNS = {
    "postgresql": text(
        "SELECT c.relname, a.attname FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid "
        "WHERE c.relnamespace = to_regnamespace(current_schema())::oid "
        "AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"
    ),
    "sqlite": text(
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p "
        "WHERE m.type = 'table'"
    ),
}


def _missing_tables(connection) -> list[str]:
    """The models' tables and columns the database does not have (a half-applied deployment,
    or a table dropped by hand), as ``table name`` or ``column table.name``."""
    present: dict[str, set[str]] = {}
    for table, column in connection.execute(_COLUMNS[connection.dialect.name]):
        present.setdefault(table, set()).add(column)
    missing = []
    for name, table in sorted(db.metadata.tables.items()):
        if name not in present:
            missing.append(f"table {name}")
            continue
        missing += [f"column {name}.{c.name}" for c in table.columns if c.name not in present[name]]
    return missing
