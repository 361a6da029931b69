"""The probes of load balancers: /livez (alias /healthz) and /readyz. (The home page ``/`` is
the account's: ``portal.account.home``.)"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.sessions import SecureCookieSessionInterface

from . import availability
from .authz import public

bp = Blueprint("main", __name__)


@bp.get("/livez")
@bp.get("/healthz")  # the older name, kept for load balancers configured with it
@public
def livez():
    """Liveness: the process answers. Reads nothing (no database, no session), so a database
    outage never makes a load balancer restart healthy processes."""
    return {"status": "ok"}


@bp.get("/readyz")
@public
def readyz():
    """Readiness: the database answers and its schema is at the migrations' head; else 503,
    so a load balancer sends no traffic here until it is."""
    reason = availability.not_ready()
    if reason is None:
        return {"status": "ready"}
    return (
        {"status": "unavailable", "reason": reason},
        503,
        {"Retry-After": str(availability.RETRY_AFTER_SECONDS)},
    )


@bp.get("/api/docs")
@public
def api_docs():
    """The API's documentation: Swagger UI (vendored in static/) rendering /openapi.json."""
    return render_template("main/api_docs.html")


PROBES = frozenset({"/livez", "/healthz", "/readyz"})


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, left alone by the probes and by the bearer-token routes.

    A load balancer's request neither verifies the cookie nor gets it back refreshed (a
    session is permanent, so every other request does); a JSON route never consults it
    (``api.auth``) and does not send it back either. The routes are known only after the
    session is opened, so for them it is the saving that is skipped.
    """

    def __init__(self):
        self._serializers: dict = {}

    def open_session(self, app, request):
        if request.path in PROBES:
            return self.null_session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if getattr(app.blueprints.get(request.blueprint or ""), "cookieless", False):
            return None
        return super().save_session(app, session, response)

    def get_signing_serializer(self, app):
        """Built once per key set, not on every request as Flask does."""
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        found = self._serializers.get(key)
        if found is None:
            found = self._serializers[key] = super().get_signing_serializer(app)
        return found


def init_app(app) -> None:
    app.register_blueprint(bp)
    app.session_interface = _SessionInterface()
