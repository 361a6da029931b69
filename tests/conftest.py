"""Fixtures: a real OpenID provider process, a real database (SQLite or PostgreSQL), the app.

``PORTAL_TEST_DATABASE=postgresql`` runs the suite against a throwaway PostgreSQL cluster;
the default is a file-backed SQLite database. The schema is built by the Alembic migrations.

These are the fixtures of every folder's tests; a folder's own are in its ``conftest.py``
(``tests/e2e``: the browser), and the helpers tests import are in ``tests/support``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from support.api_contract import ContractClient
from support.app_setup import AUDIENCE, TABLES_IN_DELETE_ORDER, Auth, database_kind, make_config
from support.idp import OidcProvider, free_port
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db

# Accounts known to the test identity provider.
ACCOUNTS = [
    {"sub": "alice", "email": "alice@example.test", "name": "Alice Anders", "groups": ["staff"]},
    {"sub": "bob", "email": "bob@example.test", "name": "Bob Berg", "groups": ["staff"]},
    {
        "sub": "admin",
        "email": "admin@example.test",
        "name": "Ada Admin",
        "groups": ["portal-admins"],
    },
    {"sub": "viewer", "email": "viewer@example.test", "name": "Vic Viewer", "groups": ["helpdesk"]},
    {
        "sub": "manager",
        "email": "manager@example.test",
        "name": "Mia Manager",
        "groups": ["security"],
    },
    # Signed in by no test before its own: a subject the portal meets for the first time.
    {"sub": "newbie", "email": "newbie@example.test", "name": "Nell Newbie", "groups": ["staff"]},
    # Claims longer than their columns: a 300-character name, an email no mailbox can have.
    {
        "sub": "verbose",
        "email": "v" * 330 + "@example.test",
        "name": "Vera " + "V" * 295,
        "groups": ["staff"],
    },
    # A subject longer than the 255 characters OIDC allows.
    {"sub": "s" * 300, "email": "long-subject@example.test", "name": "Sam Long", "groups": []},
]


@pytest.fixture(scope="session")
def live_port() -> int:
    """The port every live portal of this test session listens on.

    Fixed for the session because the IdP must know the portal's back-channel logout URI
    when it starts (a client's registered metadata).
    """
    return free_port()


@pytest.fixture(scope="session")
def ssf_signing_key(tmp_path_factory) -> Path:
    """The portal's SET signing key (a private 2048-bit RSA JWK file, RS256 as the CAEP
    Interoperability Profile requires) for the whole test session."""
    from joserfc.jwk import RSAKey

    path = tmp_path_factory.mktemp("ssf") / "signing-key.json"
    path.write_text(json.dumps(RSAKey.generate_key(2048, private=True).as_dict(private=True)))
    return path


@pytest.fixture(scope="session")
def idp(live_port, ssf_signing_key):
    """A real OpenID provider (panva oidc-provider in Node) for the whole test session.

    Its Shared Signals receiver trusts the portal's test signing key, with the live portal's
    origin as the transmitter's issuer (``tests/ssf/test_ssf.py``)."""
    from portal.ssf.keys import read_signing_key

    provider = OidcProvider.start(
        ACCOUNTS,
        audience=AUDIENCE,
        backchannel_logout_uri=f"http://127.0.0.1:{live_port}/auth/backchannel-logout",
        ssf={
            "issuer": f"http://127.0.0.1:{live_port}",
            "jwks": {"keys": [read_signing_key(ssf_signing_key).public_jwk()]},
        },
    )
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """The session's throwaway PostgreSQL cluster (started on first use)."""
    from support.postgres import PostgresServer

    server = PostgresServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def database_url(request, tmp_path_factory):
    """A migrated, empty database of the kind PORTAL_TEST_DATABASE names."""
    if database_kind() == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database("portal_test")
    else:
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "portal.db")
    app = create_app({"ENV": "testing", "DATABASE_URL": url})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield url


def _wipe(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in TABLES_IN_DELETE_ORDER:
            conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


@pytest.fixture
def app_config(idp, database_url) -> dict:
    """Settings for the app under test; a test may change them before using ``app``."""
    return make_config(idp, database_url)


@pytest.fixture
def app(app_config, database_url):
    _wipe(database_url)
    app = create_app(app_config)
    # Every documented JSON answer a test receives is validated against /openapi.json.
    app.test_client_class = ContractClient
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server process (aiosmtpd) for the test session."""
    from support.smtp_server import SmtpServer

    server = SmtpServer.start()
    yield server
    server.close()


@pytest.fixture
def smtp(smtp_server):
    """The SMTP server process, running and holding no mail."""
    if not smtp_server.running:  # a test stopped it
        smtp_server.restart()
    smtp_server.clear()
    return smtp_server


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auth(app, idp) -> Auth:
    return Auth(app, idp)


@pytest.fixture
def signed_in(app, auth):
    """A browser signed in as Alice, and a bearer token of the admin (used once already)."""
    browser = auth.new_client("alice")
    headers = auth.bearer("admin")
    assert app.test_client().get("/devices", headers=headers).status_code == 200
    return browser, headers


class LiveServer:
    """The app served over real HTTP on 127.0.0.1, in a thread."""

    def __init__(self, app, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = make_server("127.0.0.1", self.port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()


@pytest.fixture
def live_server(app, live_port):
    server = LiveServer(app, live_port).start()
    yield server
    server.stop()


def pytest_collection_modifyitems(items):
    """Everything under tests/e2e drives a real browser: mark it so it can be selected."""
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
