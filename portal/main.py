"""The home page: a welcome when signed out, My devices when signed in."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from .authz import public

bp = Blueprint("main", __name__)


@bp.get("/")
@public
def index():
    """Signed out: what the portal is. Signed in: My devices, through its own guarded view."""
    if not current_user.is_authenticated:
        return render_template("main/landing.html")
    return current_app.view_functions["account.my_devices"]()


@bp.get("/healthz")
@public
def healthz():
    """For load balancers: the process answers (the database is checked by real pages)."""
    return {"status": "ok"}


def init_app(app) -> None:
    app.register_blueprint(bp)
