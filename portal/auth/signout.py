"""Signing out: the browser's own sign-out (then the IdP's, RP-initiated logout), and the
IdP's back-channel logout of sessions it ended (OIDC Back-Channel Logout 1.0)."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlencode

import requests
from authlib.common.errors import AuthlibBaseError
from flask import current_app, flash, jsonify, redirect, request, session, url_for
from flask_login import current_user, logout_user
from sqlalchemy.exc import SQLAlchemyError

from ..authz import access_rule
from ..extensions import db
from ..models import utcnow
from ..services import operations
from ..services.sessions import ending
from .blueprints import bp, idp_bp
from .idp import SignInFailed, idp_metadata
from .tokens import InvalidToken, jwks_cache, validate_logout_token

# Sign-in's logger, as before sign-out had a module of its own: the log reads the same.
log = logging.getLogger("portal.auth.signin")


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
