"""The browser sign-in's blueprints, apart from its modules so that they import them downward
(``auth.init_app`` imports the modules, then registers these).

Imported only by browser sign-in: importing the ``auth`` package loads none of it.
"""

from __future__ import annotations

from flask import Blueprint


class _SignInBlueprint(Blueprint):
    rate_limit = "RATELIMIT_SIGN_IN"  # per client address (``portal.ratelimit``)


# Sign-in and sign-out, rate-limited per client address (the class names the setting).
bp = _SignInBlueprint("auth", __name__)

# Calls from the identity provider: a blueprint of its own, signed by the IdP rather than
# rate-limited per address like sign-in, since one IdP may send many logouts from one address.
# No CSRF token either (``auth.init_app`` exempts it): the signed logout token is the
# authentication.
idp_bp = Blueprint("idp", __name__)
