"""Who is calling: browser sign-in (``signin``, ``signout``, ``session_loader``), bearer tokens
(``tokens``), one principal.

Importing this package loads no browser sign-in code: the JSON layer uses ``idp``,
``principal`` and ``tokens`` only.
"""

from __future__ import annotations


def init_app(app) -> None:
    """Register browser sign-in, sign-out and the back-channel logout. Imported here rather than
    at the top, so that importing the package loads none of them."""
    from ..extensions import csrf
    from . import session_loader, signin, signout  # noqa: F401  (their routes and hooks)
    from .blueprints import bp, idp_bp
    from .idp import register_client

    register_client(app)
    session_loader.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(idp_bp)
    csrf.exempt(idp_bp)
