"""Personal API tokens page: make a token (its secret shown once), see them all, revoke one.

Post, redirect, get: the POST that makes a token answers with a redirect to the tokens page,
and the secret rides to that one GET in the session cookie, sealed (encrypted with a key
derived from the app's secret key: the cookie never holds it in clear), and is dropped there:
a reload shows no secret and makes no token. It is not stored on the server, and no page
with it is cached (``Cache-Control: no-store``, as every page).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from ..authz import VIEW_AUDIT_LOG, signed_in
from ..models import utcnow
from ..services import operations
from ..services import tokens as personal_tokens
from .blueprint import bp
from .forms import ActionForm, PersonalTokenForm


def _offered_scopes() -> list[str]:
    """The scopes this user may put on a token: audit:read only with viewAuditLog."""
    return [
        s
        for s in personal_tokens.SCOPES
        if s != personal_tokens.AUDIT_SCOPE or current_user.can(VIEW_AUDIT_LOG)
    ]


def _page(form: PersonalTokenForm, *, secret: str | None = None, status: int = 200):
    form.scopes.choices = [(s, s) for s in _offered_scopes()]
    return render_template(
        "account/tokens.html",
        form=form,
        tokens=personal_tokens.list_tokens(current_user.user_id),
        secret=secret,
        is_active=personal_tokens.is_active,
        min_days=personal_tokens.MIN_DAYS,
        max_days=personal_tokens.MAX_DAYS,
        earliest=(utcnow() + timedelta(days=personal_tokens.MIN_DAYS)).date().isoformat(),
        latest=(utcnow() + timedelta(days=personal_tokens.MAX_DAYS)).date().isoformat(),
        expires_in=expires_in,
    ), status


def expires_in(when: datetime, now: datetime | None = None) -> str:
    """ "Expires in 30 days" for a token made 30 days long a moment ago: whole days, rounded,
    as its maker chose them (a plain "how long ago" would say 29); hours in its last day."""
    left = when - (now or utcnow())
    if left <= timedelta(0):
        return "Expired"
    if left < timedelta(days=1):
        hours = max(1, round(left / timedelta(hours=1)))
        return f"Expires in {hours} hour{'' if hours == 1 else 's'}"
    days = round(left / timedelta(days=1))
    return f"Expires in {days} day{'' if days == 1 else 's'}"


# The session key under which a new token's sealed secret waits for the next GET.
_NEW_SECRET = "new_token_secret"


def _sealing_key(secret_key: str | bytes) -> OctKey:
    raw = secret_key.encode() if isinstance(secret_key, str) else secret_key
    return OctKey.import_key(hashlib.sha256(b"portal personal token secret|" + raw).digest())


def _seal(secret: str) -> str:
    key = _sealing_key(current_app.secret_key or "")
    return jwe.encrypt_compact({"alg": "dir", "enc": "A256GCM"}, secret.encode(), key)


def _unseal(sealed: object) -> str | None:
    """The secret a sealed value holds; None when it is not one (a rotated key, a forgery)."""
    if not isinstance(sealed, str):
        return None
    keys = [current_app.secret_key, *(current_app.config.get("SECRET_KEY_FALLBACKS") or ())]
    for key in keys:
        try:
            plaintext = jwe.decrypt_compact(sealed, _sealing_key(key or "")).plaintext
        except (JoseError, ValueError):
            continue
        return plaintext.decode() if plaintext else None
    return None


@bp.get("/tokens")
@signed_in
def tokens():
    """My personal API tokens, and the form that makes one; the secret of a token just made,
    this once (``create_token`` put it in the session)."""
    form = PersonalTokenForm(formdata=None)
    form.scopes.data = ["devices:read"]
    waiting = session.pop(_NEW_SECRET, None)
    secret = None
    if isinstance(waiting, dict) and waiting.get("user") == str(current_user.user_id):
        secret = _unseal(waiting.get("sealed"))
    return _page(form, secret=secret)


@bp.post("/tokens")
@signed_in
def create_token():
    """Make a token, and redirect to the tokens page, which shows its secret this once."""
    form = PersonalTokenForm()
    if not form.validate_on_submit():
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
        return _page(form, status=400)
    name, days = form.name.data, form.lifetime(utcnow().date())
    if days is None:
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
        return _page(form, status=400)
    assert name is not None  # a required field of a valid form
    try:
        token, secret = operations.create_personal_token(
            current_user.actor,
            name=name,
            scopes=list(form.scopes.data or []),
            days=days,
            may_read_audit=current_user.can(VIEW_AUDIT_LOG),
        )
    except personal_tokens.InvalidTokenRequest as exc:  # raised before anything changed
        flash(str(exc), "error")
        return _page(form, status=400)
    except personal_tokens.TokenNameTaken as exc:  # raised before anything changed
        flash(exc.message, "error")
        return _page(form, status=409)
    session[_NEW_SECRET] = {"user": str(current_user.user_id), "sealed": _seal(secret)}
    flash(f"Token {token.name} was made. Copy its secret now: it is not shown again.", "success")
    return redirect(url_for("account.tokens"), 303)


@bp.route("/tokens/<token_id>/revoke", methods=["GET", "POST"])
@signed_in
def revoke_token(token_id: str):
    """Revoke one of my tokens (GET asks, POST does): it answers 401 from the next request."""
    form = ActionForm()
    posted = request.method == "POST"
    if not form.validate_on_submit():
        found = personal_tokens.token_of_user(current_user.user_id, token_id)
        if found is None:
            abort(404)
        return render_template(
            "account/confirm.html",
            form=form,
            title=f"Revoke the token {found.name}?",
            text="Scripts and services using this token will get 401 from their next request. "
            "This cannot be undone.",
            button="Revoke token",
        ), (400 if posted else 200)
    found, _ = operations.revoke_personal_token(current_user.actor, token_id)
    flash(f"Revoked the token {found.name}.", "success")
    return redirect(url_for("account.tokens"))
