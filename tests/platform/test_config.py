"""Configuration from PORTAL_* variables: clear start-up errors, safe defaults."""

from __future__ import annotations

import json

import pytest

from portal import create_app
from portal.config import ConfigError


@pytest.fixture
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("PORTAL_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_production_refuses_to_start_without_secret_key(clean_env):
    clean_env.setenv("PORTAL_OIDC_ISSUER", "https://idp.example")
    clean_env.setenv("PORTAL_OIDC_CLIENT_ID", "portal")
    with pytest.raises(ConfigError, match="PORTAL_SECRET_KEY"):
        create_app()


def test_production_requires_an_issuer(clean_env):
    clean_env.setenv("PORTAL_SECRET_KEY", "s" * 32)
    with pytest.raises(ConfigError, match="PORTAL_OIDC_ISSUER"):
        create_app()


def test_production_cookies_are_secure_and_host_prefixed(clean_env, tmp_path):
    clean_env.setenv("PORTAL_SECRET_KEY", "s" * 32)
    clean_env.setenv("PORTAL_OIDC_ISSUER", "https://idp.example/")
    clean_env.setenv("PORTAL_OIDC_CLIENT_ID", "portal")
    clean_env.setenv("PORTAL_DATABASE_URL", "postgresql://u@db/portal")
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-portal_session"
    assert app.config["DEVICE_COOKIE_NAME"] == "__Host-portal_device"
    assert app.config["OIDC_ISSUER"] == "https://idp.example"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db/portal"
    assert app.config["SESSION_LIFETIME"] == 8 * 3600
    assert app.config["OIDC_SCOPES"] == "openid email profile"


def test_flask_settings_pass_through_the_prefix(clean_env):
    clean_env.setenv("PORTAL_ENV", "development")
    clean_env.setenv("PORTAL_SESSION_COOKIE_SECURE", "false")
    clean_env.setenv("PORTAL_SESSION_LIFETIME", "600")
    clean_env.setenv("PORTAL_GROUP_PERMISSIONS", '{"helpdesk": ["viewUserDevices"]}')
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert app.config["SESSION_COOKIE_NAME"] == "portal_session"
    assert app.config["SESSION_LIFETIME"] == 600
    assert app.config["GROUP_PERMISSIONS"] == {"helpdesk": ["viewUserDevices"]}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORTAL_SESSION_LIFETIME", "soon", "PORTAL_SESSION_LIFETIME"),
        ("PORTAL_SESSION_LIFETIME", "0", "PORTAL_SESSION_LIFETIME"),
        ("PORTAL_TRUSTED_PROXIES", "-1", "PORTAL_TRUSTED_PROXIES"),
        ("PORTAL_GROUP_PERMISSIONS", "{not json", "PORTAL_GROUP_PERMISSIONS"),
        ("PORTAL_GROUP_PERMISSIONS", '{"a": ["becomeRoot"]}', "unknown permissions"),
        ("PORTAL_GROUP_PERMISSIONS", '["viewUserDevices"]', "PORTAL_GROUP_PERMISSIONS"),
        ("PORTAL_DATABASE_URL", "mysql://x/y", "PORTAL_DATABASE_URL"),
        ("PORTAL_GEOIP_DATABASE", "/nonexistent.mmdb", "PORTAL_GEOIP_DATABASE"),
        ("PORTAL_OIDC_ISSUER", "idp.example", "PORTAL_OIDC_ISSUER"),
        ("PORTAL_OIDC_SCOPES", "email profile", "openid"),
        ("PORTAL_ENV", "staging", "PORTAL_ENV"),
    ],
)
def test_bad_values_are_clear_start_up_errors(clean_env, name, value, message):
    clean_env.setenv("PORTAL_ENV", "development")
    clean_env.setenv("PORTAL_OIDC_CLIENT_ID", "portal")
    clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        create_app()


def _client_address_seen(x_forwarded_for: str) -> str:
    """The client address the app sees for a request that came with that X-Forwarded-For."""
    from flask import request

    app = create_app()
    app.add_url_rule("/_ip", "_ip", lambda: request.remote_addr)
    response = app.test_client().get("/_ip", headers={"X-Forwarded-For": x_forwarded_for})
    return response.data.decode()


def test_trusted_proxies_take_the_client_address_from_x_forwarded_for(clean_env):
    clean_env.setenv("PORTAL_ENV", "development")
    clean_env.setenv("PORTAL_TRUSTED_PROXIES", "1")
    assert _client_address_seen("81.2.69.142") == "81.2.69.142"


def test_without_trusted_proxies_x_forwarded_for_is_ignored(clean_env):
    clean_env.setenv("PORTAL_ENV", "development")
    assert _client_address_seen("81.2.69.142") == "127.0.0.1"


def test_a_sqlite_connection_writes_ahead_and_caches_64_mib_of_pages(tmp_path):
    """WAL keeps readers from waiting on the audit writes; a 2 MiB default cache made every
    request read its pages from the operating system again on a large database."""
    from sqlalchemy import text

    from portal.extensions import SQLITE_CACHE_KIB, db

    app = create_app(
        {"ENV": "testing", "SECRET_KEY": "k", "DATABASE_URL": f"sqlite:///{tmp_path}/p.db"}
    )
    with app.app_context():
        connection = db.session.connection()
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert connection.execute(text("PRAGMA cache_size")).scalar_one() == -SQLITE_CACHE_KIB
        assert SQLITE_CACHE_KIB == 64 * 1024


def _production(env) -> None:
    env.setenv("PORTAL_SECRET_KEY", "s" * 32)
    env.setenv("PORTAL_OIDC_ISSUER", "https://idp.example/")
    env.setenv("PORTAL_OIDC_CLIENT_ID", "portal")
    env.setenv("PORTAL_DATABASE_URL", "postgresql://u@db/portal")
    env.setenv("PORTAL_SSF_RECEIVER_URL", "https://idp.example/ssf/events")
    env.setenv("PORTAL_SSF_ISSUER", "https://devices.example/")


def test_telling_the_idp_needs_the_portals_origin_and_in_production_a_key(clean_env, tmp_path):
    _production(clean_env)
    clean_env.delenv("PORTAL_SSF_ISSUER")
    with pytest.raises(ConfigError, match="PORTAL_SSF_ISSUER"):
        create_app()
    _production(clean_env)
    with pytest.raises(ConfigError, match="PORTAL_SSF_SIGNING_KEY_FILE"):
        create_app()
    public_only = tmp_path / "public.json"
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", private=True)
    public_only.write_text(json.dumps(key.as_dict(private=False)))
    clean_env.setenv("PORTAL_SSF_SIGNING_KEY_FILE", str(public_only))
    with pytest.raises(ConfigError, match="public key"):
        create_app()
    pem = tmp_path / "key.pem"
    pem.write_bytes(key.as_pem(private=True))
    clean_env.setenv("PORTAL_SSF_SIGNING_KEY_FILE", str(pem))
    app = create_app()
    assert app.config["SSF_ISSUER"] == "https://devices.example"
    assert app.config["SSF_AUDIENCE"] == "https://idp.example"  # the IdP's issuer by default


def test_in_development_the_signing_key_is_generated_once_into_the_instance_folder(tmp_path):
    from portal.ssf import keys

    first = keys.generated_key(str(tmp_path))
    again = keys.generated_key(str(tmp_path))
    assert first.kid == again.kid and first.alg == "RS256"
    assert first.key.raw_value.key_size >= 2048
    assert (tmp_path / keys.GENERATED_KEY_NAME).stat().st_mode & 0o077 == 0


def test_the_wsgi_entry_point_keeps_start_up_objects_out_of_full_collections(tmp_path):
    """gunicorn's workers import ``wsgi``: what start-up made is frozen, so a full collection
    in the middle of a request walks only what requests made."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_ENV="development",
        PORTAL_DATABASE_URL=f"sqlite:///{tmp_path / 'wsgi.db'}",
        PYTHONPATH=str(root),
    )
    code = "import gc, wsgi; print(gc.get_freeze_count())"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 10_000
