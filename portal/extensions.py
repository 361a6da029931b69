"""Flask extensions, created unbound and attached to the app in ``create_app``."""

import sqlite3
import time
from typing import TYPE_CHECKING

from flask_login import LoginManager
from flask_mailman import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base shared by every model."""


db = SQLAlchemy(model_class=Base)

if TYPE_CHECKING:
    from typing import ClassVar

    from flask_sqlalchemy.model import Model as _FlaskModel
    from sqlalchemy import Table

    class Model(_FlaskModel, Base):
        """``db.Model`` as the type checker sees it: at run time flask-sqlalchemy makes that
        class from ``Base`` (its mixins first), and to a checker ``db.Model`` is only a value.
        Every model maps one table (``__tablename__``), which Core statements use."""

        __abstract__ = True
        __table__: ClassVar[Table]

else:
    Model = db.Model  # the base class of every model
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
mail = Mail()  # sign-in alerts; only the worker sends (portal.alerts.mail)


# SQLite's page cache per connection, in KiB (a negative cache_size is KiB, not pages).
SQLITE_CACHE_KIB = 65536


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite in write-ahead-log mode, synced at checkpoints rather than at every commit, with
    a page cache sized for a database of a hundred thousand users.

    In its default rollback-journal mode a writer keeps every reader out and each commit waits
    for the disk twice: the audit event a page writes then queued the other workers' reads
    behind it (a 503 after the lock timeout, under load). In WAL mode readers never wait for
    the writer and a commit costs no fsync; a power cut may lose the last commits, never
    corrupt the file. The mode is stored in the file.

    SQLite's default cache is 2 MiB a connection: on a database of a hundred thousand users
    every request read its index and table pages again from the operating system, one system
    call a page (what the cache saves: docs/performance.md). The cache fills only as pages
    are read, and a pooled connection keeps it between requests.

    Foreign keys are enforced, as PostgreSQL enforces them (SQLite's default is off): a row
    naming a missing parent is refused, and deleting a parent takes its cascades along. The
    migrations turn enforcement off while they run (``migrations/env.py``). PostgreSQL
    connections are untouched.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


# A pooled PostgreSQL connection idle for longer than this is pinged before it is used.
PING_AFTER_IDLE_SECONDS = 0.1


@event.listens_for(Engine, "checkin")
def _note_idle_since(_dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


@event.listens_for(Engine, "checkout")
def _ping_after_idle(dbapi_connection, record, _proxy) -> None:
    """A connection that waited in the pool is pinged before use, so one that died with a
    restarted server is replaced and no request fails (SQLAlchemy's "pessimistic" disconnect
    handling, with a custom ping).

    ``pool_pre_ping`` pings on every checkout: one more round trip on every request (besides
    BEGIN, the statements and COMMIT). Under load a worker's connection comes back within
    milliseconds and is not pinged; one idle long enough for the server to have restarted in
    between is. SQLite connections are files: never pinged.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        return
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return  # new (just connected) or reused at once
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()  # idle again: the ping's transaction must not be the caller's
    except Exception as error:  # the driver's own error: the connection is gone
        raise exc.DisconnectionError(str(error)) from error
