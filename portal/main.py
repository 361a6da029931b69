"""The home page (a welcome when signed out, My devices when signed in), and the probes of
load balancers: /livez (alias /healthz) and /readyz."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user

from . import availability
from .authz import public

bp = Blueprint("main", __name__)


@bp.get("/")
@public
def index():
    """Signed out: what the portal is. Signed in: My devices, through its own guarded view."""
    if not current_user.is_authenticated:
        return render_template("main/landing.html")
    return current_app.view_functions["account.my_devices"]()


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
    """Flask's signed-cookie session, left alone by the probes and by the bearer-token routes:
    a load balancer's request or an API call neither verifies the cookie nor sends it back
    refreshed (a session is permanent, so every other request does). The JSON routes never
    consult cookies (``api.auth``), so a browser's cookie cannot act there either."""

    def __init__(self):
        self._serializers: dict = {}

    def open_session(self, app, request):
        if request.path in PROBES or getattr(
            app.blueprints.get(request.blueprint or ""), "cookieless", False
        ):
            return self.null_session_class()
        return super().open_session(app, request)

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
