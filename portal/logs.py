"""The portal's log lines: text or one JSON object a line, each with the request or job it
belongs to, and never a secret.

``configure`` installs the one handler on the root logger (``PORTAL_LOG_FORMAT``,
``PORTAL_LOG_LEVEL``). Two filters sit on that handler, so they see every record, the
libraries' included: ``ContextFilter`` adds what the current request or worker job put into
``CONTEXT`` (``bind``), and ``Redactor`` is the last resort against secrets that reached a
message anyway (bearer tokens, cookies, ``code=``/``state=`` and token parameters, JWTs,
personal tokens, alert links, the configured secrets themselves). Nothing here knows Flask:
``portal.request_log`` binds a request, the worker binds each job.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import secrets
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pythonjsonlogger.json import JsonFormatter

# What each line carries besides time, level, logger and message (null when not known).
CONTEXT_FIELDS = ("request_id", "route", "method", "client", "user_id", "job")
ACCESS_FIELDS = ("status", "duration_ms")
REDACTED = "[redacted]"

# The request or job being handled: request_id, route, method, client, job, and user_id (a
# value, or a callable asked when a line is written, since the caller is known late).
CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "portal_log_context", default=None
)

# Loggers that write through handlers of their own (gunicorn's error log, and its access
# log if an operator turns it on): the redactor sits on the logger itself.
_OWN_HANDLERS = ("gunicorn.error", "gunicorn.access")
# Loggers whose lines below INFO carry secrets that cannot be taken out at the source:
# Authlib's client logs the PKCE code verifier at DEBUG.
_QUIET_BELOW_INFO = ("authlib",)

_QUERY_SECRETS = (
    "code",
    "state",
    "nonce",
    "token",
    "access_token",
    "id_token",
    "id_token_hint",
    "refresh_token",
    "logout_token",
    "code_verifier",
    "client_secret",
    "session_state",
    "csrf_token",
    "password",
)
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization: Bearer/Basic ..., and a bare "Bearer <token>"
    (re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+(\s+[^\s\"',}]+)?"), r"\1"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 "),
    # Cookie and Set-Cookie headers, and the portal's own cookies by name
    (re.compile(r"(?i)\b((?:set-)?cookie[\"']?\s*[:=]\s*[\"']?)[^\n\"'}]+"), r"\1"),
    (re.compile(r"(?i)\b((?:__Host-)?portal_(?:session|device)=)[^;\s\"',]+"), r"\1"),
    # token-like parameters in a query string, a form body or "name: value" text
    (
        re.compile(
            r"(?i)(?<![A-Za-z0-9_])((?:" + "|".join(_QUERY_SECRETS) + r")[\"']?\s*[=:]\s*[\"']?)"
            r"[^\s&\"',;}]+"
        ),
        r"\1",
    ),
    # JWTs (ID, access, logout tokens; Security Event Tokens)
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), ""),
    # personal API tokens
    (re.compile(r"\bdpt_[A-Za-z0-9_-]{8,}"), "dpt_"),
    # an alert mail's link: the token is the path
    (re.compile(r"(/alerts/)(?!<token>)[^\s/?\"']+"), r"\1"),
]


def _replaced(keep: str, match: re.Match[str]) -> str:
    """What a pattern's match becomes: the part it keeps (a header's name), then the mark."""
    return match.expand(keep) + REDACTED


class Redactor(logging.Filter):
    """Takes known kinds of secret out of a record's message and exception text: the last
    resort behind code that never logs one. ``known`` are exact values (the configured
    secrets: the secret key, client secret, SCIM and receiver tokens...)."""

    def __init__(self, known: Iterable[str | None] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is taken out whole; short values
        # would take ordinary words with them.
        self.known = sorted({k for k in known if k and len(k) >= 8}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every secret it holds replaced by ``[redacted]``."""
        for value in self.known:
            if value in text:
                text = text.replace(value, REDACTED)
        for pattern, keep in _PATTERNS:
            text = pattern.sub(partial(_replaced, keep), text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place (its message formatted once, then redacted); never
        drops it."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: keep what it gave, as text
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.exc_info = None  # the formatters print exc_text, redacted, instead
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for name in ("route", "client", "job"):
            value = record.__dict__.get(name)
            if isinstance(value, str):
                record.__dict__[name] = self.redact(value)
        return True


class ContextFilter(logging.Filter):
    """Puts the current request's or job's fields on every record (None when there is none),
    so the formatters can name them."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context's fields the call did not give itself; never drops the record."""
        context = CONTEXT.get() or {}
        for name in CONTEXT_FIELDS:
            if name in record.__dict__:
                continue  # given by the call (``extra``): it wins
            value = context.get(name)
            if callable(value):
                try:
                    value = value()
                except Exception:  # never fail a log line over its context
                    value = None
            record.__dict__[name] = value
        return True


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[dict[str, Any]]:
    """Every line logged inside carries ``fields`` (on top of the enclosing ones)."""
    context = {**(CONTEXT.get() or {}), **fields}
    token = CONTEXT.set(context)
    try:
        yield context
    finally:
        CONTEXT.reset(token)


def job(kind: str, ident: object) -> contextlib.AbstractContextManager[dict[str, Any]]:
    """A worker's item of work: its lines carry ``job`` (``kind ident``) and a request id of
    their own, so one item's lines can be found together."""
    return bind(job=f"{kind} {ident}", request_id=new_request_id())


def new_request_id() -> str:
    """A fresh request id: 16 hex digits."""
    return secrets.token_hex(8)


def _utc_iso(created: float) -> str:
    """A record's time in UTC, ISO 8601 with milliseconds and ``Z``."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class JsonLines(JsonFormatter):
    """One JSON object a line, with the portal's field names and a UTC ISO 8601 time."""

    def __init__(self) -> None:
        super().__init__(json_ensure_ascii=False)

    def add_fields(
        self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """Every field on every line, in one order, so a reader never guesses which exist."""
        log_record["time"] = _utc_iso(record.created)
        log_record["level"] = record.levelname
        log_record["logger"] = record.name
        log_record["message"] = record.getMessage()
        for name in CONTEXT_FIELDS + ACCESS_FIELDS:
            log_record[name] = record.__dict__.get(name)
        for name in ("exc_info", "stack_info"):  # the library put them there, as text
            if message_dict.get(name):
                log_record[name] = message_dict[name]


class TextLines(logging.Formatter):
    """A plain line a person reads: time, level, logger, request id, message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_label)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The line, with ``-`` for the request id outside a request or job."""
        record.request_label = record.__dict__.get("request_id") or "-"
        return super().format(record)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """UTC, as the JSON lines have it."""
        return _utc_iso(record.created)


class _PortalHandler(logging.StreamHandler):
    """The handler ``configure`` installs (found again and replaced on a second call). With
    no stream of its own it writes to whatever ``sys.stderr`` is when a line is written, as
    a process whose standard error is replaced (a test runner's capture) expects."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__(stream)
        self._own = stream

    @property
    def stream(self) -> Any:
        """The stream given, else standard error as it is now."""
        return self._own if self._own is not None else sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        self._own = value if value is not sys.stderr else None


def configure(
    level: str = "INFO",
    fmt: str = "text",
    known_secrets: Iterable[str | None] = (),
    stream: Any = None,
    drop: Callable[[logging.LogRecord], bool] | None = None,
) -> logging.Handler:
    """Send every log line to ``stream`` (stderr) as ``fmt``, from ``level`` up.

    ``drop`` leaves out records someone else already writes (a development server's own
    request lines, which the access line replaces)."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _PortalHandler)]:
        root.removeHandler(old)
    handler = _PortalHandler(stream)
    if drop is not None:
        handler.addFilter(lambda record: not drop(record))
    redactor = Redactor(known_secrets)
    handler.addFilter(ContextFilter())
    handler.addFilter(redactor)
    for name in _OWN_HANDLERS:
        other = logging.getLogger(name)
        for old_filter in [f for f in other.filters if isinstance(f, Redactor)]:
            other.removeFilter(old_filter)
        other.addFilter(redactor)
    handler.setFormatter(JsonLines() if fmt == "json" else TextLines())
    root.addHandler(handler)
    root.setLevel(level)
    numeric = logging.getLevelName(level)
    for name in _QUIET_BELOW_INFO:
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))
    return handler
