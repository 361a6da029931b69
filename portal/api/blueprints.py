"""The JSON blueprints, one per body family, with the error handlers that answer
in that family's shape; apart from the package so that the route modules import them downward."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, g, request
from werkzeug.exceptions import HTTPException

from ..availability import database_unavailable
from ..services.errors import DomainError
from ..transaction import rollback_after_error
from .errors import (
    ENVELOPE,
    SSF,
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


def _install_error_handlers(bp: ApiBlueprint | SsfBlueprint) -> None:
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


# Flashback routes: {"success": ...} bodies.
envelope = ApiBlueprint("api_envelope", __name__, ENVELOPE)
# TKT routes: bare rows, {"error": {"code", "message"}} errors.
token_rows = ApiBlueprint("api_token_rows", __name__, TOKEN_ROWS)


class SsfBlueprint(Blueprint):
    """Shared Signals stream management: JSON errors in OAuth's words like a JSON family's,
    answers never cached (SSF 1.0 section 8.1). Not an ``ApiBlueprint``: SSF 1.0 is its
    document, so ``/openapi.json`` (built from the ``ApiBlueprint`` routes) leaves it out."""

    cookieless = True
    rate_limit = "RATELIMIT_API"
    family = SSF

    def __init__(self, name: str, import_name: str) -> None:
        super().__init__(name, import_name)
        _install_error_handlers(self)
        self.after_request(_no_content_has_no_body)
        self.after_request(_not_stored)


def _not_stored(response):
    response.headers.setdefault("Cache-Control", "no-store")
    return response


ssf = SsfBlueprint("api_ssf", __name__)
