"""Configuration read from ``PORTAL_*`` environment variables, validated before the app starts.

Flask's ``from_prefixed_env("PORTAL")`` does the reading (values are parsed as JSON when they can
be), so Flask's own settings work through the same prefix. ``validate`` then turns every portal
setting into its proper type and refuses to start on a bad or missing value.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import limits

ENVIRONMENTS = ("production", "development", "testing")
PERMISSIONS = ("viewUserDevices", "manageUserDevices", "viewAuditLog")


class ConfigError(RuntimeError):
    """A configuration value is missing or malformed; the message names the variable."""


DEFAULTS: dict[str, Any] = {
    "ENV": "production",
    "OIDC_SCOPES": "openid email profile",
    "OIDC_GROUPS_CLAIM": "groups",
    "GROUP_PERMISSIONS": {},
    "API_AUDIENCE": None,
    # The bearer secret the IdP's SCIM client sends to /scim/v2; None: no SCIM service (404).
    "SCIM_TOKEN": None,
    "GEOIP_DATABASE": None,
    "TRUSTED_PROXIES": 0,
    "SESSION_LIFETIME": 8 * 3600,
    "SESSION_IDLE_TIMEOUT": 2 * 3600,
    "SESSION_ABSOLUTE_LIFETIME": 24 * 3600,
    "DEVICE_TRUST_DAYS": 30,
    "DEVICE_COOKIE_DAYS": 400,
    "OIDC_CLIENT_SECRET": None,
    "OIDC_TIMEOUT": 10,
    # Sent as max_age on every authorization request, so the ID token carries auth_time.
    "OIDC_MAX_AGE": 24 * 3600,
    # How old (by iat) a back-channel logout token may be, in seconds.
    "BACKCHANNEL_LOGOUT_MAX_AGE": 300,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": None,
    "PAGE_SIZE": 50,
    "RATELIMIT_SIGN_IN": "30 per minute",
    "RATELIMIT_API": "300 per minute",
    # None: Redis when PORTAL_REDIS_URL is set, else in-process memory (see validate).
    "RATELIMIT_STORAGE_URI": None,
    # Shared state of several instances (rate limits, the token cache); None: none.
    "REDIS_URL": None,
    # Ended sessions older than this many days are deleted by `flask portal prune`.
    "HISTORY_DAYS": 180,
    # Request bodies over this many bytes answer 413, before any view runs.
    "MAX_BODY_BYTES": 64 * 1024,
    # Seconds a statement waits for a lock (SQLite's busy timeout, PostgreSQL's lock_timeout)
    # and, on PostgreSQL, runs at most (statement_timeout): past them the request answers 503.
    # A page promises its 503 within 2 s: one lock wait, with room for the rest of the request.
    "DATABASE_LOCK_TIMEOUT": 1.0,
    "DATABASE_STATEMENT_TIMEOUT": 10,
    # Sign-in alerts by mail (Flask-Mailman reads the MAIL_* keys). No server: alerts are off
    # (in development the worker prints mail instead).
    "MAIL_SERVER": None,
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_FROM": "Device Portal <device-portal@localhost>",
    "MAIL_TIMEOUT": 10,
    # Which sign-ins are mailed to users who chose nothing: new_device, flagged or none.
    "ALERTS_DEFAULT": "new_device",
    # Users cannot turn off the mail about flagged sign-ins (new country, impossible travel).
    "ALERTS_FORCE_FLAGGED": False,
    # Telling the IdP when the portal ends a session (SSF push of CAEP session-revoked SETs).
    # No receiver URL: no IdP is told, and nothing is queued.
    "SSF_RECEIVER_URL": None,
    "SSF_RECEIVER_TOKEN": None,
    # The SETs' aud; None: the IdP's issuer (PORTAL_OIDC_ISSUER).
    "SSF_AUDIENCE": None,
    # The SETs' iss: the portal's public origin, where /.well-known/ssf-configuration is.
    "SSF_ISSUER": None,
    # A private JWK (JSON) or PEM key; None outside production: one generated once into the
    # instance folder.
    "SSF_SIGNING_KEY_FILE": None,
    "SSF_TIMEOUT": 10,
    # GET /audit/events hands out only events at least this many seconds old, so a transaction
    # that took its event id earlier but commits later is never skipped by a cursor.
}
# Seconds to wait for a PostgreSQL connection (libpq's connect_timeout; 2 is its minimum).
DATABASE_CONNECT_TIMEOUT = 2


def load(app, overrides: dict[str, Any] | None = None) -> None:
    """Fill ``app.config`` from defaults, the environment and ``overrides``, then validate it."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    # Flask has its own defaults for these; None marks "not set" so ours can apply.
    app.config["SESSION_COOKIE_SECURE"] = None
    app.config["SESSION_COOKIE_NAME"] = None
    app.config.from_prefixed_env("PORTAL")
    if overrides:
        app.config.update(overrides)
    validate(app.config, instance_path=app.instance_path)


def _as_int(config: dict, key: str, minimum: int = 0) -> None:
    value = config.get(key)
    try:
        number = int(value)
        if isinstance(value, bool) or number < minimum:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(
            f"PORTAL_{key} must be a whole number >= {minimum}, got {value!r}"
        ) from None
    config[key] = number


def _as_bool(config: dict, key: str) -> None:
    value = config.get(key)
    if isinstance(value, bool):
        return
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        config[key] = True
    elif text in ("0", "false", "no", "off"):
        config[key] = False
    else:
        raise ConfigError(f"PORTAL_{key} must be true or false, got {value!r}")


def _as_seconds(config: dict, key: str) -> None:
    value = config.get(key)
    try:
        number = float(value)
        if isinstance(value, bool) or not 0 < number <= 3600:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(
            f"PORTAL_{key} must be a number of seconds above 0 (at most 3600), got {value!r}"
        ) from None
    config[key] = number


def _engine_options(config: dict) -> dict:
    """How long the database may keep a request waiting, so an outage (a locked database, a
    stopped server) answers 503 in seconds. (A pooled PostgreSQL connection that sat idle is
    pinged before reuse: ``extensions._ping_after_idle``.)"""
    lock, statement = config["DATABASE_LOCK_TIMEOUT"], config["DATABASE_STATEMENT_TIMEOUT"]
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return {"connect_args": {"timeout": lock}}
    return {
        "connect_args": {
            "connect_timeout": DATABASE_CONNECT_TIMEOUT,
            "options": f"-c lock_timeout={int(lock * 1000)} "
            f"-c statement_timeout={int(statement * 1000)}",
        },
    }


def _database_url(config: dict, instance_path: str) -> str:
    url = config.get("DATABASE_URL") or config.get("SQLALCHEMY_DATABASE_URI")
    if not url:
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        return "sqlite:///" + os.path.join(instance_path, "portal.db")
    url = str(url)
    # psycopg 3 is the driver we ship; accept the plain URLs operators usually have.
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    if not url.startswith(("sqlite:", "postgresql+")):
        raise ConfigError(f"PORTAL_DATABASE_URL must be a sqlite or postgresql URL, got {url!r}")
    return url


def _group_permissions(value: Any) -> dict[str, list[str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"PORTAL_GROUP_PERMISSIONS is not valid JSON: {exc}") from None
    if not isinstance(value, dict) or not all(
        isinstance(perms, list) and all(isinstance(p, str) for p in perms)
        for perms in value.values()
    ):
        raise ConfigError(
            "PORTAL_GROUP_PERMISSIONS must be a JSON object mapping group names to lists of "
            'permission names, e.g. {"helpdesk": ["viewUserDevices"]}'
        )
    unknown = sorted({p for perms in value.values() for p in perms} - set(PERMISSIONS))
    if unknown:
        raise ConfigError(
            f"PORTAL_GROUP_PERMISSIONS names unknown permissions {unknown}; "
            f"known: {list(PERMISSIONS)}"
        )
    return {str(group): list(perms) for group, perms in value.items()}


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _redis_settings(config: dict) -> None:
    """PORTAL_REDIS_URL, and the rate limits' storage: an explicit
    PORTAL_RATELIMIT_STORAGE_URI wins, else Redis when configured, else process memory."""
    url = config.get("REDIS_URL")
    if url:
        url = str(url).strip()
        if not url.startswith(REDIS_SCHEMES):
            raise ConfigError(
                "PORTAL_REDIS_URL must be a redis://, rediss:// or unix:// URL, got one "
                f"starting with {url.split('://', 1)[0][:16]!r}"  # the rest may hold a password
            )
    config["REDIS_URL"] = url or None
    storage = config.get("RATELIMIT_STORAGE_URI")
    config["RATELIMIT_STORAGE_URI"] = str(storage).strip() if storage else url or "memory://"


# A SCIM token is the only key to every account's provisioning: refuse a guessable one.
SCIM_TOKEN_MIN_LENGTH = 32


def _scim_token(config: dict) -> None:
    """PORTAL_SCIM_TOKEN: unset or empty turns the SCIM service off; a set one must be long."""
    token = config.get("SCIM_TOKEN")
    token = str(token).strip() if token not in (None, False) else ""
    if token and (len(token) < SCIM_TOKEN_MIN_LENGTH or any(c.isspace() for c in token)):
        raise ConfigError(
            f"PORTAL_SCIM_TOKEN must be at least {SCIM_TOKEN_MIN_LENGTH} characters without "
            "spaces (a long random string, e.g. from `openssl rand -hex 32`)"
        )
    config["SCIM_TOKEN"] = token or None


ALERT_MODES = ("new_device", "flagged", "none")


def _mail_settings(config: dict, env: str) -> None:
    """The SMTP server and the alerts' defaults. Without a server alerts are off, except in
    development, where the worker prints each mail (Flask-Mailman's console backend)."""
    server = config.get("MAIL_SERVER")
    config["MAIL_SERVER"] = str(server).strip() if server else None
    _as_int(config, "MAIL_PORT", minimum=1)
    _as_bool(config, "MAIL_USE_TLS")
    _as_bool(config, "MAIL_USE_SSL")
    if config["MAIL_USE_TLS"] and config["MAIL_USE_SSL"]:
        raise ConfigError("PORTAL_MAIL_USE_TLS and PORTAL_MAIL_USE_SSL cannot both be true")
    _as_seconds(config, "MAIL_TIMEOUT")
    sender = str(config.get("MAIL_FROM") or "").strip()
    if "@" not in sender:
        raise ConfigError(f"PORTAL_MAIL_FROM must be a mail address, got {sender!r}")
    config["MAIL_FROM"] = config["MAIL_DEFAULT_SENDER"] = sender
    mode = str(config.get("ALERTS_DEFAULT") or "").strip().lower()
    if mode not in ALERT_MODES:
        raise ConfigError(f"PORTAL_ALERTS_DEFAULT must be one of {ALERT_MODES}, got {mode!r}")
    config["ALERTS_DEFAULT"] = mode
    _as_bool(config, "ALERTS_FORCE_FLAGGED")
    if config["MAIL_SERVER"]:
        config["MAIL_BACKEND"] = "smtp"
        config["ALERTS_ENABLED"] = True
    else:
        config["MAIL_BACKEND"] = "console" if env == "development" else "locmem"
        config["ALERTS_ENABLED"] = env == "development"


def _http_url(config: dict, key: str) -> str | None:
    value = config.get(key)
    value = str(value).strip() if value not in (None, False) else ""
    if value and not value.startswith(("https://", "http://")):
        raise ConfigError(f"PORTAL_{key} must be an http(s) URL, got {value[:64]!r}")
    config[key] = value or None
    return config[key]


def _ssf_settings(config: dict, env: str) -> None:
    """Telling the IdP about ended sessions (``portal.ssf``): all of it only with a receiver.

    The signing key is read here, so a bad key file stops start-up rather than the first send.
    """
    _as_seconds(config, "SSF_TIMEOUT")
    token = config.get("SSF_RECEIVER_TOKEN")
    config["SSF_RECEIVER_TOKEN"] = str(token).strip() or None if token else None
    receiver = _http_url(config, "SSF_RECEIVER_URL")
    issuer = _http_url(config, "SSF_ISSUER")
    config["SSF_ISSUER"] = issuer.rstrip("/") if issuer else None
    audience = config.get("SSF_AUDIENCE")
    config["SSF_AUDIENCE"] = str(audience).strip() or None if audience else None
    key_file = config.get("SSF_SIGNING_KEY_FILE")
    config["SSF_SIGNING_KEY_FILE"] = str(key_file) if key_file else None
    if not receiver:
        return
    if not config["SSF_ISSUER"]:
        raise ConfigError(
            "PORTAL_SSF_ISSUER (the portal's public origin, e.g. https://devices.example.com) "
            "is required when PORTAL_SSF_RECEIVER_URL is set"
        )
    config["SSF_AUDIENCE"] = config["SSF_AUDIENCE"] or config.get("OIDC_ISSUER")
    if not config["SSF_AUDIENCE"]:
        raise ConfigError("PORTAL_SSF_AUDIENCE is required when there is no PORTAL_OIDC_ISSUER")
    if not config["SSF_SIGNING_KEY_FILE"]:
        if env == "production":
            raise ConfigError(
                "PORTAL_SSF_SIGNING_KEY_FILE (a private EC P-256 or RSA key, JWK or PEM) is "
                "required in production when PORTAL_SSF_RECEIVER_URL is set"
            )
        return
    from .ssf.keys import InvalidSigningKey, read_signing_key

    try:
        read_signing_key(config["SSF_SIGNING_KEY_FILE"])
    except InvalidSigningKey as exc:
        raise ConfigError(f"PORTAL_SSF_SIGNING_KEY_FILE: {exc}") from None


def validate(config: dict, instance_path: str) -> None:
    """Normalise types and refuse a configuration the portal cannot run safely with."""
    env = str(config.get("ENV", "production")).lower()
    if env not in ENVIRONMENTS:
        raise ConfigError(f"PORTAL_ENV must be one of {ENVIRONMENTS}, got {env!r}")
    config["ENV"] = env
    config["TESTING"] = config.get("TESTING") or env == "testing"

    if not config.get("SECRET_KEY"):
        if env == "production":
            raise ConfigError(
                "PORTAL_SECRET_KEY is required in production (a long random string); "
                "set PORTAL_ENV=development for a local run"
            )
        config["SECRET_KEY"] = "development-only-secret-key"
    config["SECRET_KEY"] = str(config["SECRET_KEY"])

    _as_int(config, "TRUSTED_PROXIES", minimum=0)
    for key in (
        "SESSION_LIFETIME",
        "SESSION_IDLE_TIMEOUT",
        "SESSION_ABSOLUTE_LIFETIME",
        "DEVICE_TRUST_DAYS",
        "DEVICE_COOKIE_DAYS",
        "OIDC_TIMEOUT",
        "OIDC_MAX_AGE",
        "BACKCHANNEL_LOGOUT_MAX_AGE",
        "PAGE_SIZE",
    ):
        _as_int(config, key, minimum=1)
    if config["SESSION_ABSOLUTE_LIFETIME"] < config["SESSION_LIFETIME"]:
        config["SESSION_ABSOLUTE_LIFETIME"] = config["SESSION_LIFETIME"]

    if config.get("SESSION_COOKIE_SECURE") is None:
        config["SESSION_COOKIE_SECURE"] = env == "production"
    _as_bool(config, "SESSION_COOKIE_SECURE")
    _as_bool(config, "SESSION_COOKIE_HTTPONLY")
    samesite = str(config.get("SESSION_COOKIE_SAMESITE") or "Lax").capitalize()
    if samesite not in ("Lax", "Strict", "None"):
        raise ConfigError("PORTAL_SESSION_COOKIE_SAMESITE must be Lax, Strict or None")
    config["SESSION_COOKIE_SAMESITE"] = samesite
    # A __Host- cookie is host-only, Secure and Path=/: the strongest scope a browser offers.
    prefix = "__Host-" if config["SESSION_COOKIE_SECURE"] else ""
    config["SESSION_COOKIE_NAME"] = config.get("SESSION_COOKIE_NAME") or prefix + "portal_session"
    config.setdefault("DEVICE_COOKIE_NAME", prefix + "portal_device")
    config["SESSION_COOKIE_DOMAIN"] = None
    config["SESSION_COOKIE_PATH"] = "/"
    config["PERMANENT_SESSION_LIFETIME"] = config["SESSION_ABSOLUTE_LIFETIME"]

    config["SQLALCHEMY_DATABASE_URI"] = _database_url(config, instance_path)
    _as_seconds(config, "DATABASE_LOCK_TIMEOUT")
    _as_seconds(config, "DATABASE_STATEMENT_TIMEOUT")
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **_engine_options(config),
        **(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}),
    }
    config["GROUP_PERMISSIONS"] = _group_permissions(config.get("GROUP_PERMISSIONS"))
    config["OIDC_SCOPES"] = " ".join(str(config["OIDC_SCOPES"]).split())
    if "openid" not in config["OIDC_SCOPES"].split():
        raise ConfigError("PORTAL_OIDC_SCOPES must include openid")

    issuer = config.get("OIDC_ISSUER")
    if issuer:
        issuer = str(issuer).rstrip("/")
        if not issuer.startswith(("https://", "http://")):
            raise ConfigError(f"PORTAL_OIDC_ISSUER must be an http(s) URL, got {issuer!r}")
        if not config.get("OIDC_CLIENT_ID"):
            raise ConfigError("PORTAL_OIDC_CLIENT_ID is required when PORTAL_OIDC_ISSUER is set")
        config["OIDC_ISSUER"] = issuer
        config["OIDC_CLIENT_ID"] = str(config["OIDC_CLIENT_ID"])
    elif env == "production":
        raise ConfigError("PORTAL_OIDC_ISSUER is required in production")
    if not config.get("API_AUDIENCE"):
        config["API_AUDIENCE"] = None

    for key in ("RATELIMIT_SIGN_IN", "RATELIMIT_API"):
        try:
            limits.parse_many(str(config[key]))
        except ValueError:
            raise ConfigError(
                f"PORTAL_{key} must be a rate limit like '30 per minute', got {config[key]!r}"
            ) from None

    _scim_token(config)
    _redis_settings(config)
    _mail_settings(config, env)
    _ssf_settings(config, env)
    _as_int(config, "HISTORY_DAYS", minimum=1)

    _as_int(config, "MAX_BODY_BYTES", minimum=1)
    # Flask's own limit: a body sent without Content-Length is cut when read past it.
    config["MAX_CONTENT_LENGTH"] = config["MAX_BODY_BYTES"]

    geoip = config.get("GEOIP_DATABASE")
    if geoip and not Path(str(geoip)).is_file():
        raise ConfigError(f"PORTAL_GEOIP_DATABASE points at {geoip!r}, which is not a file")
