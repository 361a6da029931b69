"""``PORTAL_SSF_STREAMS`` refuses to start without what stream management needs: the portal's
origin (the events' ``iss``), the audience of the receivers' tokens and, in production, a
signing key."""

from __future__ import annotations

import os

import pytest

from portal import create_app
from portal.config import ConfigError


@pytest.fixture
def production_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("PORTAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_SECRET_KEY", "s" * 32)
    monkeypatch.setenv("PORTAL_OIDC_ISSUER", "https://idp.example/")
    monkeypatch.setenv("PORTAL_OIDC_CLIENT_ID", "portal")
    monkeypatch.setenv("PORTAL_DATABASE_URL", "postgresql://u@db/portal")
    monkeypatch.setenv("PORTAL_SSF_STREAMS", "true")
    monkeypatch.setenv("PORTAL_SSF_ISSUER", "https://devices.example/")
    monkeypatch.setenv("PORTAL_API_AUDIENCE", "https://devices.example/api")
    return monkeypatch


def test_streams_need_the_issuer_and_the_api_audience(production_env):
    production_env.delenv("PORTAL_SSF_ISSUER")
    with pytest.raises(ConfigError, match="PORTAL_SSF_STREAMS needs PORTAL_SSF_ISSUER"):
        create_app()
    production_env.setenv("PORTAL_SSF_ISSUER", "https://devices.example/")
    production_env.delenv("PORTAL_API_AUDIENCE")
    with pytest.raises(ConfigError, match="PORTAL_API_AUDIENCE"):
        create_app()


def test_streams_need_a_signing_key_in_production(production_env, ssf_signing_key):
    with pytest.raises(ConfigError, match="PORTAL_SSF_SIGNING_KEY_FILE"):
        create_app()
    production_env.setenv("PORTAL_SSF_SIGNING_KEY_FILE", str(ssf_signing_key))
    app = create_app()
    assert app.config["SSF_STREAMS"] is True
