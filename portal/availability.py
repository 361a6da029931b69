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


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be used right now (rather than a bug)."""
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


_MIGRATED = text("SELECT version_num FROM alembic_version")


@lru_cache(maxsize=1)
def migration_heads() -> frozenset[str]:
    """The revisions ``flask db upgrade`` leads to (read once: they change only with a release)."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


def not_ready() -> str | None:
    """None when the database answers and its schema is at the migrations' head; otherwise
    why not, in a few words."""
    try:
        with db.engine.connect() as connection:
            current = set(connection.execute(_MIGRATED).scalars())
    except DBAPIError as exc:
        if "alembic_version" in str(exc.orig):  # no such table: never migrated
            return "the database has not been migrated"
        log.warning("readiness: the database is unavailable: %s", exc.orig or exc)
        return "the database is unavailable"
    if current != migration_heads():
        return "the database schema is not at the migrations' head"
    return None
