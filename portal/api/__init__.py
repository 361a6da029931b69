"""The documented JSON routes, in two blueprints: each blueprint is one body family.

A route's family (envelope or token rows) is declared once, by the blueprint it is on: its
errors, 500s included, answer in that family's shape (``errors``, ``shapes``), and the OpenAPI
document reads the family from there too. Each route declares its own 500 message with
``errors.failure``.
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from ..availability import database_unavailable
from ..extensions import csrf, db
from .errors import (
    ENVELOPE,
    TOKEN_ROWS,
    ApiError,
    failure_message,
    from_http_exception,
    render,
    unavailable,
)

log = logging.getLogger(__name__)


class ApiBlueprint(Blueprint):
    """JSON routes of one documented family, whose errors take that family's shape."""

    cookieless = True  # bearer tokens only: the browser's session cookie is never sent back
    rate_limit = "RATELIMIT_API"  # per client address (``portal.ratelimit``)

    def __init__(self, name: str, import_name: str, family: str) -> None:
        super().__init__(name, import_name)
        self.family = family
        _install_error_handlers(self)
        self.after_request(_no_content_has_no_body)


def _install_error_handlers(bp: ApiBlueprint) -> None:
    @bp.errorhandler(ApiError)
    def _api_error(error: ApiError):
        db.session.rollback()
        return render(error, bp.family)

    @bp.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        db.session.rollback()
        return render(from_http_exception(error), bp.family)

    @bp.errorhandler(Exception)
    def _unexpected(error: Exception):
        try:
            db.session.rollback()
        except Exception as exc:  # the database may be gone; the answer must not be
            log.warning("rollback after an error failed too: %r", exc)
        if database_unavailable(error):  # an outage, not a bug: 503, try again later
            log.warning(
                "database unavailable in %s (request id %s): %s",
                request.endpoint,
                g.get("request_id"),
                error,
            )
            return render(unavailable(), bp.family)
        log.exception(
            "unexpected error in %s (request id %s)", request.endpoint, g.get("request_id")
        )
        view = current_app.view_functions.get(request.endpoint or "")
        return render(ApiError(500, failure_message(view)), bp.family)


def _no_content_has_no_body(response):
    """A 204 ends with its headers: no body, no Content-Type, no Content-Length (RFC 9110)."""
    if response.status_code == 204:
        response.response = []
        for name in ("Content-Type", "Content-Length"):
            response.headers.remove(name)
    return response


# Flashback routes: {"success": ...} bodies.
envelope = ApiBlueprint("api_envelope", __name__, ENVELOPE)
# TKT routes: bare rows, {"error": {"code", "message"}} errors.
token_rows = ApiBlueprint("api_token_rows", __name__, TOKEN_ROWS)

from . import (  # noqa: E402, F401
    admin_routes,
    audit_routes,
    envelope_routes,
    openapi,
    sign_in_routes,
    token_row_routes,
)


class IdSegment(BaseConverter):
    """A path segment standing for an id: anything but the fixed words beside it.

    ``/devices/trust`` and ``/auth/devices/revoke-all`` are resources of their own, not the
    device (or session) with id ``trust``: so ``GET /devices/trust`` is a 405 that allows
    POST (and ``Allow`` lists only the methods a resource has), not a lookup of that id.
    """

    regex = r"(?!(?:trust|revoke-all)$)[^/]+"
    part_isolating = True


def init_app(app) -> None:
    csrf.exempt(envelope)
    csrf.exempt(token_rows)
    # The JSON routes' <id> segments (their rules keep the plain <name> spelling) are IdSegment;
    # rules are compiled as they are added, so the pages' converters stay as they were.
    default = app.url_map.converters["default"]
    app.url_map.converters["default"] = IdSegment
    try:
        app.register_blueprint(envelope)
        app.register_blueprint(token_rows)
    finally:
        app.url_map.converters["default"] = default
