"""A database outage answers at once and passes: pages show a friendly 503 with the usual
security headers within two seconds, JSON routes a 503 in their documented shape with
``Retry-After``, /livez still answers and /readyz says unavailable, and everything works again
as soon as the database does, without a restart.

Two outages: the suite's own database locked by another connection (SQLite: ``BEGIN
EXCLUSIVE`` in exclusive locking mode, which in WAL mode keeps readers out too; PostgreSQL:
``LOCK TABLE ... ACCESS EXCLUSIVE``), and a PostgreSQL server stopped and started again (a
throwaway cluster of this module's own, on either run).
"""

from __future__ import annotations

import gc
import sqlite3
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from support.account_helpers import audit_actions, page_csrf
from support.admin_helpers import user_id_of
from support.app_setup import Auth, make_config

from portal import config as config_module
from portal import create_app
from portal.extensions import db

WITHIN = 2.0  # seconds a page may take to say the database is unavailable
SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
)


@contextmanager
def _held(url: str, *, sqlite_pragmas: tuple[str, ...] = (), pg_lock: str):
    """Another connection takes a lock (SQLite: ``BEGIN EXCLUSIVE`` after ``sqlite_pragmas``;
    PostgreSQL: the ``LOCK TABLE`` statement ``pg_lock``) and holds it until the block ends."""
    if url.startswith("sqlite"):
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        for pragma in sqlite_pragmas:
            holder.execute(pragma)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = create_engine(url)
    with engine.connect() as holder:
        holder.exec_driver_sql(pg_lock)
        try:
            yield
        finally:
            holder.rollback()
    engine.dispose()


@contextmanager
def database_locked(app, url: str):
    """Another connection holds the whole database until the block ends."""
    if url.startswith("sqlite"):
        # WAL mode gives a connection the whole file only while no other has it open: close
        # every engine's pooled connections to it first (the apps open new ones, which then
        # find it locked), this test's app and any other app of the run (a live server's).
        with app.app_context():
            db.engine.dispose()
        for engine in [o for o in gc.get_objects() if isinstance(o, Engine)]:
            if str(engine.url) == url:
                engine.dispose()
    with _held(
        url,
        sqlite_pragmas=("PRAGMA locking_mode=EXCLUSIVE",),  # in WAL mode, readers kept out too
        pg_lock="LOCK TABLE users, devices, sessions, grants, audit_events "
        "IN ACCESS EXCLUSIVE MODE",
    ):
        yield


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_friendly_503_page(response, elapsed: float) -> None:
    assert response.status_code == 503, response.data[:300]
    assert elapsed < WITHIN, f"the 503 page took {elapsed:.2f} s"
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert 'id="unavailable"' in page and "Internal Server Error" not in page
    assert "Sign out" not in page  # who is signed in is not read while the database is away
    for name in SECURITY_HEADERS:
        assert response.headers.get(name), name
    assert response.headers["Cache-Control"] == "no-store"
    assert int(response.headers["Retry-After"]) > 0


def assert_json_503(response, family: str) -> None:
    assert response.status_code == 503, response.data[:300]
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_json()
    if family == "envelope":
        assert body["success"] is False and "unavailable" in body["error"]
    else:
        assert body["error"]["code"] == "service_unavailable"
    for name in SECURITY_HEADERS:
        assert response.headers.get(name), name


def assert_probes(client, *, ready: bool) -> None:
    live = client.get("/livez")
    assert live.status_code == 200 and live.get_json() == {"status": "ok"}
    readyz = client.get("/readyz")
    assert readyz.status_code == (200 if ready else 503), readyz.data
    assert readyz.get_json()["status"] == ("ready" if ready else "unavailable")


# -- the database locked by another connection ------------------------------------------------


def test_pages_answer_a_friendly_503_within_two_seconds_while_the_database_is_locked(
    app, database_url, signed_in
):
    browser, _ = signed_in
    with database_locked(app, database_url):
        for path in ("/", "/account/devices/00000000-0000-0000-0000-000000000000", "/nowhere"):
            assert_friendly_503_page(*_timed(lambda p=path: browser.get(p)))

    assert browser.get("/").status_code == 200  # and back, without a restart
    assert b'id="devices"' in browser.get("/").data


def test_json_routes_answer_503_in_their_shape_while_the_database_is_locked(
    app, client, database_url, signed_in
):
    _, headers = signed_in
    alice = user_id_of(app, "alice")
    with database_locked(app, database_url):
        assert_json_503(client.get("/devices", headers=headers), "envelope")
        assert_json_503(client.get("/auth/devices", headers=headers), "token_rows")
        assert_json_503(client.get(f"/devices/users/{alice}", headers=headers), "token_rows")

    assert client.get("/devices", headers=headers).status_code == 200
    assert client.get(f"/devices/users/{alice}", headers=headers).status_code == 200


def test_livez_answers_and_readyz_says_whether_the_database_can_be_read_while_locked(
    app, client, database_url
):
    assert_probes(client, ready=True)
    with database_locked(app, database_url):
        # SQLite's exclusive lock keeps every reader out; PostgreSQL's table locks leave the
        # server answering and its schema readable (a stopped server is tested below).
        assert_probes(client, ready=not database_url.startswith("sqlite"))
    assert_probes(client, ready=True)


def test_signed_out_pages_need_no_database(app, client, database_url):
    with database_locked(app, database_url):
        landing = client.get("/")
    assert landing.status_code == 200 and b'id="hero-sign-in"' in landing.data


# -- a PostgreSQL server stopped and started again ------------------------------------------


@pytest.fixture(scope="module")
def own_postgres():
    """A PostgreSQL cluster of this module's own, migrated, to stop and start at will."""
    from flask_migrate import upgrade
    from support.postgres import PostgresServer

    server = PostgresServer.start()
    url = server.create_database("portal_outage")
    app = create_app({"ENV": "testing", "DATABASE_URL": url})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    yield server, url
    server.stop()


@pytest.fixture
def on_own_postgres(own_postgres, idp):
    server, url = own_postgres
    app = create_app(make_config(idp, url))
    yield server, app, Auth(app, idp)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_stopped_postgresql_answers_503_at_once_and_recovers_when_it_starts(
    on_own_postgres,
):
    server, app, auth = on_own_postgres
    browser = auth.new_client("alice")
    headers = auth.bearer("alice")
    api = app.test_client()
    assert api.get("/devices", headers=headers).status_code == 200

    server.pause()
    try:
        assert_friendly_503_page(*_timed(lambda: browser.get("/")))
        assert_json_503(api.get("/devices", headers=headers), "envelope")
        assert_json_503(api.get("/auth/devices", headers=headers), "token_rows")
        assert_probes(api, ready=False)
    finally:
        server.resume()

    assert b'id="devices"' in browser.get("/").data
    assert api.get("/devices", headers=headers).status_code == 200
    assert_probes(api, ready=True)


def test_a_restarted_postgresql_costs_no_request(on_own_postgres):
    """Pooled connections died with the server; each is checked before use and replaced."""
    server, app, auth = on_own_postgres
    browser = auth.new_client("alice")
    assert browser.get("/").status_code == 200

    server.pause()
    server.resume()

    assert browser.get("/").status_code == 200
    assert app.test_client().get("/readyz").status_code == 200


# -- settings -------------------------------------------------------------------------------


def _validated(tmp_path, **settings) -> dict:
    config = {**config_module.DEFAULTS, "ENV": "testing", **settings}
    config_module.validate(config, str(tmp_path))
    return config


def test_the_database_timeouts_bound_every_wait(tmp_path):
    sqlite = _validated(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    assert sqlite["SQLALCHEMY_ENGINE_OPTIONS"] == {"connect_args": {"timeout": 1.0}}

    pg = _validated(
        tmp_path, DATABASE_URL="postgresql://portal@db/portal", DATABASE_LOCK_TIMEOUT="0.5"
    )
    assert pg["SQLALCHEMY_ENGINE_OPTIONS"] == {
        "connect_args": {
            "connect_timeout": 2,
            "options": "-c lock_timeout=500 -c statement_timeout=10000",
        },
    }


@pytest.mark.parametrize("value", ["0", "-1", "soon", "7200"])
def test_a_database_timeout_must_be_a_sensible_number_of_seconds(tmp_path, value):
    with pytest.raises(config_module.ConfigError, match="PORTAL_DATABASE_LOCK_TIMEOUT"):
        _validated(tmp_path, DATABASE_LOCK_TIMEOUT=value)


def _alices_rows(app) -> tuple[dict, list[dict]]:
    """Every column of Alice's user row and of her sessions' rows."""
    from sqlalchemy import select

    from portal.models import User, UserSession

    alice = user_id_of(app, "alice")
    with app.app_context():
        user = db.session.execute(select(User.__table__).where(User.id == alice))
        sessions = db.session.execute(
            select(UserSession.__table__)
            .where(UserSession.user_id == alice)
            .order_by(UserSession.created_at)
        )
        return dict(user.mappings().one()), [dict(row) for row in sessions.mappings()]


def test_a_database_locked_in_the_middle_of_a_change_answers_503_and_changes_nothing(
    app, client, auth, database_url
):
    """Sign out everywhere meets a lock another connection holds (SQLite: ``BEGIN
    EXCLUSIVE``, every write waits; PostgreSQL: ``sessions`` alone, so the user's revocation
    mark is written before the sessions' update waits): past the lock timeout, a 503, and
    what the request had done is undone."""
    phone = auth.new_client("alice")
    headers = auth.bearer("alice")
    assert client.get("/sessions", headers=headers).status_code == 200  # first use recorded
    before = _alices_rows(app)
    assert len(before[1]) == 2 and all(row["ended_at"] is None for row in before[1])

    with _held(database_url, pg_lock="LOCK TABLE sessions IN EXCLUSIVE MODE"):
        answer = client.post("/sessions/revoke-all", headers=headers)
    assert_json_503(answer, "envelope")

    assert _alices_rows(app) == before
    assert audit_actions(app, "revoke_all_sessions") == []
    assert b'id="devices"' in phone.get("/").data
    assert client.get("/sessions", headers=headers).status_code == 200


def writes_locked(url: str):
    """Another connection holds the write lock (SQLite) or locks the tables against every
    change but not against reading (PostgreSQL's EXCLUSIVE mode) until the block ends."""
    return _held(url, pg_lock="LOCK TABLE users, devices, sessions IN EXCLUSIVE MODE")


@pytest.fixture
def impatient(app_config):
    """Every wait for a lock gives up at once (10 ms): a request that waited answers 503."""
    app_config["DATABASE_LOCK_TIMEOUT"] = 0.01


def test_a_page_that_only_reads_does_not_wait_for_another_connections_writes(
    impatient, auth, database_url
):
    """SQLite runs in WAL mode: like PostgreSQL, its readers never wait for a writer. Told by
    the answer, not the clock: a read that waited would have given up, and answered 503."""
    alice = auth.new_client("alice")
    token = page_csrf(alice)  # signed in and activity stamped: the next look only reads
    with writes_locked(database_url):
        page = alice.get("/")
        change = alice.post("/account/sign-out-others", data={"csrf_token": token})
    assert page.status_code == 200 and b'id="devices"' in page.data
    assert change.status_code == 503  # the lock was held: a write did wait, and gave up
