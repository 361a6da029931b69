"""Error answers: JSON in the documented shape on API paths, friendly pages elsewhere.

A domain error (``services.errors``) raised by an operation is answered here on pages: a
404/403/409/400 page, or, on a form whose view declared where back is (``flash_back``), the
message flashed and a redirect there, as those forms answer their own mistakes. The JSON
families answer it on their blueprints (``api``), SCIM in its own shape (``scim``).

A database outage (``availability.database_unavailable``) is a 503: a page that reads nothing
from the database (``errors/503.html`` leaves out who is signed in, which base.html would load),
or JSON in the route's shape, with ``Retry-After``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import current_app, flash, g, make_response, redirect, render_template, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError

from .api.errors import (
    ApiError,
    family_for_path,
    from_domain_error,
    from_http_exception,
    is_api_path,
    passed_on_headers,
    render,
    unavailable,
)
from .availability import RETRY_AFTER_SECONDS, database_unavailable
from .services.errors import Conflict, DomainError, Invalid
from .transaction import rollback_after_error

log = logging.getLogger(__name__)

PAGES = {
    400: "errors/400.html",
    403: "errors/403.html",
    404: "errors/404.html",
    409: "errors/409.html",
}

_FLASH_BACK = "_page_domain_errors_go_back_to"


def flash_back(back: Callable[[], str]) -> Callable:
    """Declare, on a page view, that a mistake a person can mend (``Invalid``, ``Conflict``)
    raised while it handles a POST is flashed and answered with a redirect to ``back()``
    (post/redirect/get) instead of an error page. Place it under the route decorator."""

    def mark(view: Callable) -> Callable:
        setattr(view, _FLASH_BACK, back)
        return view

    return mark


def _unavailable_page():
    """The 503 page, which reads nothing from the database."""
    response = _without_database("errors/503.html", 503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _page(status: int, description: str | None = None):
    template = PAGES.get(status, "errors/generic.html")
    try:
        return render_template(template, status=status, description=description), status
    except (DBAPIError, PoolTimeout) as exc:
        # base.html shows who is signed in, and loading them needs the database.
        rollback_after_error()
        if database_unavailable(exc):
            return _unavailable_page()
        return _without_database("errors/generic.html", status)


def _without_database(template: str, status: int):
    """An error page rendered without the context processors: Flask-Login's would load the
    signed-in user (from the database) for every template, and the database is what failed."""
    page = current_app.jinja_env.get_template(template)
    response = make_response(page.render(g=g, request=request, status=status), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app) -> None:
    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if is_api_path(request.path):
            return render(from_http_exception(error), family_for_path(request.path))
        response = make_response(_page(error.code or 500, error.description))
        for name, value in passed_on_headers(error).items():
            response.headers.setdefault(name, value)
        return response

    @app.errorhandler(DomainError)
    def _domain(error: DomainError):
        rollback_after_error()  # raised by a hook before the view (the view's own was rolled back)
        view = current_app.view_functions.get(request.endpoint or "")
        if is_api_path(request.path):
            return render(from_domain_error(error, view), family_for_path(request.path))
        back = getattr(view, _FLASH_BACK, None)
        if back is not None and request.method == "POST" and isinstance(error, Invalid | Conflict):
            flash(error.message, "error")
            return redirect(back())
        return make_response(_page(error.status, error.message))

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeout)
    def _database(error: Exception):
        if not database_unavailable(error):
            return _unexpected(error)
        rollback_after_error()
        log.warning(
            "database unavailable (request id %s): %s",
            g.get("request_id"),
            getattr(error, "orig", None) or error,
        )
        if is_api_path(request.path):
            return render(unavailable(), family_for_path(request.path))
        return _unavailable_page()

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        rollback_after_error()
        log.exception("unhandled error (request id %s)", g.get("request_id"))
        if is_api_path(request.path):
            return render(ApiError(500, "Internal server error"), family_for_path(request.path))
        return _page(500, InternalServerError.description)
