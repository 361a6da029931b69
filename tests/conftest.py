"""Fixtures: a real OpenID provider process, a real database (SQLite or PostgreSQL), the app.

``PORTAL_TEST_DATABASE=postgresql`` runs the suite against a throwaway PostgreSQL cluster;
the default is a file-backed SQLite database. The schema is built by the Alembic migrations.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import create_engine, text
from support.api_contract import ContractClient
from support.idp import OidcProvider, free_port
from werkzeug.serving import make_server

from portal import create_app
from portal.extensions import db

ROOT = Path(__file__).resolve().parent.parent
GEOIP_CITY = ROOT / "tests" / "data" / "geoip" / "GeoLite2-City-Test.mmdb"
AUDIENCE = "https://portal.test/api"
ALL_PERMISSIONS = ["viewUserDevices", "manageUserDevices", "viewAuditLog"]
GROUP_PERMISSIONS = {
    "portal-admins": ALL_PERMISSIONS,
    "helpdesk": ["viewUserDevices"],
    "security": ["viewUserDevices", "manageUserDevices"],
}

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

TABLES_IN_DELETE_ORDER = [
    "sign_in_alerts",
    "outbox_messages",
    "bulk_job_items",
    "bulk_jobs",
    "audit_events",
    "seen_logout_tokens",
    "personal_tokens",
    "sessions",
    "devices",
    "grants",
    "users",
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
    """The portal's SET signing key (a private P-256 JWK file) for the whole test session."""
    from joserfc.jwk import ECKey

    path = tmp_path_factory.mktemp("ssf") / "signing-key.json"
    path.write_text(json.dumps(ECKey.generate_key("P-256", private=True).as_dict(private=True)))
    return path


@pytest.fixture(scope="session")
def idp(live_port, ssf_signing_key):
    """A real OpenID provider (panva oidc-provider in Node) for the whole test session.

    Its Shared Signals receiver trusts the portal's test signing key, with the live portal's
    origin as the transmitter's issuer (``tests/test_ssf.py``)."""
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


def database_kind() -> str:
    """sqlite or postgresql: the kind of database PORTAL_TEST_DATABASE names."""
    kind = os.environ.get("PORTAL_TEST_DATABASE", "sqlite")
    if kind not in ("sqlite", "postgresql"):
        raise RuntimeError(f"PORTAL_TEST_DATABASE must be sqlite or postgresql, not {kind!r}")
    return kind


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


_fresh_databases = itertools.count(1)


@pytest.fixture
def fresh_database_url(request, tmp_path):
    """A new, empty, unmigrated database of the kind under test, for this test alone
    (PostgreSQL: a database of its own on the session's cluster, dropped afterwards)."""
    if database_kind() == "sqlite":
        yield "sqlite:///" + str(tmp_path / "fresh.db")
        return
    server = request.getfixturevalue("postgres_server")
    name = f"portal_fresh_{next(_fresh_databases)}"
    yield server.create_database(name)
    server.psql(f'drop database "{name}" with (force)')  # and any connection a test left open


def _wipe(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in TABLES_IN_DELETE_ORDER:
            conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


def make_config(idp: OidcProvider, database_url: str, **overrides) -> dict:
    config = {
        "ENV": "testing",
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": database_url,
        "OIDC_ISSUER": idp.issuer,
        "OIDC_CLIENT_ID": idp.client_id,
        "OIDC_CLIENT_SECRET": idp.client_secret,
        "API_AUDIENCE": AUDIENCE,
        "GROUP_PERMISSIONS": GROUP_PERMISSIONS,
        "GEOIP_DATABASE": str(GEOIP_CITY),
        "SESSION_COOKIE_SECURE": False,
    }
    config.update(overrides)
    return config


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


@dataclass
class Auth:
    """Signs test clients in through the real IdP, and fetches real access tokens."""

    app: object
    idp: OidcProvider

    def sign_in(
        self,
        client,
        login: str = "alice",
        next_url: str = "/",
        *,
        remote_addr: str | None = None,
        user_agent: str | None = None,
    ):
        """Full authorization-code flow; returns the callback response (a redirect).

        When the portal asks the IdP again (``prompt=login`` after a revocation in the very
        second of this authentication), the password is given once more, as a person would."""
        env = {}
        if remote_addr:
            env["REMOTE_ADDR"] = remote_addr
        headers = {"User-Agent": user_agent} if user_agent else {}
        start = client.get(
            "/login", query_string={"next": next_url}, environ_base=env, headers=headers
        )
        assert start.status_code == 302, start.data[:500]
        http, location = requests.Session(), start.headers["Location"]
        for _ in range(2):
            parts = urlsplit(self.idp.login_through(http, location, login))
            answer = client.get(f"{parts.path}?{parts.query}", environ_base=env, headers=headers)
            location = answer.headers.get("Location", "")
            if not location.startswith(self.idp.issuer):
                break
        return answer

    def new_client(self, login: str = "alice", **kwargs):
        """A fresh browser (its own cookies), already signed in as ``login``."""
        c = self.app.test_client()
        response = self.sign_in(c, login, **kwargs)
        assert response.status_code == 302, response.data[:500]
        return c

    def token(self, login: str = "alice", scope: str = "openid devices:read devices:write"):
        return self.idp.access_token(login, scope=scope)

    def bearer(self, login: str = "alice", **kwargs) -> dict:
        return {"Authorization": f"Bearer {self.token(login, **kwargs)}"}


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


def _chromium_options():
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    return options


@pytest.fixture
def browser_factory(tmp_path):
    """Start real, independent Chromium browsers (each its own profile and cookies)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
    if not Path(driver_path).exists():
        raise RuntimeError(
            f"chromedriver not found at {driver_path}: run scripts/install-test-deps.sh"
        )
    drivers = []

    def start():
        options = _chromium_options()
        options.add_argument(f"--user-data-dir={tmp_path / f'profile{len(drivers)}'}")
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        driver.implicitly_wait(5)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


@pytest.fixture
def browser(browser_factory):
    return browser_factory()


def browser_sign_in(browser, live_server, login: str) -> None:
    """Sign in through the IdP's real login page in a real browser."""
    from selenium.webdriver.common.by import By

    browser.get(live_server.url + "/")
    browser.find_element(By.ID, "hero-sign-in").click()
    field = browser.find_element(By.NAME, "login")
    field.send_keys(login)
    browser.find_element(By.ID, "login-submit").click()
    browser.find_element(By.ID, "devices")  # My devices has loaded


def pytest_collection_modifyitems(items):
    """Everything under tests/e2e drives a real browser: mark it so it can be selected."""
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
