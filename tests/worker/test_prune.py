"""``flask --app wsgi portal prune``: expired sessions end, old history goes, audit log stays."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import create_engine, event, func, select, text
from support.admin_helpers import make_user

from portal import create_app
from portal.config import ConfigError
from portal.extensions import db
from portal.models import AuditEvent, Device, EndReason, LoginMethod, User, UserSession, utcnow
from portal.services.sessions import opening, policy

# The app's own session rules: 8 h lifetime, 2 h idle timeout for browsers.
IDLE = timedelta(hours=2)
LIFETIME = timedelta(hours=8)


@pytest.fixture
def app_config(app_config):
    return {
        **app_config,
        "SESSION_LIFETIME": int(LIFETIME.total_seconds()),
        "SESSION_IDLE_TIMEOUT": int(IDLE.total_seconds()),
        "HISTORY_DAYS": 180,
    }


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _session(
    user: User,
    *,
    created: datetime,
    last_used: datetime | None = None,
    expires: datetime | None = None,
    ended: datetime | None = None,
    reason: EndReason = EndReason.SIGNED_OUT,
    method: LoginMethod = LoginMethod.OIDC,
    secret: str | None = None,
) -> tuple[uuid.UUID, str]:
    """A session opened at ``created`` through the real sign-in path, then aged as told."""
    session, secret = opening.record_sign_in(
        user,
        device_secret=secret,
        client=opening.ClientInfo(ip_address="81.2.69.142", user_agent=None),
        policy=policy.SessionPolicy(LIFETIME, IDLE, LIFETIME),
        geoip_database=None,
        now=created,
    )
    session.login_method = method.value
    session.last_used_at = last_used or created
    session.expires_at = expires or created + LIFETIME
    if ended is not None:
        session.ended_at, session.end_reason = ended, reason.value
    db.session.flush()
    return session.id, secret


def _rows(app) -> dict[uuid.UUID, UserSession]:
    with app.app_context():
        found = db.session.execute(select(UserSession)).scalars().all()
        db.session.expunge_all()
        return {s.id: s for s in found}


def _count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_prune_ends_sessions_that_ran_out_and_deletes_history_past_the_policy(app, runner):
    now = utcnow()
    with app.app_context():
        carol = make_user("carol")
        fresh, secret = _session(carol, created=now - timedelta(minutes=5))
        # A browser idle for 3 hours: ran out 1 hour ago, when its idle timeout passed.
        idle, _ = _session(carol, created=now - timedelta(hours=3), secret=secret)
        # A token past its expiry; tokens have no idle timeout.
        token_over, _ = _session(
            carol,
            created=now - timedelta(hours=6),
            expires=now - timedelta(hours=1),
            method=LoginMethod.BEARER,
        )
        token_quiet, _ = _session(
            carol,
            created=now - timedelta(hours=5),
            expires=now + timedelta(hours=1),
            method=LoginMethod.BEARER,
        )
        recent, _ = _session(
            carol, created=now - timedelta(days=10), ended=now - timedelta(days=10), secret=secret
        )
        old, _ = _session(
            carol,
            created=now - timedelta(days=200),
            ended=now - timedelta(days=200),
            reason=EndReason.REVOKED,
            secret=secret,
        )
        # Never seen again after it ran out, 300 days ago: ends then, and is past the policy.
        forgotten, _ = _session(carol, created=now - timedelta(days=300), secret=secret)
        db.session.add(AuditEvent(action="revoke_session", session_id=old, detail={}))
        db.session.commit()
        carol_id = carol.id
    devices = _count(app, Device)

    result = runner.invoke(args=["portal", "prune"])

    assert result.exit_code == 0, result.output
    assert "ended 3 expired sessions" in result.output
    assert "deleted 2 sessions that ended before" in result.output
    assert "PORTAL_HISTORY_DAYS=180" in result.output
    rows = _rows(app)
    assert set(rows) == {fresh, idle, token_over, token_quiet, recent}
    assert rows[fresh].ended_at is None and rows[token_quiet].ended_at is None
    for over in (idle, token_over):
        assert rows[over].end_reason == EndReason.EXPIRED.value
        assert rows[over].ended_by_id is None
    # Each ended when it ran out, not when the prune ran.
    assert abs(rows[idle].ended_at - (now - timedelta(hours=1))) < timedelta(seconds=1)
    assert abs(rows[token_over].ended_at - (now - timedelta(hours=1))) < timedelta(seconds=1)
    assert rows[recent].end_reason == EndReason.SIGNED_OUT.value
    # The audit log keeps its record of a deleted session, and the device stays.
    with app.app_context():
        kept = db.session.execute(select(AuditEvent.session_id)).scalars().all()
        assert kept == [old]
        assert _count(app, Device) == devices  # the browser of the deleted ones too
        # Expiry asks nobody to sign in again.
        assert db.session.get(User, carol_id).reauth_required_after is None
    assert forgotten not in rows


def test_prune_twice_changes_nothing_the_second_time(app, runner):
    now = utcnow()
    with app.app_context():
        carol = make_user("carol")
        _session(carol, created=now - timedelta(days=1))
        _session(carol, created=now - timedelta(days=400), ended=now - timedelta(days=400))
        db.session.commit()
    first = runner.invoke(args=["portal", "prune"])
    assert "ended 1 expired sessions" in first.output and "deleted 1 sessions" in first.output
    again = runner.invoke(args=["portal", "prune"])
    assert again.exit_code == 0, again.output
    assert "ended 0 expired sessions" in again.output and "deleted 0 sessions" in again.output
    assert _count(app, UserSession) == 1


def test_prune_works_in_batches_each_its_own_transaction(app, runner):
    now = utcnow()
    with app.app_context():
        carol = make_user("carol")
        for n in range(5):
            _session(carol, created=now - timedelta(days=1, minutes=n))
        for n in range(5):
            day = timedelta(days=365 + n)
            _session(carol, created=now - day, ended=now - day)
        db.session.commit()
        engine = db.engine
    commits = []
    listener = lambda conn: commits.append(1)  # noqa: E731
    event.listen(engine, "commit", listener)
    try:
        result = runner.invoke(args=["portal", "prune", "--batch-size", "2"])
    finally:
        event.remove(engine, "commit", listener)
    assert result.exit_code == 0, result.output
    assert "ended 5 expired sessions" in result.output
    assert "deleted 5 sessions" in result.output
    assert _count(app, UserSession) == 5
    # Expiring 5 by 2: batches of 2, 2, 1; deleting 5 by 2: 2, 2, 1.
    assert len(commits) == 6


def test_history_days_comes_from_the_configuration(app_config, database_url):
    app = create_app({**app_config, "HISTORY_DAYS": 30})
    try:
        now = utcnow()
        with app.app_context():
            db.session.execute(text("DELETE FROM audit_events"))
            db.session.execute(text("DELETE FROM sessions"))
            db.session.execute(text("DELETE FROM devices"))
            db.session.execute(text("DELETE FROM users"))
            carol = make_user("carol")
            _session(carol, created=now - timedelta(days=40), ended=now - timedelta(days=40))
            _session(carol, created=now - timedelta(days=20), ended=now - timedelta(days=20))
            db.session.commit()
        result = app.test_cli_runner().invoke(args=["portal", "prune"])
        assert "deleted 1 sessions" in result.output and "PORTAL_HISTORY_DAYS=30" in result.output
        assert _count(app, UserSession) == 1
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("value", [0, -1, "half a year", "1.5", True])
def test_a_bad_history_days_stops_start_up_naming_the_variable(app_config, value):
    with pytest.raises(ConfigError, match="PORTAL_HISTORY_DAYS"):
        create_app({**app_config, "HISTORY_DAYS": value})


def test_history_days_defaults_to_180(idp, database_url):
    from support.app_setup import make_config

    config = make_config(idp, database_url)
    config.pop("HISTORY_DAYS", None)
    app = create_app(config)
    assert app.config["HISTORY_DAYS"] == 180


def test_prune_leaves_a_session_a_request_holds_and_does_not_wait_for_it(app, app_config):
    """PostgreSQL: a row another transaction has locked (a request ending or touching that
    session right now) is skipped, not waited for; the next run ends it. SQLite has one
    writer at a time: see the next test."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return _prune_while_another_connection_writes(app, app_config)
    now = utcnow()
    with app.app_context():
        carol = make_user("carol")
        held, _ = _session(carol, created=now - timedelta(days=1))
        free, _ = _session(carol, created=now - timedelta(days=1, hours=1))
        db.session.commit()
    # A prune that waited for the lock would fail after 2 s instead of hanging the test.
    impatient = {"connect_args": {"options": "-c lock_timeout=2000"}}
    pruner = create_app({**app_config, "SQLALCHEMY_ENGINE_OPTIONS": impatient})
    runner = pruner.test_cli_runner()
    other = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with other.connect() as request:
            request.execute(text("SELECT id FROM sessions WHERE id = :id FOR UPDATE"), {"id": held})
            result = runner.invoke(args=["portal", "prune"])
            assert result.exit_code == 0, result.output
            assert "ended 1 expired sessions" in result.output
            request.rollback()
        rows = _rows(app)
        assert rows[held].ended_at is None and rows[free].end_reason == EndReason.EXPIRED.value
        again = runner.invoke(args=["portal", "prune"])
        assert "ended 1 expired sessions" in again.output
        assert _rows(app)[held].end_reason == EndReason.EXPIRED.value
    finally:
        other.dispose()
        with pruner.app_context():
            db.session.remove()
            db.engine.dispose()


def _prune_while_another_connection_writes(app, app_config) -> None:
    """SQLite: while another connection holds the one write lock, the prune waits at most
    PORTAL_DATABASE_LOCK_TIMEOUT, then stops with a clear message (no traceback) and changes
    nothing; the next run does the work."""
    now = utcnow()
    with app.app_context():
        carol = make_user("carol")
        stale, _ = _session(carol, created=now - timedelta(days=1))
        db.session.commit()
    runner = app.test_cli_runner()
    holder = sqlite3.connect(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    try:
        holder.execute("BEGIN IMMEDIATE")
        result = runner.invoke(args=["portal", "prune"])
        assert result.exit_code == 1, result.output
        assert "database is busy" in result.output and "Traceback" not in result.output
        assert _rows(app)[stale].ended_at is None
    finally:
        holder.rollback()
        holder.close()
    again = runner.invoke(args=["portal", "prune"])
    assert "ended 1 expired sessions" in again.output
    assert _rows(app)[stale].end_reason == EndReason.EXPIRED.value


def test_a_personal_token_whose_session_is_pruned_goes_with_it(app):
    from portal.models import PersonalToken
    from portal.services import tokens

    now = utcnow()
    with app.app_context():
        dora = make_user("dora")
        old, _ = tokens.create(
            dora, name="old", scopes=["devices:read"], days=1, now=now - timedelta(days=400)
        )
        kept, _ = tokens.create(dora, name="kept", scopes=["devices:read"], days=30)
        db.session.flush()
        old.session.ended_at = now - timedelta(days=399)
        old.session.end_reason = EndReason.EXPIRED.value
        db.session.commit()
        old_id, kept_id = old.id, kept.id
    result = app.test_cli_runner().invoke(args=["portal", "prune"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        left = set(db.session.execute(select(PersonalToken.id)).scalars())
    assert left == {kept_id} and old_id not in left
