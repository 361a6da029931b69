"""Sign-in with the company identity provider, sign-out, and the Flask-Login session loader."""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from itsdangerous import BadSignature, URLSafeSerializer
from joserfc.errors import JoseError

from ..authz import access_rule, public
from ..extensions import db, login_manager
from ..models import EndReason
from ..services import audit, identity, sessions
from .principal import Principal, client_info, principal_for_session, session_policy

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)


class SignInFailed(Exception):
    """Sign-in could not finish; the message is for the log, never for the page."""


def register_client(app) -> None:
    """Register the IdP with Authlib: discovery, PKCE S256; nonce and state are Authlib's.

    One Authlib registry per app (not a module global), so apps with different settings can
    live in one process, as they do in the tests.
    """
    oauth = app.extensions["portal_oauth"] = OAuth(app)
    if not app.config.get("OIDC_ISSUER"):
        return
    oauth.register(
        "idp",
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config.get("OIDC_CLIENT_SECRET"),
        server_metadata_url=app.config["OIDC_ISSUER"] + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": app.config["OIDC_SCOPES"],
            "code_challenge_method": "S256",
            "timeout": app.config["OIDC_TIMEOUT"],
        },
    )


def idp_client():
    client = current_app.extensions["portal_oauth"].create_client("idp")
    if client is None:
        raise SignInFailed("no identity provider is configured (PORTAL_OIDC_ISSUER)")
    return client


def idp_metadata() -> dict:
    """The IdP's discovery document (fetched once by Authlib, then cached)."""
    metadata = idp_client().load_server_metadata()
    expected = current_app.config["OIDC_ISSUER"]
    if metadata.get("issuer", "").rstrip("/") != expected:
        raise SignInFailed(f"discovery issuer {metadata.get('issuer')!r} is not {expected!r}")
    return metadata


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
    return sessions.fingerprint_of(secret) if secret else None


# -- Flask-Login ---------------------------------------------------------------------------


@login_manager.user_loader
def load_principal(session_id: str) -> Principal | None:
    """Every browser request: the session row decides; ended or expired means signed out."""
    row = sessions.load_active_session(session_id)
    if row is None:
        return None
    usable = sessions.check_and_touch(row, session_policy())
    db.session.commit()  # an expiry or the once-a-minute activity stamp, if either happened
    if not usable:
        return None
    return principal_for_session(row)


def failure_page(reason: str, status: int = 400):
    """Log why sign-in failed and show a friendly page with a retry link; nothing was created."""
    log.warning("sign-in failed: %s", reason)
    db.session.rollback()
    session.pop("next", None)
    return render_template("auth/failed.html"), status


# -- routes --------------------------------------------------------------------------------


@bp.get("/login")
@public
def login():
    """Start the authorization-code flow (PKCE S256, state, nonce) towards the IdP."""
    next_url = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url)
    try:
        idp_metadata()
        redirect_uri = url_for("auth.callback", _external=True)
        response = idp_client().authorize_redirect(redirect_uri)
    except (SignInFailed, requests.RequestException, AuthlibBaseError, ValueError) as exc:
        return failure_page(f"could not start sign-in: {exc!r}", 503)
    session["next"] = next_url
    return response


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
    user = identity.upsert_user(metadata["issuer"], claims, cfg["OIDC_GROUPS_CLAIM"])
    row, device_secret = sessions.record_sign_in(
        user,
        device_secret=read_device_secret(),
        client=client_info(),
        policy=session_policy(),
        geoip_database=cfg.get("GEOIP_DATABASE"),
    )
    audit.record(
        audit.Actions.SIGN_IN,
        actor=user,
        target_user=user,
        device_id=row.device_id,
        session_id=row.id,
        ip_address=row.ip_address,
    )
    db.session.commit()

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
    if current_user.is_authenticated and current_user.session is not None:
        sessions.end_session(current_user.session, EndReason.SIGNED_OUT, by=current_user.user)
        audit.record(
            audit.Actions.SIGN_OUT,
            actor=current_user.user,
            target_user=current_user.user,
            device_id=current_user.session.device_id,
            session_id=current_user.session.id,
            ip_address=request.remote_addr,
        )
        db.session.commit()
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
    home = url_for("main.index", _external=True)
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


def init_app(app) -> None:
    register_client(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = None  # the server-side session row is the authority
    app.register_blueprint(bp)


@login_manager.unauthorized_handler
def _to_sign_in():
    """Send a signed-out browser to sign-in, remembering where it was going (a local path)."""
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))
