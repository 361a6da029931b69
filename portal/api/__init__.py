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
from ..extensions import csrf
from ..services.errors import DomainError
from ..transaction import rollback_after_error
from .errors import (
    ENVELOPE,
    TOKEN_ROWS,
    ApiError,
    failure_message,
    from_domain_error,
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
        rollback_after_error()
        return render(error, bp.family)

    @bp.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        rollback_after_error()
        view = current_app.view_functions.get(request.endpoint or "")
        return render(from_domain_error(error, view), bp.family)

    @bp.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        rollback_after_error()
        return render(from_http_exception(error), bp.family)

    @bp.errorhandler(Exception)
    def _unexpected(error: Exception):
        rollback_after_error()
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


class IdSegment(BaseConverter):
    """A path segment standing for an id: anything but the fixed words beside it.

    ``/devices/trust`` and ``/auth/devices/revoke-all`` are resources of their own, not the
    device (or session) with id ``trust``: so ``GET /devices/trust`` is a 405 that allows
    POST (and ``Allow`` lists only the methods a resource has), not a lookup of that id.
    """

    regex = r"(?!(?:trust|revoke-all)$)[^/]+"
    part_isolating = True
    # Every id of the JSON routes is a UUID; the route itself answers any other (404, or 400
    # on the token-row routes), so the type is documented here rather than enforced.
    openapi_schema = {"type": "string", "format": "uuid"}


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
