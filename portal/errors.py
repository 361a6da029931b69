"""Error answers: JSON in the documented shape on API paths, friendly pages elsewhere."""

from __future__ import annotations

import logging

from flask import g, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from .api.errors import ApiError, family_for_path, from_http_exception, is_api_path, render
from .extensions import db

log = logging.getLogger(__name__)

PAGES = {400: "errors/400.html", 403: "errors/403.html", 404: "errors/404.html"}


def _page(status: int, description: str | None = None):
    template = PAGES.get(status, "errors/generic.html")
    return render_template(template, status=status, description=description), status


def init_app(app) -> None:
    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if is_api_path(request.path):
            return render(from_http_exception(error), family_for_path(request.path))
        return _page(error.code or 500, error.description)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        db.session.rollback()
        log.exception("unhandled error (request id %s)", g.get("request_id"))
        if is_api_path(request.path):
            return render(ApiError(500, "Internal server error"), family_for_path(request.path))
        return _page(500, InternalServerError.description)
