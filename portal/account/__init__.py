"""The signed-in user's own pages: My devices and one device's page."""

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from . import home, notifications, tokens, views  # noqa: E402,F401


def init_app(app) -> None:
    app.register_blueprint(home.bp)
    app.register_blueprint(bp)
