"""The schema comes only from the migrations, and they match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from portal import create_app
from portal.extensions import db
from portal.models.search import is_search_machinery


def test_migrated_database_matches_the_models(app):
    """On the suite's database (SQLite or PostgreSQL), built by `flask db upgrade`."""
    ignore_search = {"include_name": lambda name, *_: not is_search_machinery(name)}
    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts=ignore_search), db.metadata)
    assert diff == []


def test_migrations_downgrade_to_nothing_and_upgrade_again(tmp_path):
    app = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path}/m.db"})
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "devices", "sessions", "grants", "audit_events"} <= tables
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "ix_sessions_user_created" in {
            i["name"] for i in inspect(db.engine).get_indexes("sessions")
        }
