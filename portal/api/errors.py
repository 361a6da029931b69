"""JSON errors in the two documented shapes, and what each route says when it fails.

*Envelope* routes (Flashback "device-session-management") answer
``shapes.errors.EnvelopeError``; *token-row* routes (TKT "auth/devices") answer
``shapes.errors.TokenRowError``; Shared Signals stream management (``ssf_routes``)
``shapes.errors.SsfError``, in OAuth's words. A route's family is its blueprint's (see
``api/__init__``); ``family_for_path`` only serves requests no route took.
"""

from __future__ import annotations

from collections.abc import Callable

from ..availability import RETRY_AFTER_SECONDS
from ..services.errors import DomainError
from .shapes.base import Shape
from .shapes.errors import EnvelopeError, SsfError, TokenRowError, TokenRowErrorDetail

ENVELOPE, TOKEN_ROWS, SSF = "envelope", "token_rows", "ssf"

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error answer; the family of the route decides its body shape."""

    def __init__(self, status: int, message: str, code: str | None = None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "error")
        self.headers = headers or {}


def from_http_exception(error) -> ApiError:
    """An ApiError for a werkzeug HTTPException (404 from routing, 429 from the limiter...)."""
    status = error.code or 500
    headers = passed_on_headers(error)
    if status == 429:
        return ApiError(
            429, f"Too many requests (limit: {error.description}); try again later", headers=headers
        )
    return ApiError(status, error.description or error.name, headers=headers)


_SAYS_ATTR = "_api_domain_error_messages"


def says(kind: type[DomainError], message: str) -> Callable:
    """Declare, on the route itself, what it says for a domain error of ``kind`` when its
    documented words differ from the operation's (the TKT routes call a session a "device").

    Place it under the route decorators, like ``failure``.
    """

    def mark(view: Callable) -> Callable:
        setattr(view, _SAYS_ATTR, {**getattr(view, _SAYS_ATTR, {}), kind: message})
        return view

    return mark


def from_domain_error(error: DomainError, view: Callable | None = None) -> ApiError:
    """The answer to a domain error: its status, its code when it names one, and its message,
    unless ``view`` declared its own words for that kind (``says``)."""
    declared = getattr(view, _SAYS_ATTR, {})
    message = next(
        (said for kind, said in declared.items() if isinstance(error, kind)), error.message
    )
    return ApiError(error.status, message, code=error.code)


def passed_on_headers(error) -> dict[str, str]:
    """The headers an HTTP error carries besides its body's type: ``Allow`` on a 405 (RFC 9110
    says it must), ``Retry-After``, ``WWW-Authenticate``..., kept whatever body answers it."""
    return {
        name: value
        for name, value in error.get_headers()
        if name.lower() not in ("content-type", "content-length")
    }


def unavailable() -> ApiError:
    """The answer of any route while the database cannot be reached: 503, try again later."""
    return ApiError(
        503,
        "The service is unavailable for a moment (its database cannot be reached); try again",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


# The model of each family's error body.
ERROR_MODELS: dict[str, type[Shape]] = {
    ENVELOPE: EnvelopeError,
    TOKEN_ROWS: TokenRowError,
    SSF: SsfError,
}
# Shared Signals errors say OAuth's words (RFC 6749 5.2, RFC 6750 3.1) where one fits.
_SSF_CODES = {400: "invalid_request", 401: "invalid_token", 403: "insufficient_scope"}


def error_shape(error: ApiError, family: str) -> EnvelopeError | TokenRowError | SsfError:
    """The documented body of ``error`` in ``family``'s shape."""
    if family == TOKEN_ROWS:
        return TokenRowError(error=TokenRowErrorDetail(code=error.code, message=error.message))
    if family == SSF:
        code = _SSF_CODES.get(error.status, error.code)
        if error.status == 401 and "error=" not in error.headers.get("WWW-Authenticate", ""):
            code = error.code  # no token at all: RFC 6750 3.1 gives that no error code
        return SsfError(error=code, error_description=error.message)
    return EnvelopeError(error=error.message)


def render(error: ApiError, family: str):
    response = error_shape(error, family).answer(error.status)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


# What an unexpected failure (500) says when its route declares nothing.
DEFAULT_FAILURE = "Internal server error"
_FAILURE_ATTR = "_api_failure_message"


def failure(message: str) -> Callable:
    """Declare, on the route itself, what its unexpected failure (500) says.

    The blueprint's 500 handler and the OpenAPI document both read it, so renaming the view
    keeps it. Place it under the route decorators: ``@failure("Failed to retrieve devices")``.
    """

    def mark(view: Callable) -> Callable:
        setattr(view, _FAILURE_ATTR, message)
        return view

    return mark


def failure_message(view: Callable | None) -> str:
    """What ``view`` says when it fails unexpectedly (``DEFAULT_FAILURE`` unless declared)."""
    return getattr(view, _FAILURE_ATTR, DEFAULT_FAILURE)


# The TKT document's samples call the API under this version prefix (see token_row_routes).
VERSION_PREFIX = "/v1"


def _unversioned(path: str) -> str:
    """``/v1/auth/devices/...`` stands for ``/auth/devices/...``: classify it as that path."""
    if path.startswith(VERSION_PREFIX + "/"):
        return path[len(VERSION_PREFIX) :]
    return path


# Shared Signals stream management (``ssf_routes``): its unrouted errors answer in its shape.
SSF_MANAGEMENT_PATHS = (
    "/ssf/streams",
    "/ssf/status",
    "/ssf/subjects:",
    "/ssf/verify",
    "/ssf/poll/",
)


def family_for_path(path: str) -> str:
    """Which documented family a URL belongs to, for errors raised before routing.

    A routed request's family is its blueprint's (each blueprint renders its own errors); this
    covers the rest: unknown URLs and methods a URL does not allow.
    """
    if _unversioned(path).startswith(("/auth/devices", "/devices/users", "/audit/events")):
        return TOKEN_ROWS
    if path.startswith(SSF_MANAGEMENT_PATHS):
        return SSF
    return ENVELOPE


def is_api_path(path: str) -> bool:
    if path.startswith(SSF_MANAGEMENT_PATHS):
        return True
    path = _unversioned(path)
    return path in ("/devices", "/audit/events") or path.startswith(
        ("/devices/", "/sessions", "/auth/devices", "/api/")
    )
