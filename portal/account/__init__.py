"""The signed-in user's own pages: My devices and one device's page."""

from . import home, notifications, tokens, views  # noqa: F401  (their routes)
from .blueprint import bp


def init_app(app) -> None:
    app.register_blueprint(home.bp)
    app.register_blueprint(bp)
