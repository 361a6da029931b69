"""The parsers of the ``PORTAL_*`` values, each turning one value into its field's type.

A value arrives as Flask's ``from_prefixed_env`` reads it (``FlaskEnvironment``): parsed as JSON
when it can be, so ``PORTAL_PAGE_SIZE=20`` is a number and ``PORTAL_GROUP_PERMISSIONS`` an
object, else text; a test may pass typed values directly. A parser returns the typed value or
raises ValueError with a message that names the variable (``portal.config`` reports it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import limits
from flask import Config
from pydantic import BeforeValidator, Field, ValidationInfo
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

ENVIRONMENTS = ("production", "development", "testing")
PERMISSIONS = ("viewUserDevices", "manageUserDevices", "viewAuditLog")
ALERT_MODES = ("new_device", "flagged", "none")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# A SCIM token is the only key to every account's provisioning: refuse a guessable one.
SCIM_TOKEN_MIN_LENGTH = 32


def _variable(info: ValidationInfo) -> str:
    return f"PORTAL_{info.field_name}"


def _parser(parse: Callable[[Any, str], Any]) -> BeforeValidator:
    """A field's parser: ``parse(value, variable)`` returns the typed value or raises
    ValueError with a message that names the variable."""
    return BeforeValidator(lambda value, info: parse(value, _variable(info)))


def _whole(value: Any, name: str, minimum: int) -> int:
    try:
        number = int(value)
        if isinstance(value, bool) or number < minimum:
            raise ValueError
    except (TypeError, ValueError, OverflowError):  # 1e999 is JSON for infinity
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}") from None
    return number


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _seconds(value: Any, name: str) -> float:
    try:
        number = float(value)
        if isinstance(value, bool) or not 0 < number <= 3600:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a number of seconds above 0 (at most 3600), got {value!r}"
        ) from None
    return number


def _poll_wait(value: Any, name: str) -> float:
    """A poll's longest hold: 0 to 30 seconds, so a waiting receiver ties up a worker briefly."""
    try:
        number = float(value)
        if isinstance(value, bool) or not 0 <= number <= 30:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a number of seconds from 0 to 30, got {value!r}"
        ) from None
    return number


def _text(value: Any, _name: str) -> str | None:
    """Any value as text; an empty one is no value."""
    return str(value) if value not in (None, False, "") else None


def _stripped(value: Any, _name: str) -> str | None:
    return str(value).strip() or None if value not in (None, False, "") else None


def _http_url(value: Any, name: str) -> str | None:
    url = str(value).strip() if value not in (None, False) else ""
    if url and not url.startswith(("https://", "http://")):
        raise ValueError(f"{name} must be an http(s) URL, got {url[:64]!r}")
    return url or None


def _origin(value: Any, name: str) -> str | None:
    url = _http_url(value, name)
    return url.rstrip("/") if url else None


def _environment(value: Any, name: str) -> str:
    env = str(value).lower()
    if env not in ENVIRONMENTS:
        raise ValueError(f"{name} must be one of {ENVIRONMENTS}, got {env!r}")
    return env


def _issuer(value: Any, name: str) -> str | None:
    if not value:
        return None
    issuer = str(value).rstrip("/")
    if not issuer.startswith(("https://", "http://")):
        raise ValueError(f"{name} must be an http(s) URL, got {issuer!r}")
    return issuer


def _scopes(value: Any, name: str) -> str:
    scopes = " ".join(str(value).split())
    if "openid" not in scopes.split():
        raise ValueError(f"{name} must include openid")
    return scopes


def _same_site(value: Any, name: str) -> str:
    same_site = str(value or "Lax").capitalize()
    if same_site not in ("Lax", "Strict", "None"):
        raise ValueError(f"{name} must be Lax, Strict or None")
    return same_site


def database_url(value: Any, name: str = "PORTAL_DATABASE_URL") -> str | None:
    """A SQLAlchemy URL for the driver we ship (psycopg 3), from the plain URLs operators
    usually have; None when there is none (SQLite in the instance folder then)."""
    if not value:
        return None
    url = str(value)
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    if not url.startswith(("sqlite:", "postgresql+")):
        raise ValueError(f"{name} must be a sqlite or postgresql URL, got {url!r}")
    return url


def _group_permissions(value: Any, name: str) -> dict[str, list[str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict) or not all(
        isinstance(perms, list) and all(isinstance(p, str) for p in perms)
        for perms in value.values()
    ):
        raise ValueError(
            f"{name} must be a JSON object mapping group names to lists of "
            'permission names, e.g. {"helpdesk": ["viewUserDevices"]}'
        )
    unknown = sorted({p for perms in value.values() for p in perms} - set(PERMISSIONS))
    if unknown:
        raise ValueError(f"{name} names unknown permissions {unknown}; known: {list(PERMISSIONS)}")
    return {str(group): list(perms) for group, perms in value.items()}


def _rate_limit(value: Any, name: str) -> str:
    try:
        limits.parse_many(str(value))
    except ValueError:
        raise ValueError(
            f"{name} must be a rate limit like '30 per minute', got {value!r}"
        ) from None
    return str(value)


def _redis_url(value: Any, name: str) -> str | None:
    url = str(value).strip() if value else ""
    if url and not url.startswith(REDIS_SCHEMES):
        raise ValueError(
            f"{name} must be a redis://, rediss:// or unix:// URL, got one "
            f"starting with {url.split('://', 1)[0][:16]!r}"  # the rest may hold a password
        )
    return url or None


def _scim_token(value: Any, name: str) -> str | None:
    token = str(value).strip() if value not in (None, False) else ""
    if token and (len(token) < SCIM_TOKEN_MIN_LENGTH or any(c.isspace() for c in token)):
        raise ValueError(
            f"{name} must be at least {SCIM_TOKEN_MIN_LENGTH} characters without "
            "spaces (a long random string, e.g. from `openssl rand -hex 32`)"
        )
    return token or None


def _bind(value: Any, name: str) -> str | None:
    """``host:port`` (``[::1]:9464`` for an IPv6 address): where a server listens."""
    text = str(value).strip() if value not in (None, False) else ""
    if not text:
        return None
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or " " in host:
        raise ValueError(f"{name} must be host:port (such as 127.0.0.1:9464), got {text!r}")
    return text


# What each transmitter of ``PORTAL_SSF_RECEIVE_TRANSMITTERS`` may say, and how it is read.
TRANSMITTER_FIELDS = {
    "issuer": _issuer,
    "token": _scim_token,
    "audience": _stripped,
    "jwks_url": _http_url,
    "poll_url": _http_url,
    "client_id": _text,
    "client_secret": _text,
    "token_url": _http_url,
    "resource": _stripped,
    "events": None,
}


def _transmitters(value: Any, name: str) -> list[dict[str, Any]]:
    """A JSON list of transmitter objects (``TRANSMITTER_FIELDS``), each field parsed as the
    single ``PORTAL_SSF_RECEIVE_*`` variable of the same name is."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name} is not valid JSON: {exc}") from None
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ValueError(
            f'{name} must be a JSON list of objects, e.g. [{{"issuer": "https://..."}}]'
        )
    parsed = []
    for i, given in enumerate(value):
        unknown = sorted(set(given) - set(TRANSMITTER_FIELDS))
        if unknown:
            raise ValueError(f"{name}[{i}] has unknown fields {unknown}")
        one: dict[str, Any] = {}
        for field, parse in TRANSMITTER_FIELDS.items():
            if parse is not None:
                one[field] = parse(given.get(field), f"{name}[{i}].{field}")
        events = given.get("events")
        if events is not None and not (
            isinstance(events, list) and all(isinstance(e, str) for e in events)
        ):
            raise ValueError(f"{name}[{i}].events must be a list of event type URIs")
        one["events"] = events
        parsed.append(one)
    return parsed


def _mail_address(value: Any, name: str) -> str:
    sender = str(value or "").strip()
    if "@" not in sender:
        raise ValueError(f"{name} must be a mail address, got {sender!r}")
    return sender


def _alert_mode(value: Any, name: str) -> str:
    mode = str(value or "").strip().lower()
    if mode not in ALERT_MODES:
        raise ValueError(f"{name} must be one of {ALERT_MODES}, got {mode!r}")
    return mode


def _log_format(value: Any, name: str) -> str:
    fmt = str(value or "").strip().lower()
    if fmt not in LOG_FORMATS:
        raise ValueError(f"{name} must be one of {LOG_FORMATS}, got {fmt!r}")
    return fmt


def _log_level(value: Any, name: str) -> str:
    level = str(value or "").strip().upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"{name} must be one of {LOG_LEVELS}, got {level!r}")
    return level


def _file(value: Any, name: str) -> str | None:
    if value and not Path(str(value)).is_file():
        raise ValueError(f"{name} points at {value!r}, which is not a file")
    return str(value) if value else None


@dataclass(frozen=True)
class Kind:
    """A type in words, for the documentation."""

    text: str


Count = Annotated[int, _parser(lambda value, name: _whole(value, name, 0)), Kind("integer ≥ 0")]
Positive = Annotated[int, _parser(lambda value, name: _whole(value, name, 1)), Kind("integer ≥ 1")]
MaybePositive = Annotated[
    int | None,
    _parser(lambda value, name: None if value is None else _whole(value, name, 1)),
    Kind("integer ≥ 1"),
]
Seconds = Annotated[float, _parser(_seconds), Kind("seconds, above 0, at most 3600")]
PollWait = Annotated[float, _parser(_poll_wait), Kind("seconds, 0 to 30")]
Flag = Annotated[bool, _parser(_flag), Kind("boolean")]
MaybeFlag = Annotated[
    bool | None,
    _parser(lambda value, name: None if value is None else _flag(value, name)),
    Kind("boolean"),
]
Text = Annotated[str | None, _parser(_text), Kind("text")]
Name = Annotated[str, _parser(lambda value, _name: str(value)), Kind("text")]
Stripped = Annotated[str | None, _parser(_stripped), Kind("text")]
HttpURL = Annotated[str | None, _parser(_http_url), Kind("http(s) URL")]
Origin = Annotated[str | None, _parser(_origin), Kind("http(s) URL")]
Environment = Annotated[str, _parser(_environment), Kind("one of " + ", ".join(ENVIRONMENTS))]
Issuer = Annotated[str | None, _parser(_issuer), Kind("http(s) URL")]
Scopes = Annotated[str, _parser(_scopes), Kind("scopes, space-separated")]
SameSite = Annotated[str, _parser(_same_site), Kind("Lax, Strict or None")]
DatabaseURL = Annotated[str | None, _parser(database_url), Kind("sqlite or postgresql URL")]
GroupPermissions = Annotated[dict[str, list[str]], _parser(_group_permissions), Kind("JSON object")]
RateLimit = Annotated[str, _parser(_rate_limit), Kind("rate limit")]
RedisURL = Annotated[str | None, _parser(_redis_url), Kind("redis URL")]
ScimToken = Annotated[str | None, _parser(_scim_token), Kind("text, 32 characters or more")]
Bind = Annotated[str | None, _parser(_bind), Kind("host:port")]
ReceiveToken = Annotated[str | None, _parser(_scim_token), Kind("text, 32 characters or more")]
Transmitters = Annotated[list[dict[str, Any]], _parser(_transmitters), Kind("JSON list")]
MailAddress = Annotated[str, _parser(_mail_address), Kind("mail address")]
AlertMode = Annotated[str, _parser(_alert_mode), Kind("one of " + ", ".join(ALERT_MODES))]
LogFormat = Annotated[str, _parser(_log_format), Kind("one of " + ", ".join(LOG_FORMATS))]
LogLevel = Annotated[str, _parser(_log_level), Kind("one of " + ", ".join(LOG_LEVELS))]
ExistingFile = Annotated[str | None, _parser(_file), Kind("path of a file")]


def setting(default: Any, description: str, shown: str | None = None) -> Any:
    """A field: its default, its one-line description, and how the documentation shows the
    default when the value itself would not say it (one worked out at start-up)."""
    return Field(default, description=description, json_schema_extra={"shown_default": shown})


class FlaskEnvironment(PydanticBaseSettingsSource):
    """The ``PORTAL_*`` variables as Flask's ``from_prefixed_env`` reads them: JSON when a value
    parses as JSON, text otherwise, ``__`` for a key inside a dict."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # every value is read at once, in __call__

    def __call__(self) -> dict[str, Any]:
        found = Config(".")
        found.from_prefixed_env(self.config["env_prefix"].removesuffix("_"))
        return {key: value for key, value in found.items() if key in self.settings_cls.model_fields}
