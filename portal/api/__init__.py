"""The documented JSON routes, in two blueprints by body family (see ``errors``)."""

from __future__ import annotations

import logging

from flask import Blueprint, request
from werkzeug.exceptions import HTTPException

from ..extensions import csrf, db
from .errors import ENVELOPE, TOKEN_ROWS, ApiError, from_http_exception, render

log = logging.getLogger(__name__)

# Flashback routes: {"success": ...} bodies.
envelope = Blueprint("api_envelope", __name__)
# TKT routes: bare rows, {"error": {"code", "message"}} errors.
token_rows = Blueprint("api_token_rows", __name__)

# What an unexpected failure says, per endpoint (the documents fix some of these texts).
FAILURE_MESSAGES: dict[str, str] = {}


def _install_error_handlers(bp: Blueprint, family: str) -> None:
    @bp.errorhandler(ApiError)
    def _api_error(error: ApiError):
        db.session.rollback()
        return render(error, family)

    @bp.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        db.session.rollback()
        return render(from_http_exception(error), family)

    @bp.errorhandler(Exception)
    def _unexpected(error: Exception):
        db.session.rollback()
        log.exception("unexpected error in %s", request.endpoint)
        message = FAILURE_MESSAGES.get(request.endpoint or "", "Internal server error")
        return render(ApiError(500, message), family)


def _no_content_has_no_body(response):
    """A 204 ends with its headers: no body, no Content-Type, no Content-Length (RFC 9110)."""
    if response.status_code == 204:
        response.response = []
        for name in ("Content-Type", "Content-Length"):
            response.headers.remove(name)
    return response


_install_error_handlers(envelope, ENVELOPE)
_install_error_handlers(token_rows, TOKEN_ROWS)
envelope.after_request(_no_content_has_no_body)
token_rows.after_request(_no_content_has_no_body)

from . import admin_routes, envelope_routes, openapi, token_row_routes  # noqa: E402, F401


def init_app(app) -> None:
    csrf.exempt(envelope)
    csrf.exempt(token_rows)
    app.register_blueprint(envelope)
    app.register_blueprint(token_rows)
