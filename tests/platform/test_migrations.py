"""The schema comes only from the migrations, and they match the models exactly."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError

from portal import create_app
from portal.extensions import db
from portal.models import utcnow
from portal.models.search import SQLITE_TABLE, TRGM_INDEXES, is_search_machinery
from portal.models.types import UTCDateTime


def test_migrated_database_matches_the_models(app):
    """On the suite's database (SQLite or PostgreSQL), built by `flask db upgrade`."""
    ignore_search = {"include_name": lambda name, *_: not is_search_machinery(name)}
    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts=ignore_search), db.metadata)
    assert diff == []


def _search_machinery(engine) -> set[str]:
    """The user search's tables (SQLite) and indexes (PostgreSQL) present in the database."""
    found = inspect(engine)
    names = set(found.get_table_names())
    if "users" in names:
        names |= {i["name"] for i in found.get_indexes("users")}
    return {name for name in names if is_search_machinery(name)}


def test_migrations_downgrade_to_nothing_and_upgrade_again(fresh_database_url):
    """On the database under test: each dialect's own branches (the user search's trigram
    indexes on PostgreSQL, its FTS5 table on SQLite) are undone and made again."""
    app = create_app({"ENV": "testing", "DATABASE_URL": fresh_database_url})
    # SQLite's FTS5 table comes with shadow tables of its name; PostgreSQL's are indexes.
    made_by_0005 = {SQLITE_TABLE} if fresh_database_url.startswith("sqlite") else set(TRGM_INDEXES)
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"users", "devices", "sessions", "grants", "audit_events"} <= tables
        search = _search_machinery(db.engine)
        assert made_by_0005 <= search
        downgrade(revision="0004_sessions_ended")  # the search's own downgrade, alone
        assert _search_machinery(db.engine) == set()
        upgrade()
        assert _search_machinery(db.engine) == search
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert "ix_sessions_user_created" in {
            i["name"] for i in inspect(db.engine).get_indexes("sessions")
        }
        assert _search_machinery(db.engine) == search
        db.engine.dispose()


# The tables as every revision since the first has them, typed, so each dialect gets its own
# values (a UUID, a boolean, a time) from the same rows.
_USERS = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("issuer", sa.String()),
    sa.column("subject", sa.String()),
    sa.column("groups", sa.JSON()),
    sa.column("created_at", UTCDateTime()),
)
_DEVICES = sa.table(
    "devices",
    sa.column("id", sa.Uuid()),
    sa.column("user_id", sa.Uuid()),
    sa.column("fingerprint", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("name", sa.String()),
    sa.column("device_type", sa.String()),
    sa.column("first_seen_at", UTCDateTime()),
    sa.column("last_seen_at", UTCDateTime()),
    sa.column("is_trusted", sa.Boolean()),
    sa.column("trust_level", sa.String()),
)
_SESSIONS = sa.table(
    "sessions",
    sa.column("id", sa.Uuid()),
    sa.column("user_id", sa.Uuid()),
    sa.column("device_id", sa.Uuid()),
    sa.column("login_method", sa.String()),
    sa.column("created_at", UTCDateTime()),
    sa.column("last_used_at", UTCDateTime()),
    sa.column("expires_at", UTCDateTime()),
    sa.column("absolute_expires_at", UTCDateTime()),
    sa.column("country_code", sa.String()),
    sa.column("city", sa.String()),
    sa.column("latitude", sa.Float()),
    sa.column("longitude", sa.Float()),
)


def _session_row(session, user, device, at, **place) -> dict:
    """A session with only the columns every revision since the first requires."""
    return {
        "id": session,
        "user_id": user,
        "device_id": device,
        "login_method": "oidc",
        "created_at": at,
        "last_used_at": at,
        "expires_at": at,
        "absolute_expires_at": at,
        **place,
    }


def _insert_user_and_device(conn, user, device, now) -> None:
    """A user with one browser, in the columns every revision since the first has."""
    conn.execute(
        _USERS.insert().values(id=user, issuer="i", subject="s", groups=[], created_at=now)
    )
    conn.execute(
        _DEVICES.insert().values(
            id=device,
            user_id=user,
            fingerprint="f",
            kind="browser",
            name="",
            device_type="DESKTOP",
            first_seen_at=now,
            last_seen_at=now,
            is_trusted=False,
            trust_level="UNKNOWN",
        )
    )


def test_the_sign_in_flags_migration_flags_the_last_30_days_of_history(fresh_database_url):
    """Sessions opened before the flags were stored get them from the same rule."""
    from datetime import timedelta

    app = create_app({"ENV": "testing", "DATABASE_URL": fresh_database_url})
    now = utcnow().replace(microsecond=0)
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
                place = {"country_code": code, "city": city, "latitude": lat, "longitude": lon}
                at = now - timedelta(days=days)
                conn.execute(
                    _SESSIONS.insert().values(_session_row(uuid.uuid4(), user, device, at, **place))
                )
        upgrade()
        with db.engine.connect() as conn:
            flags = (
                conn.execute(sa.text("SELECT sign_in_flags FROM sessions ORDER BY created_at"))
                .scalars()
                .all()
            )
        db.engine.dispose()
    assert flags == [0, 0, 0, 3, 0]


def _columns(engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_a_migration_that_fails_half_way_changes_nothing(fresh_database_url):
    """On the database under test, the migrations run in one transaction: when the last one
    fails (an index of its name is there already), the one before it is undone too, schema
    and recorded version alike (PostgreSQL's branch of migrations/env.py, and SQLite's)."""
    app = create_app({"ENV": "testing", "DATABASE_URL": fresh_database_url})
    with app.app_context():
        upgrade(revision="0006_personal_tokens")
        with db.engine.begin() as conn:
            conn.execute(sa.text("CREATE INDEX ix_audit_xact_id ON audit_events (id)"))
        # Alembic's own command, not Flask-Migrate's wrapper (which logs the error and exits).
        config = app.extensions["migrate"].migrate.get_config()
        with pytest.raises(DBAPIError, match="ix_audit_xact_id"):
            alembic_command.upgrade(config, "head")
        with db.engine.connect() as conn:
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
        sessions = _columns(db.engine, "sessions")
        audit_events = _columns(db.engine, "audit_events")
        db.engine.dispose()
    assert version == "0006_personal_tokens"
    assert "sign_in_flags" not in sessions  # 0007, which had succeeded, undone
    assert "xact_id" not in audit_events  # 0008's first step, undone


def _upgrade_a_used_database(url: str) -> list[int]:
    """Upgrade from 0002 a database holding a user, a browser and a session; count them after."""
    app = create_app({"ENV": "testing", "DATABASE_URL": url})
    now = utcnow().replace(microsecond=0)
    user, device, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with app.app_context():
        upgrade(revision="0002_sessions_user_created")
        with db.engine.begin() as conn:
            _insert_user_and_device(conn, user, device, now)
            conn.execute(_SESSIONS.insert().values(_session_row(session, user, device, now)))
        upgrade()
        with db.engine.connect() as conn:
            counts = [
                conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("users", "devices", "sessions")
            ]
        db.engine.dispose()
    return counts


def test_upgrading_a_used_database_keeps_every_row(fresh_database_url):
    assert _upgrade_a_used_database(fresh_database_url) == [1, 1, 1]


def test_upgrading_a_used_sqlite_database_keeps_every_row_and_key_enforcement(tmp_path):
    """SQLite enforces foreign keys, and some migrations rebuild a table (copy, drop, rename):
    dropping ``devices`` with enforcement on would delete every session by cascade. The
    migrations run with enforcement off and check the keys before they commit; the pooled
    connection gets its enforcement back."""
    url = f"sqlite:///{tmp_path}/u.db"
    assert _upgrade_a_used_database(url) == [1, 1, 1]
    app = create_app({"ENV": "testing", "DATABASE_URL": url})
    with app.app_context(), db.engine.connect() as conn:
        enforced = conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
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


# A session with only the columns every revision since the first requires, for the sqlite3
# driver's plain connection.
_SESSION_ROW = (
    "INSERT INTO sessions (id, user_id, device_id, login_method, created_at, last_used_at, "
    "expires_at, absolute_expires_at) VALUES (:id, :u, :d, 'oidc', :t, :t, :t, :t)"
)


def test_on_sqlite_a_migration_that_leaves_broken_references_stops_the_upgrade(tmp_path):
    """SQLite only: PostgreSQL enforces the keys while the migrations run. With enforcement off,
    the migrations check the keys themselves (SQLite's procedure for a table rebuild) and,
    naming the rows, undo everything they did."""
    import sqlite3

    from sqlalchemy import text

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


def test_every_revision_id_fits_the_version_table():
    """Alembic's ``alembic_version.version_num`` is VARCHAR(32): on PostgreSQL a longer id
    fails the upgrade that writes it (SQLite keeps any length, so only one suite would see)."""
    from pathlib import Path

    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(Path(__file__).resolve().parents[2] / "migrations"))
    too_long = [s.revision for s in scripts.walk_revisions() if len(s.revision) > 32]
    assert too_long == []


_TOKEN_SESSIONS = sa.table(
    "sessions",
    sa.column("id", sa.Uuid()),
    sa.column("ended_at", UTCDateTime()),
    sa.column("end_reason", sa.String()),
)
_TOKENS = sa.table(
    "personal_tokens",
    sa.column("id", sa.Uuid()),
    sa.column("user_id", sa.Uuid()),
    sa.column("session_id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("secret_hash", sa.String()),
    sa.column("hint", sa.String()),
    sa.column("scopes", sa.JSON()),
    sa.column("created_at", UTCDateTime()),
    sa.column("expires_at", UTCDateTime()),
    sa.column("seen_addresses", sa.JSON()),
)


def test_the_token_names_migration_renames_open_duplicates_and_the_trigger_copies_ends(
    fresh_database_url,
):
    """0016: open tokens of one user that share a name keep the oldest's, the later ones
    become "name (2)"...; an ended token keeps its name; and from then on the trigger copies a
    session's end onto its token (issue 32, item 5)."""
    from datetime import timedelta

    app = create_app({"ENV": "testing", "DATABASE_URL": fresh_database_url})
    now = utcnow().replace(microsecond=0)
    user, device = uuid.uuid4(), uuid.uuid4()
    tokens = [(uuid.uuid4(), uuid.uuid4(), ended) for ended in (None, None, now, None)]
    with app.app_context():
        upgrade(revision="0015_scim_groups")
        with db.engine.begin() as conn:
            _insert_user_and_device(conn, user, device, now)
            for i, (token, session, ended) in enumerate(tokens):
                at = now - timedelta(hours=10 - i)
                row = _session_row(session, user, device, at)
                conn.execute(_SESSIONS.insert().values({**row, "login_method": "bearer"}))
                if ended is not None:
                    conn.execute(
                        _TOKEN_SESSIONS.update()
                        .where(_TOKEN_SESSIONS.c.id == session)
                        .values(ended_at=ended, end_reason="revoked")
                    )
                conn.execute(
                    _TOKENS.insert().values(
                        id=token,
                        user_id=user,
                        session_id=session,
                        name="job",
                        secret_hash=f"{i:064d}",
                        hint="dpt_",
                        scopes=[],
                        created_at=at,
                        expires_at=at,
                        seen_addresses=[],
                    )
                )
        upgrade()
        with db.engine.begin() as conn:
            names = conn.execute(
                sa.select(_TOKENS.c.name, sa.column("ended_at").is_(None))
                .select_from(_TOKENS)
                .order_by(_TOKENS.c.created_at)
            ).all()
            conn.execute(_TOKEN_SESSIONS.update().values(ended_at=now, end_reason="revoked"))
            still_open = conn.execute(
                sa.text("SELECT count(*) FROM personal_tokens WHERE ended_at IS NULL")
            ).scalar_one()
        db.engine.dispose()
    assert [tuple(r) for r in names] == [
        ("job", True),
        ("job (2)", True),
        ("job", False),
        ("job (3)", True),
    ]
    assert still_open == 0
