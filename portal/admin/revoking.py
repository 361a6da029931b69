"""Admin changes to a user, each a confirm page on GET and the change on POST: revoking a
session, a device or all sessions, and deactivating or reactivating the account.

Views only parse the request, call ``operations`` for the change and redirect back to the
user's page; every one names the permission it needs.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..authz import MANAGE_USER_DEVICES, require_permission
from ..models import User
from ..services import operations
from ..services.devices import reads
from ..services.errors import NotFound
from ..services.users import summary
from ..timefmt import exact
from .blueprint import bp
from .users import summary_or_404, target_or_404


def _back_to(target: User | summary.UserSummary):
    return redirect(url_for("admin.user_detail", user_id=target.id))


@bp.route("/users/<user_id>/sessions/<session_id>/revoke", methods=["GET", "POST"])
@require_permission(MANAGE_USER_DEVICES)
def revoke_session(user_id: str, session_id: str):
    """End one session of the user (after confirming)."""
    target = summary_or_404(user_id)
    row = reads.session_row(target.id, session_id)
    if row is None:
        abort(404)
    if not row.is_active():
        return _already_ended(target)
    assert row.device is not None  # a session read alone comes with its device
    if request.method == "GET":
        return render_template(
            "admin/confirm.html",
            target=target,
            title="Revoke this session?",
            what=f"the session started {exact(row.created_at)} on "
            f"“{row.device.name}” ({row.ip_address or 'unknown IP'}, "
            f"{row.location or 'unknown location'})",
            consequence="That browser or token is signed out on its next request.",
            own=row.id == current_user.session_id,
            button="Revoke session",
        )
    try:  # locked there: two admins revoking at once record one revoke
        ended = operations.revoke_session(current_user.actor, row.id, target.id)
    except NotFound:  # it ended since it was read above
        return _already_ended(target)
    flash(f"Session on “{ended.device.name}” revoked.", "success")
    return _back_to(target)


def _already_ended(target: summary.UserSummary):
    flash("That session had already ended.", "info")
    return _back_to(target)


@bp.route("/users/<user_id>/devices/<device_id>/revoke", methods=["GET", "POST"])
@require_permission(MANAGE_USER_DEVICES)
def revoke_device(user_id: str, device_id: str):
    """End every session of one of the user's devices (after confirming)."""
    target = summary_or_404(user_id)
    device = reads.device_row(target.id, device_id, sessions=False)
    if device is None:
        abort(404)
    if request.method == "GET":
        return render_template(
            "admin/confirm.html",
            target=target,
            title="Revoke this device?",
            what=f"every active session of “{device.name}”",
            consequence="Each of them is signed out on its next request; the device must sign "
            "in again to be used.",
            own=device.id == current_user.device_id,
            button="Revoke device",
        )
    ended, count, _ = operations.end_device_sessions(current_user.actor, device.id, target.id)
    flash(f"“{ended.name}”: {count} session{'' if count == 1 else 's'} revoked.", "success")
    return _back_to(target)


@bp.route("/users/<user_id>/revoke-all", methods=["GET", "POST"])
@require_permission(MANAGE_USER_DEVICES)
def revoke_all(user_id: str):
    """End all of the user's sessions (after confirming); your own current one is kept."""
    target = summary_or_404(user_id)
    is_self = target.id == current_user.user_id
    if request.method == "GET":
        return render_template(
            "admin/confirm.html",
            target=target,
            title=f"Revoke all sessions of {target.display_name}?",
            what="every active session on every device of this user",
            consequence="This session of yours stays signed in."
            if is_self
            else "Each browser and token is signed out on its next request.",
            own=False,
            button="Revoke all sessions",
        )
    count, _ = operations.revoke_all_sessions(current_user.actor, target, include_current=False)
    flash(f"{count} session{'' if count == 1 else 's'} revoked.", "success")
    return _back_to(target)


def _confirm_account_change(target, verb: str, consequence: str):
    """The page that asks before deactivating or reactivating an account."""
    return render_template(
        "admin/confirm.html",
        target=target,
        title=f"{verb.capitalize()} {target.display_name}?",
        sentence=f"You are about to {verb} the account of {target.display_name}"
        + (f" ({target.email})" if target.email else "")
        + ".",
        consequence=consequence,
        own=False,
        button=f"{verb.capitalize()} account",
    )


@bp.route("/users/<user_id>/deactivate", methods=["GET", "POST"])
@require_permission(MANAGE_USER_DEVICES)
def deactivate_user(user_id: str):
    """Deactivate the account (after confirming): every session and token ends now, and
    sign-in is refused until it is reactivated. Not your own: that would lock you out."""
    target = target_or_404(user_id)
    if target.id == current_user.user_id:
        flash("You cannot deactivate your own account.", "error")
        return _back_to(target)
    if target.deactivated_at is not None:
        flash("That account is already deactivated.", "info")
        return _back_to(target)
    if request.method == "GET":
        return _confirm_account_change(
            target,
            "deactivate",
            "Every browser, API client and personal token of this user is signed out at once, "
            "personal tokens are revoked, and sign-in is refused until someone reactivates the "
            "account.",
        )
    ended = operations.deactivate_user(current_user.actor, target)
    if ended is None:
        flash("That account was already deactivated.", "info")
    else:
        flash(
            f"{target.display_name} is deactivated: {ended} session"
            f"{'' if ended == 1 else 's'} ended.",
            "success",
        )
    return _back_to(target)


@bp.route("/users/<user_id>/reactivate", methods=["GET", "POST"])
@require_permission(MANAGE_USER_DEVICES)
def reactivate_user(user_id: str):
    """Reactivate the account (after confirming): the user may sign in again."""
    target = target_or_404(user_id)
    if target.deactivated_at is None:
        flash("That account is not deactivated.", "info")
        return _back_to(target)
    if request.method == "GET":
        return _confirm_account_change(
            target,
            "reactivate",
            "They may sign in again with the identity provider; sessions and tokens that ended "
            "stay ended.",
        )
    if operations.reactivate_user(current_user.actor, target):
        flash(f"{target.display_name} is reactivated.", "success")
    else:
        flash("That account was not deactivated.", "info")
    return _back_to(target)
