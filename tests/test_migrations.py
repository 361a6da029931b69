"""The schema comes only from the migrations, and they match the models exactly."""

from __future__ import annotations

from alembic import command as alembic_command
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


# A session with only the columns every revision since the first requires (named parameters,
# which SQLAlchemy's text() and the sqlite3 driver both take).
_SESSION_ROW = (
    "INSERT INTO sessions (id, user_id, device_id, login_method, created_at, last_used_at, "
    "expires_at, absolute_expires_at) VALUES (:id, :u, :d, 'oidc', :t, :t, :t, :t)"
)


def _insert_user_and_device(conn, user, device, now) -> None:
    """A user with one browser, in the columns every revision since the first has."""
    from sqlalchemy import text

    conn.execute(
        text(
            "INSERT INTO users (id, issuer, subject, groups, created_at) "
            "VALUES (:id, 'i', 's', '[]', :t)"
        ),
        {"id": user.hex, "t": now},
    )
    conn.execute(
        text(
            "INSERT INTO devices (id, user_id, fingerprint, kind, name, device_type, "
            "first_seen_at, last_seen_at, is_trusted, trust_level) VALUES (:id, :u, 'f', "
            "'browser', '', 'DESKTOP', :t, :t, 0, 'UNKNOWN')"
        ),
        {"id": device.hex, "u": user.hex, "t": now},
    )


def test_the_sign_in_flags_migration_flags_the_last_30_days_of_history(tmp_path):
    """Sessions opened before the flags were stored get them from the same rule."""
    import uuid
    from datetime import timedelta

    from sqlalchemy import text

    from portal.models import utcnow

    app = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path}/f.db"})
    now = utcnow().replace(tzinfo=None, microsecond=0)
    user, device = uuid.uuid4(), uuid.uuid4()
    places = [  # (days ago, country, city, latitude, longitude)
        (55, "GB", "London", 51.5, -0.1),
        (54.99, "CN", "Changchun", 43.9, 125.3),  # flagged, but older than 30 days
        (20, "GB", "London", 51.5, -0.1),
        (19.99, "CN", "Changchun", 43.9, 125.3),  # new country and impossible travel
        (5, "CN", "Changchun", 43.9, 125.3),
    ]
    with app.app_context():
        upgrade(revision="0005_user_search")
        with db.engine.begin() as conn:
            _insert_user_and_device(conn, user, device, now)
            for days, code, city, lat, lon in places:
                at = now - timedelta(days=days)
                conn.execute(
                    text(
                        "INSERT INTO sessions (id, user_id, device_id, login_method, created_at, "
                        "last_used_at, expires_at, absolute_expires_at, country_code, city, "
                        "latitude, longitude) VALUES (:id, :u, :d, 'oidc', :t, :t, :t, :t, :c, "
                        ":city, :lat, :lon)"
                    ),
                    {
                        "id": uuid.uuid4().hex,
                        "u": user.hex,
                        "d": device.hex,
                        "t": at,
                        "c": code,
                        "city": city,
                        "lat": lat,
                        "lon": lon,
                    },
                )
        upgrade()
        with db.engine.connect() as conn:
            flags = (
                conn.execute(text("SELECT sign_in_flags FROM sessions ORDER BY created_at"))
                .scalars()
                .all()
            )
    assert flags == [0, 0, 0, 3, 0]


def test_upgrading_a_used_sqlite_database_keeps_every_row(tmp_path):
    """SQLite enforces foreign keys, and some migrations rebuild a table (copy, drop, rename):
    dropping ``devices`` with enforcement on would delete every session by cascade. The
    migrations run with enforcement off and check the keys before they commit."""
    import uuid

    from sqlalchemy import text

    from portal.models import utcnow

    app = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path}/u.db"})
    now = utcnow().replace(tzinfo=None, microsecond=0)
    user, device, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with app.app_context():
        upgrade(revision="0002_sessions_user_created")
        with db.engine.begin() as conn:
            _insert_user_and_device(conn, user, device, now)
            conn.execute(
                text(_SESSION_ROW), {"id": session.hex, "u": user.hex, "d": device.hex, "t": now}
            )
        upgrade()
        with db.engine.connect() as conn:
            counts = [
                conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("users", "devices", "sessions")
            ]
            enforced = conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
    assert counts == [1, 1, 1]
    assert enforced == 1, "the pooled connection got its enforcement back"


def test_a_row_that_names_a_missing_parent_is_refused(app):
    """On SQLite as on PostgreSQL: a session of a device that does not exist is never stored."""
    import uuid

    import pytest
    from sqlalchemy.exc import IntegrityError

    from portal.models import UserSession, utcnow

    now = utcnow()
    orphan = UserSession.__table__.insert().values(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        device_id=uuid.uuid4(),
        login_method="oidc",
        created_at=now,
        last_used_at=now,
        expires_at=now,
        absolute_expires_at=now,
    )
    with app.app_context(), db.engine.connect() as conn, pytest.raises(IntegrityError):
        conn.execute(orphan)


def test_a_migration_that_leaves_broken_references_stops_the_upgrade(tmp_path):
    """With enforcement off while they run, the migrations check the keys themselves (SQLite's
    procedure for a table rebuild) and, naming the rows, undo everything they did."""
    import sqlite3
    import uuid

    import pytest
    from sqlalchemy import text

    from portal.models import utcnow

    path = tmp_path / "b.db"
    app = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{path}"})
    now = utcnow().replace(tzinfo=None, microsecond=0).isoformat(" ")
    with app.app_context():
        upgrade(revision="0006_personal_tokens")
        db.engine.dispose()
        raw = sqlite3.connect(path)  # a plain connection: SQLite's default, no enforcement
        with raw:
            orphan = {
                "id": uuid.uuid4().hex,
                "u": uuid.uuid4().hex,
                "d": uuid.uuid4().hex,
                "t": now,
            }
            raw.execute(_SESSION_ROW, orphan)
        raw.close()
        # Alembic's own command, not Flask-Migrate's wrapper (which logs the error and exits).
        config = app.extensions["migrate"].migrate.get_config()
        with pytest.raises(RuntimeError, match=r"missing parents: \[\('sessions'"):
            alembic_command.upgrade(config, "head")
        with db.engine.connect() as conn:
            enforced = conn.execute(text("PRAGMA foreign_keys")).scalar_one()
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            columns = [row[1] for row in conn.execute(text("PRAGMA table_info(sessions)"))]
    # Undone whole: 0007's new column went with its recorded version.
    assert version == "0006_personal_tokens"
    assert "sign_in_flags" not in columns
    assert enforced == 1
