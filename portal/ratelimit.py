"""Rate limits (Flask-Limiter): sign-in and the JSON routes, per client address.

The limiter belongs to the app (not a module global), so each app counts on its own. Storage is
``PORTAL_RATELIMIT_STORAGE_URI`` (in-memory by default: per process).
"""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


def init_app(app) -> None:
    limiter = Limiter(
        get_remote_address,  # request.remote_addr, after ProxyFix applied PORTAL_TRUSTED_PROXIES
        app=app,
        storage_uri=app.config["RATELIMIT_STORAGE_URI"],
        headers_enabled=True,
    )
    app.extensions["portal_limiter"] = limiter
    from .api import envelope, token_rows
    from .auth.signin import bp as auth_bp

    limiter.limit(app.config["RATELIMIT_SIGN_IN"])(auth_bp)
    limiter.limit(app.config["RATELIMIT_API"])(envelope)
    limiter.limit(app.config["RATELIMIT_API"])(token_rows)
