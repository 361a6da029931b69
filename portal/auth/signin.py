"""Browser sign-in with the company identity provider: /login, the callback, re-authentication
after a revocation, and the browser's device cookie."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError
from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user
from itsdangerous import BadSignature, URLSafeSerializer
from joserfc.errors import ClaimError, JoseError

from .. import metrics
from ..authz import public
from ..models import utcnow
from ..services import operations
from ..services.audit.record import Actions
from ..services.sessions import opening
from ..services.users import identity
from ..transaction import keep_refusal
from .blueprints import bp
from .idp import SignInFailed, idp_client, idp_metadata
from .principal import alert_policy, client_info, principal_for_session, session_policy

log = logging.getLogger(__name__)


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/``: no open redirects."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(c in target for c in "\r\n\t\\"):
        return "/"
    return target


# -- the device cookie ---------------------------------------------------------------------


def _device_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="portal-device-cookie")


def read_device_secret() -> str | None:
    """The secret in this browser's signed device cookie, or None (absent or tampered with)."""
    raw = request.cookies.get(current_app.config["DEVICE_COOKIE_NAME"])
    if not raw:
        return None
    try:
        value = _device_serializer().loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, str) and 20 <= len(value) <= 100 else None


def set_device_cookie(response, secret: str) -> None:
    cfg = current_app.config
    response.set_cookie(
        cfg["DEVICE_COOKIE_NAME"],
        _device_serializer().dumps(secret),
        max_age=cfg["DEVICE_COOKIE_DAYS"] * 86400,
        secure=cfg["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite=cfg["SESSION_COOKIE_SAMESITE"],
        path="/",
    )


def current_device_fingerprint() -> str | None:
    secret = read_device_secret()
    return opening.fingerprint_of(secret) if secret else None


def failure_page(reason: str, status: int = 400, outcome: str = "idp_error"):
    """Log why sign-in failed and show a friendly page with a retry link; nothing was created.
    Counted at once (``outcome``): the request rolls back, and the attempt did end."""
    log.warning("sign-in failed: %s", reason)
    metrics.sign_in(outcome)
    session.pop("next", None)
    return render_template("auth/failed.html"), status


def deactivated_page(user):
    """A deactivated account signed in at the IdP: no session, and a page that says why."""
    log.warning("sign-in refused: user %s is deactivated", user.id)
    operations.refuse_sign_in(user, request.remote_addr)
    keep_refusal()  # answered with a 403, and the attempt stays in the audit log
    session.clear()  # nothing of the attempt (state, next) is kept
    return render_template("auth/deactivated.html"), 403


# -- routes --------------------------------------------------------------------------------


@bp.get("/login")
@public
def login():
    """Start the authorization-code flow (PKCE S256, state, nonce) towards the IdP."""
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url)
    session.pop("reauth_for", None)  # a fresh start is a first round again
    session.pop("reauth_since", None)
    try:
        idp_metadata()
        response = _authorize_redirect()
    except (SignInFailed, requests.RequestException, AuthlibBaseError, ValueError) as exc:
        return failure_page(f"could not start sign-in: {exc!r}", 503)
    session["next"] = next_url
    return response


def _authorize_redirect(**params):
    """Redirect to the IdP's authorization endpoint, always asking when it authenticated.

    ``max_age`` makes ``auth_time`` a required claim of the ID token (OIDC Core 3.1.2.1), which
    is how the callback tells a fresh authentication from the IdP's single sign-on session.
    """
    params.setdefault("max_age", current_app.config["OIDC_MAX_AGE"])
    return idp_client().authorize_redirect(url_for("auth.callback", _external=True), **params)


_warned_about_missing_auth_time = False


def _warn_missing_auth_time() -> None:
    """Say once per process that the IdP is not conformant (auth_time missing despite max_age)."""
    global _warned_about_missing_auth_time
    if not _warned_about_missing_auth_time:
        _warned_about_missing_auth_time = True
        log.warning(
            "The identity provider sent an ID token without auth_time although max_age was "
            "requested (OIDC Core 3.1.2.1 requires it). The portal cannot tell a fresh sign-in "
            "from single sign-on; after a revocation it asks with prompt=login and trusts the IdP "
            "to honour it."
        )


def _reauth_check(user, claims):
    """None when this sign-in may go ahead; otherwise the response that must happen instead.

    After a revocation (``user.reauth_required_after``) a sign-in must rest on an IdP
    authentication strictly newer than it. The first too-old answer sends the browser back to
    the IdP with ``prompt=login`` and ``max_age=0``; the answer to that redirect must rest on
    an authentication from the whole second the redirect was sent or later (so a password
    given at once is never looped, while a replayed older authentication still fails). An IdP
    that omits ``auth_time`` is trusted on that second round, so sign-in never loops.
    """
    raw = claims.get("auth_time")
    auth_time = (
        datetime.fromtimestamp(raw, UTC)
        if isinstance(raw, int | float) and not isinstance(raw, bool)
        else None
    )
    if raw is None:
        _warn_missing_auth_time()
    second_round = session.pop("reauth_for", None) == str(user.id)
    asked_at = session.pop("reauth_since", None)
    if second_round and isinstance(asked_at, int):
        stale = opening.authenticated_before_asked(
            user, auth_time, datetime.fromtimestamp(asked_at, UTC)
        )
    else:
        second_round = False
        stale = opening.authenticated_too_long_ago(user, auth_time)
    detail = {
        "auth_time": auth_time.isoformat() if auth_time else None,
        "required_after": (
            user.reauth_required_after.isoformat() if user.reauth_required_after else None
        ),
    }
    if not second_round:
        if not stale:
            return None
        operations.note_reauthentication(
            user, Actions.REAUTH_REQUIRED, request.remote_addr, **detail
        )
        next_url = session.get("next")
        response = _authorize_redirect(
            prompt="login", max_age=0, login_hint=user.email or user.subject
        )
        session["next"] = next_url
        session["reauth_for"] = str(user.id)
        session["reauth_since"] = int(utcnow().timestamp())  # the whole second the IdP was asked
        metrics.sign_in("credentials_required", on_commit=True)
        return response
    if stale and auth_time is not None:
        operations.note_reauthentication(user, Actions.REAUTH_FAILED, request.remote_addr, **detail)
        return failure_page(
            f"re-authentication required for user {user.id}, but the IdP answered again with "
            f"an authentication from {auth_time.isoformat()}",
            outcome="refused_reauthentication",
        )
    operations.note_reauthentication(
        user,
        Actions.REAUTHENTICATED,
        request.remote_addr,
        trusted_without_auth_time=auth_time is None or None,
        **detail,
    )
    return None


def _refusal(exc: Exception) -> str:
    """The outcome a rejected callback counts as: a state no sign-in of this browser started,
    an ID token with another nonce, or anything else the IdP's answer did wrong."""
    if isinstance(exc, MismatchingStateError):
        return "refused_state"
    if isinstance(exc, ClaimError) and exc.claim == "nonce":
        return "refused_nonce"
    return "idp_error"


@bp.get("/auth/callback")
@public
def callback():
    """Finish sign-in: check state, exchange the code, verify the ID token and nonce."""
    if request.args.get("error"):
        return failure_page(
            f"identity provider answered {request.args.get('error')!r}: "
            f"{request.args.get('error_description', '')!r}"
        )
    try:
        metadata = idp_metadata()
        token = idp_client().authorize_access_token()
        claims = token.get("userinfo")
        if not claims or not claims.get("sub"):
            raise SignInFailed("no ID token claims in the token response")
    except (
        SignInFailed,
        AuthlibBaseError,
        JoseError,
        requests.RequestException,
        ValueError,
        KeyError,
    ) as exc:
        return failure_page(f"callback rejected: {exc!r}", outcome=_refusal(exc))

    cfg = current_app.config
    try:
        user = identity.upsert_user(metadata["issuer"], claims, cfg["OIDC_GROUPS_CLAIM"])
    except identity.UnusableIdentity as exc:
        return failure_page(f"callback rejected: {exc}", outcome="refused_identity")
    if user.is_deactivated:
        return deactivated_page(user)
    try:
        instead = _reauth_check(user, claims)
    except (SignInFailed, requests.RequestException, AuthlibBaseError, ValueError) as exc:
        return failure_page(f"could not ask the IdP for credentials again: {exc!r}", 503)
    if instead is not None:
        return instead
    row, device_secret = operations.sign_in(
        user,
        client=client_info(),
        device_secret=read_device_secret(),
        policy=session_policy(),
        geoip_database=cfg.get("GEOIP_DATABASE"),
        idp_sid=str(claims["sid"]) if claims.get("sid") else None,
        alert_policy=alert_policy(),
    )

    next_url = safe_next(session.get("next"))
    session.clear()  # rotate: nothing from before sign-in carries over
    session.permanent = True
    login_user(principal_for_session(row))
    if token.get("id_token"):
        session["id_token"] = token["id_token"]
    response = redirect(next_url)
    set_device_cookie(response, device_secret)
    return response
