"""JSON errors in the two documented shapes.

*Envelope* routes (Flashback "device-session-management") answer
``{"success": false, "error": "..."}``; *token-row* routes (TKT "auth/devices") answer
``{"error": {"code": "...", "message": "..."}}``.
"""

from __future__ import annotations

from flask import jsonify

ENVELOPE, TOKEN_ROWS = "envelope", "token_rows"

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
    if status == 429:
        return ApiError(429, f"Too many requests (limit: {error.description}); try again later")
    return ApiError(status, error.description or error.name)


def render(error: ApiError, family: str):
    if family == TOKEN_ROWS:
        body = {"error": {"code": error.code, "message": error.message}}
    else:
        body = {"success": False, "error": error.message}
    response = jsonify(body)
    response.status_code = error.status
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


# The TKT document's samples call the API under this version prefix (see token_row_routes).
VERSION_PREFIX = "/v1"


def _unversioned(path: str) -> str:
    """``/v1/auth/devices/...`` stands for ``/auth/devices/...``: classify it as that path."""
    if path.startswith(VERSION_PREFIX + "/"):
        return path[len(VERSION_PREFIX) :]
    return path


def family_for_path(path: str) -> str:
    """Which documented family a URL belongs to, for errors raised before routing.

    A routed request's family is its blueprint's (each blueprint renders its own errors); this
    covers the rest: unknown URLs and methods a URL does not allow.
    """
    if _unversioned(path).startswith(("/auth/devices", "/devices/users")):
        return TOKEN_ROWS
    return ENVELOPE


def is_api_path(path: str) -> bool:
    path = _unversioned(path)
    return path == "/devices" or path.startswith(
        ("/devices/", "/sessions", "/auth/devices", "/api/")
    )
