"""Flask extensions, created unbound and attached to the app in ``create_app``."""

import sqlite3

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base shared by every model."""


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


@event.listens_for(Engine, "connect")
def _sqlite_write_ahead_log(dbapi_connection, _record) -> None:
    """SQLite in write-ahead-log mode, synced at checkpoints rather than at every commit.

    In its default rollback-journal mode a writer keeps every reader out and each commit waits
    for the disk twice: the audit event a page writes then queued the other workers' reads
    behind it (a 503 after the lock timeout, under load). In WAL mode readers never wait for
    the writer and a commit costs no fsync; a power cut may lose the last commits, never
    corrupt the file. The mode is stored in the file; PostgreSQL connections are untouched.
    """
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
