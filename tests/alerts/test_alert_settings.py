"""The sign-in alerts' settings: PORTAL_MAIL_* and PORTAL_ALERTS_*, parsed like the others."""

from __future__ import annotations

import logging

import pytest

from portal import create_app
from portal.config import ConfigError


@pytest.fixture
def production(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("PORTAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_SECRET_KEY", "s" * 32)
    monkeypatch.setenv("PORTAL_OIDC_ISSUER", "https://idp.example")
    monkeypatch.setenv("PORTAL_OIDC_CLIENT_ID", "portal")
    monkeypatch.setenv("PORTAL_DATABASE_URL", "postgresql://u@db/portal")
    return monkeypatch


def test_without_a_mail_server_the_portal_starts_and_says_alerts_are_off(production, caplog):
    with caplog.at_level(logging.WARNING):
        app = create_app()
    assert app.config["ALERTS_ENABLED"] is False
    said = [r.getMessage() for r in caplog.records if "alerts by mail are off" in r.getMessage()]
    assert len(said) == 1


def test_the_mail_settings_are_read_from_the_environment(production):
    production.setenv("PORTAL_MAIL_SERVER", "smtp.example")
    production.setenv("PORTAL_MAIL_PORT", "587")
    production.setenv("PORTAL_MAIL_USE_TLS", "true")
    production.setenv("PORTAL_MAIL_USERNAME", "portal")
    production.setenv("PORTAL_MAIL_PASSWORD", "secret")
    production.setenv("PORTAL_MAIL_FROM", "Portal <portal@example.com>")
    production.setenv("PORTAL_ALERTS_DEFAULT", "flagged")
    production.setenv("PORTAL_ALERTS_FORCE_FLAGGED", "yes")
    config = create_app().config
    assert config["ALERTS_ENABLED"] is True and config["MAIL_BACKEND"] == "smtp"
    assert (config["MAIL_SERVER"], config["MAIL_PORT"], config["MAIL_USE_TLS"]) == (
        "smtp.example",
        587,
        True,
    )
    assert config["MAIL_DEFAULT_SENDER"] == "Portal <portal@example.com>"
    assert config["ALERTS_DEFAULT"] == "flagged" and config["ALERTS_FORCE_FLAGGED"] is True


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORTAL_ALERTS_DEFAULT", "sometimes", "PORTAL_ALERTS_DEFAULT"),
        ("PORTAL_MAIL_PORT", "smtp", "PORTAL_MAIL_PORT"),
        ("PORTAL_MAIL_USE_TLS", "maybe", "PORTAL_MAIL_USE_TLS"),
        ("PORTAL_MAIL_FROM", "nobody", "PORTAL_MAIL_FROM"),
        ("PORTAL_ALERTS_FORCE_FLAGGED", "perhaps", "PORTAL_ALERTS_FORCE_FLAGGED"),
    ],
)
def test_a_malformed_mail_setting_stops_start_up_naming_it(production, name, value, message):
    production.setenv("PORTAL_MAIL_SERVER", "smtp.example")
    production.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        create_app()


def test_starttls_and_tls_cannot_both_be_on(production):
    production.setenv("PORTAL_MAIL_USE_TLS", "true")
    production.setenv("PORTAL_MAIL_USE_SSL", "true")
    with pytest.raises(ConfigError, match="PORTAL_MAIL_USE_SSL"):
        create_app()
