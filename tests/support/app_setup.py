"""What ``tests/conftest.py``'s fixtures are made of, for the tests that build an app or a client
of their own: the app's settings (``make_config``), the kind of database under test, the tables
each test starts empty, and ``Auth``, which signs test clients in through the real IdP."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from support.idp import OidcProvider

ROOT = Path(__file__).resolve().parents[2]
GEOIP_CITY = ROOT / "tests" / "data" / "geoip" / "GeoLite2-City-Test.mmdb"
AUDIENCE = "https://portal.test/api"
ALL_PERMISSIONS = ["viewUserDevices", "manageUserDevices", "viewAuditLog"]
GROUP_PERMISSIONS = {
    "portal-admins": ALL_PERMISSIONS,
    "helpdesk": ["viewUserDevices"],
    "security": ["viewUserDevices", "manageUserDevices"],
}

TABLES_IN_DELETE_ORDER = [
    "scim_group_members",
    "scim_groups",
    "sign_in_alerts",
    "outbox_messages",
    "ssf_stream_subjects",
    "ssf_streams",
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


def database_kind() -> str:
    """sqlite or postgresql: the kind of database PORTAL_TEST_DATABASE names."""
    kind = os.environ.get("PORTAL_TEST_DATABASE", "sqlite")
    if kind not in ("sqlite", "postgresql"):
        raise RuntimeError(f"PORTAL_TEST_DATABASE must be sqlite or postgresql, not {kind!r}")
    return kind


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
