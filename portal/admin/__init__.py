"""Admin pages: user search, one user's devices, the audit log."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from . import views  # noqa: E402,F401


def init_app(app) -> None:
    app.register_blueprint(bp)
