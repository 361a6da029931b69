"""Device Portal: see and end every device and session signed in to your account."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as config_module
from . import metrics, redis, request_log
from .extensions import csrf, db, login_manager, mail, migrate
from .transaction import refusal_kept

ROOT = Path(__file__).resolve().parent.parent


def _refuse_large_bodies() -> None:
    """413 for a body over PORTAL_MAX_BODY_BYTES, before any view, whether it reads it or not.

    A declared Content-Length is checked at once. A chunked body (no Content-Length) is read
    here, one byte past the limit at most, and kept for the view to read. The error handlers
    answer in the route's shape: JSON for the API families, a friendly page elsewhere.
    """
    environ = request.environ
    if not environ.get("CONTENT_LENGTH") and not environ.get("HTTP_TRANSFER_ENCODING"):
        return  # no body: most requests, checked without parsing any header
    limit = current_app.config["MAX_BODY_BYTES"]
    length = request.content_length
    if length is not None:
        if length > limit:
            raise _too_large(limit)
    elif "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        request.max_content_length = limit + 1
        if len(request.get_data(cache=True)) > limit:
            raise _too_large(limit)


def _too_large(limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"The request body is larger than {limit} bytes.")


class _JSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a body nested deeper than the parser can go (``[`` x 5000) is
    malformed JSON (a ValueError: ``get_json`` answers None or 400) rather than a
    RecursionError (a 500); and keys go out in their documented order, not sorted."""

    sort_keys = False

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("The JSON document is nested too deeply") from None


class Portal(Flask):
    """Flask, with the one place where a request's transaction ends.

    The view and everything it calls (loaders, decorators, operations) only change the
    session; here the work is committed once when the view returned a success or a redirect,
    and rolled back when it raised (a domain error included: the error handlers then answer)
    or answered an error itself (a form's 400 page), so no view ever rolls back. Indico's
    ``RH.process`` does the same.
    """

    json_provider_class = _JSONProvider
    # Whether each request is counted and timed (``portal_http_*``): when metrics are read at all.
    measures_requests = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync: dict[Any, Any] = {}

    def full_dispatch_request(self):
        """Every hook, the view and the answer, timed and counted by route template
        (``metrics.observe_request``); an error no handler answered counts as a 500."""
        if not self.measures_requests:
            return super().full_dispatch_request()
        started = time.perf_counter()
        status = 500
        try:
            response = super().full_dispatch_request()
            status = response.status_code
            return response
        finally:
            rule = request.url_rule
            metrics.observe_request(
                rule.rule if rule is not None else None,
                request.method,
                status,
                time.perf_counter() - started,
            )

    def ensure_sync(self, func):
        """Flask asks of every hook and view, on every request, whether it is a coroutine
        function (with ``inspect``). The answer never changes, so it is asked once per
        function."""
        known = self._sync.get(func)
        if known is None:
            known = self._sync[func] = super().ensure_sync(func)
        return known

    def dispatch_request(self):
        try:
            response = self.make_response(super().dispatch_request())
        except BaseException:
            db.session.rollback()
            raise
        if db.session.registry.has():  # a request that never used the database has no session
            if response.status_code < 400 or refusal_kept():
                db.session.commit()
            else:  # an answer that refuses (a form's 400 page) changes nothing
                db.session.rollback()
        return response


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings from PORTAL_* variables (``config`` overrides them in tests)."""
    app = Portal(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    config_module.load(app, config)
    # Logging first, so every later line (and Flask's own logger) goes through it; then the
    # request id and the access line, whose hooks come before every other.
    request_log.init_app(app)
    if app.config["METRICS_DIR"]:  # before anything is counted
        metrics.use_directory(app.config["METRICS_DIR"])
    app.measures_requests = bool(app.config["METRICS_DIR"] or app.config["METRICS_TOKEN"])
    # Next, so no extension reads a body (CSRF reads forms) before it is checked.
    app.before_request(_refuse_large_bodies)

    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        # Flask's documented way to add a WSGI middleware; its types declare a method.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n
        )

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    redis.init_app(app)  # the shared Redis client (None without PORTAL_REDIS_URL)
    mail.init_app(app)
    if not app.config["ALERTS_ENABLED"]:
        logging.getLogger(__name__).warning(
            "PORTAL_MAIL_SERVER is not set: sign-in alerts by mail are off"
        )

    from . import (
        account,
        admin,
        alerts,
        api,
        auth,
        cli,
        errors,
        main,
        ratelimit,
        scim,
        scrape,
        ssf,
        views_helpers,
    )

    auth.init_app(app)
    main.init_app(app)
    account.init_app(app)
    alerts.init_app(app)
    admin.init_app(app)
    api.init_app(app)
    scim.init_app(app)
    ssf.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    views_helpers.init_app(app)
    ratelimit.init_app(app)
    scrape.init_app(app)

    # Built once; every answer carries them (error pages and JSON too).
    security_headers = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Content-Security-Policy": (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'self' "
            + (app.config.get("OIDC_ISSUER") or "")
        ).strip(),
        "Permissions-Policy": (
            "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
            "microphone=(), payment=(), usb=()"
        ),
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if app.config["SESSION_COOKIE_SECURE"]:  # served over HTTPS: browsers must keep to it
        security_headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"

    # Checked once here (Werkzeug refuses a bad name or value), then appended as they are.
    always = list(Headers(security_headers).items())

    @app.after_request
    def _security_headers(response):
        """Every security header the view did not set itself, in one pass over the headers.

        Appended to the header list directly: ``Headers.extend`` would validate each constant
        again on every request, and they were checked once, when the app was built. The
        request id is checked when it is read (``_request_id``)."""
        headers = response.headers
        present = {name.lower() for name, _ in headers.items()}
        missing = [(name, value) for name, value in always if name.lower() not in present]
        if (
            "cache-control" not in present
            and request.endpoint
            and not request.endpoint.startswith("static")
        ):
            missing.append(("Cache-Control", "no-store"))
        request_id = g.get("request_id", "")  # set by request_log, the first hook
        if "x-request-id" in present:
            headers["X-Request-Id"] = request_id
        else:
            missing.append(("X-Request-Id", request_id))
        headers._list.extend(missing)
        return response

    return app
