"""Who is calling with a personal API token (``dpt_...``), for the JSON routes.

Apart from ``auth.tokens`` (the IdP's JWTs) on purpose: a personal token is no JWT and is
never cached. Each request reads the token with its session, user, device and the owner's
grants in one indexed statement, so a revoke anywhere (the session ended) or a grant taken
away is seen by every worker and instance on the very next request. The principal's
permissions are the owner's current ones; its scopes are the token's, and the routes demand
both (``api.auth.bearer``), so the token can do the intersection and no more.
"""

from __future__ import annotations

from flask import current_app

from ..services import operations
from ..services.sessions import ending
from ..services.tokens import find, is_personal_token
from .principal import (
    AccountDeactivated,
    Principal,
    TokenRefused,
    _principal,
    client_info,
    session_policy,
)

__all__ = ["is_personal_token", "personal_token_principal"]


def personal_token_principal(raw: str) -> Principal:
    """The principal of a personal token; ``TokenRefused`` when it is unknown, revoked or
    expired (all alike to the caller: a 401)."""
    found = find(raw)
    if found is None:
        raise TokenRefused("The personal token is not valid")
    if found.session.user.is_deactivated:
        raise AccountDeactivated()
    if not ending.check_and_touch(found.session, session_policy()):
        raise TokenRefused("The personal token has been revoked or has expired")
    operations.note_personal_token_use(
        found.token, client_info(), current_app.config.get("GEOIP_DATABASE")
    )
    scopes = frozenset(found.token.scopes)
    return _principal(found.session, found.grants, "bearer", scopes, groups=found.groups)
