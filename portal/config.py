"""Configuration read from ``PORTAL_*`` environment variables, validated before the app starts.

The variables are the fields of ``portal.settings.Settings`` (their types, defaults and
descriptions: ``docs/configuration.md``). ``load`` reads them, with the values a caller passes
winning, and puts them into ``app.config`` under the same names without the prefix, together
with what Flask and its extensions derive from them. Flask's own settings work through the same
prefix (``from_prefixed_env``). A bad or missing value stops start-up with a ``ConfigError``
that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .settings import ALERT_MODES, ENVIRONMENTS, PERMISSIONS, Settings, database_url

__all__ = ["ALERT_MODES", "DEFAULTS", "ENVIRONMENTS", "PERMISSIONS", "ConfigError", "load"]


class ConfigError(RuntimeError):
    """A configuration value is missing or malformed; the message names the variable."""


# Every setting's default, as the environment would give it (before it is parsed).
DEFAULTS: dict[str, Any] = {name: field.default for name, field in Settings.model_fields.items()}
# Seconds to wait for a PostgreSQL connection (libpq's connect_timeout; 2 is its minimum).
DATABASE_CONNECT_TIMEOUT = 2


def load(app, overrides: dict[str, Any] | None = None) -> None:
    """Fill ``app.config`` from the environment and ``overrides``, then validate it."""
    overrides = overrides or {}
    app.config.from_prefixed_env("PORTAL")
    app.config.update(overrides)
    _apply(read(overrides), app.config, app.instance_path)


def validate(config: dict, instance_path: str) -> None:
    """Normalise the settings in ``config`` (the environment gives those it leaves out) and
    refuse a configuration the portal cannot run safely with."""
    _apply(read(config), config, instance_path)


def read(values: Mapping[str, Any]) -> Settings:
    """The settings: ``values`` first, then the environment; ConfigError on a bad one."""
    given = {name: value for name, value in values.items() if name in Settings.model_fields}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise ConfigError("; ".join(_message(error) for error in exc.errors())) from None


def _message(error: Any) -> str:
    """A parser's or a check's own message names the variable; pydantic's gets it added. The
    value is never repeated here: it may be a password."""
    problem = error.get("ctx", {}).get("error")
    if isinstance(problem, ValueError):
        return str(problem)
    where = f"PORTAL_{error['loc'][0]}" if error["loc"] else "PORTAL_*"
    return f"{where}: {error['msg']}"


def _apply(settings: Settings, config: dict, instance_path: str) -> None:
    """The settings into ``config``, and what Flask and its extensions derive from them."""
    config.update(settings.model_dump())
    config["TESTING"] = config.get("TESTING") or settings.ENV == "testing"
    config["SESSION_COOKIE_DOMAIN"] = None
    config["SESSION_COOKIE_PATH"] = "/"
    config["PERMANENT_SESSION_LIFETIME"] = settings.SESSION_ABSOLUTE_LIFETIME
    config["SQLALCHEMY_DATABASE_URI"] = _database_uri(settings, config, instance_path)
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **_engine_options(settings, config["SQLALCHEMY_DATABASE_URI"]),
        **(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}),
    }
    # Flask's own limit: a body sent without Content-Length is cut when read past it.
    config["MAX_CONTENT_LENGTH"] = settings.MAX_BODY_BYTES
    _mail(settings, config)
    # Every transmitter the portal receives Security Event Tokens from (``portal.ssf``).
    config["SSF_RECEIVE_FROM"] = settings.transmitters()


def _database_uri(settings: Settings, config: dict, instance_path: str) -> str:
    """PORTAL_DATABASE_URL (or Flask-SQLAlchemy's own key), else SQLite in the instance
    folder."""
    try:
        url = settings.DATABASE_URL or database_url(config.get("SQLALCHEMY_DATABASE_URI"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if url:
        return url
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    return "sqlite:///" + os.path.join(instance_path, "portal.db")


def _engine_options(settings: Settings, url: str) -> dict:
    """How long the database may keep a request waiting, so an outage (a locked database, a
    stopped server) answers 503 in seconds. (A pooled PostgreSQL connection that sat idle is
    pinged before reuse: ``extensions._ping_after_idle``.)"""
    lock, statement = settings.DATABASE_LOCK_TIMEOUT, settings.DATABASE_STATEMENT_TIMEOUT
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": lock}}
    return {
        "connect_args": {
            "connect_timeout": DATABASE_CONNECT_TIMEOUT,
            "options": f"-c lock_timeout={int(lock * 1000)} "
            f"-c statement_timeout={int(statement * 1000)}",
        },
    }


def _mail(settings: Settings, config: dict) -> None:
    """Flask-Mailman's sender and backend. Without a server alerts are off, except in
    development, where the worker prints each mail (Flask-Mailman's console backend)."""
    config["MAIL_DEFAULT_SENDER"] = settings.MAIL_FROM
    if settings.MAIL_SERVER:
        config["MAIL_BACKEND"] = "smtp"
        config["ALERTS_ENABLED"] = True
    else:
        config["MAIL_BACKEND"] = "console" if settings.ENV == "development" else "locmem"
        config["ALERTS_ENABLED"] = settings.ENV == "development"
