"""Browser sign-in with the company identity provider, sign-out, back-channel logout, and the
Flask-Login session loader."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from itsdangerous import BadSignature, URLSafeSerializer
from joserfc.errors import JoseError
from sqlalchemy.exc import SQLAlchemyError

from ..authz import access_rule, public
from ..extensions import csrf, db, login_manager
from ..models import utcnow
from ..services import operations
from ..services.audit.record import Actions
from ..services.sessions import ending, opening
from ..services.users import identity
from ..transaction import keep_refusal
from .idp import SignInFailed, idp_client, idp_metadata, register_client
from .principal import (
    Principal,
    alert_policy,
    browser_principal,
    client_info,
    principal_for_session,
    session_policy,
)
from .tokens import InvalidToken, jwks_cache, validate_logout_token

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)
bp.rate_limit = "RATELIMIT_SIGN_IN"  # per client address (``portal.ratelimit``)


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


# -- Flask-Login ---------------------------------------------------------------------------


@login_manager.user_loader
def load_principal(session_id: str) -> Principal | None:
    """Every browser request: the session row decides; ended or expired means signed out."""
    return browser_principal(session_id)


def failure_page(reason: str, status: int = 400):
    """Log why sign-in failed and show a friendly page with a retry link; nothing was created."""
    log.warning("sign-in failed: %s", reason)
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
        return response
    if stale and auth_time is not None:
        operations.note_reauthentication(user, Actions.REAUTH_FAILED, request.remote_addr, **detail)
        return failure_page(
            f"re-authentication required for user {user.id}, but the IdP answered again with "
            f"an authentication from {auth_time.isoformat()}"
        )
    operations.note_reauthentication(
        user,
        Actions.REAUTHENTICATED,
        request.remote_addr,
        trusted_without_auth_time=auth_time is None or None,
        **detail,
    )
    return None


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
        return failure_page(f"callback rejected: {exc!r}")

    cfg = current_app.config
    try:
        user = identity.upsert_user(metadata["issuer"], claims, cfg["OIDC_GROUPS_CLAIM"])
    except identity.UnusableIdentity as exc:
        return failure_page(f"callback rejected: {exc}")
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


@bp.post("/logout")
@access_rule("signed_in_or_anonymous")
def logout():
    """End this session on the server, then continue to the IdP's logout when it has one."""
    id_token = session.get("id_token")
    if current_user.is_authenticated:
        operations.sign_out(current_user.actor)
    return finish_sign_out(id_token)


def finish_sign_out(id_token: str | None = None, message: str | None = None):
    """Forget this browser's sign-in, then continue to the IdP's logout when it has one.

    Called once the session row has ended, by sign-out and by any action that ends the
    browser's own session, so the IdP's session ends too (RP-initiated logout).
    """
    logout_user()
    session.clear()
    if message:
        flash(message, "success")
    home = url_for("home.index", _external=True)
    try:
        end_session_endpoint = idp_metadata().get("end_session_endpoint")
    except (SignInFailed, requests.RequestException, AuthlibBaseError, ValueError):
        end_session_endpoint = None
    if end_session_endpoint:
        params = {
            "client_id": current_app.config["OIDC_CLIENT_ID"],
            "post_logout_redirect_uri": home,
        }
        if id_token:
            params["id_token_hint"] = id_token
        return redirect(f"{end_session_endpoint}?{urlencode(params)}")
    return redirect(home)


# -- calls from the identity provider ----------------------------------------------------
# A blueprint of its own: signed by the IdP rather than rate-limited per address like sign-in,
# since one IdP may send many logouts from one address.
idp_bp = Blueprint("idp", __name__)


def _backchannel_error(description: str, *, log_reason: str | None = None):
    """400 with an OAuth-style JSON error body, as Back-Channel Logout 1.0 section 2.8 says."""
    log.warning("back-channel logout refused: %s", log_reason or description)
    # A 400: the request rolls back, so a refused logout changes nothing (its replay record
    # included).
    response = jsonify(error="invalid_request", error_description=description)
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    return response


@idp_bp.post("/auth/backchannel-logout")
@access_rule("idp_signed_logout_token")
def backchannel_logout():
    """OIDC Back-Channel Logout 1.0: the IdP says a session (``sid``) or user (``sub``) ended.

    No cookies and no CSRF token: the signed logout token is the authentication. Ends the
    portal sessions it names, once (a replayed ``jti`` is refused), and audits it.
    """
    raw = request.form.get("logout_token", "")
    if not raw:
        return _backchannel_error("logout_token is required")
    cfg = current_app.config
    try:
        metadata = idp_metadata()
        claims = validate_logout_token(
            raw,
            issuer=metadata["issuer"],
            client_id=cfg["OIDC_CLIENT_ID"],
            jwks_uri=metadata["jwks_uri"],
            published_algorithms=metadata.get("id_token_signing_alg_values_supported", []),
            cache=jwks_cache,
            max_age=cfg["BACKCHANNEL_LOGOUT_MAX_AGE"],
        )
    except InvalidToken as exc:
        return _backchannel_error(str(exc))
    except (SignInFailed, requests.RequestException, KeyError, ValueError) as exc:
        return _backchannel_error(
            "The identity provider's keys cannot be fetched", log_reason=repr(exc)
        )
    try:
        now = utcnow()
        ending.forget_logout_tokens_before(
            now - timedelta(seconds=2 * cfg["BACKCHANNEL_LOGOUT_MAX_AGE"] + 60)
        )
        if not ending.remember_logout_token(claims["iss"], claims["jti"], now):
            return _backchannel_error("This logout token was used before (jti)")
        operations.idp_logout(
            claims["iss"], sid=claims.get("sid"), subject=claims.get("sub"), now=now
        )
        db.session.flush()  # a database failure shows here, as a 400, not later as a 500
    except SQLAlchemyError as exc:
        return _backchannel_error("The logout could not be recorded", log_reason=repr(exc))
    response = current_app.response_class(status=200)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app) -> None:
    register_client(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = None  # the server-side session row is the authority
    app.register_blueprint(bp)
    app.register_blueprint(idp_bp)
    csrf.exempt(idp_bp)


@login_manager.unauthorized_handler
def _to_sign_in():
    """Send a signed-out browser to sign-in, remembering where it was going (a local path)."""
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))
