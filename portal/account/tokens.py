"""Personal API tokens page: make a token (its secret shown once), see them all, revoke one.

The secret is shown on the answer to the POST that made it, never again: it is not stored,
not put in a flash message or the session cookie, and that answer is not cached.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..authz import VIEW_AUDIT_LOG, signed_in
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
    ), status


@bp.get("/tokens")
@signed_in
def tokens():
    """My personal API tokens, and the form that makes one."""
    form = PersonalTokenForm(formdata=None)
    form.scopes.data = ["devices:read"]
    return _page(form)


@bp.post("/tokens")
@signed_in
def create_token():
    """Make a token and show its secret, this once."""
    form = PersonalTokenForm()
    if not form.validate_on_submit():
        flash(" ".join(e for errs in form.errors.values() for e in errs), "error")
        return _page(form, status=400)
    name, days = form.name.data, form.days.data
    assert name is not None and days is not None  # required fields of a valid form
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
    flash(f"Token {token.name} was made. Copy its secret now: it is not shown again.", "success")
    return _page(PersonalTokenForm(formdata=None), secret=secret)


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
