"""Sign-in alerts: the mail (rendered and sent by the worker) and its "Was this you?" pages.

The pages work without being signed in: the link's signed token is the authority, bound to
the user, the device and the sign-in of one alert, and usable once.
"""

from .views import bp


def init_app(app) -> None:
    app.register_blueprint(bp)
