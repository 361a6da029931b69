"""Admin pages: find a user, investigate their devices and sign-ins, revoke, read the audit log.

Views only parse the request, call ``services`` (``operations`` for every change and every
audited look) and render or redirect; every one names the permission it needs.
"""

from __future__ import annotations

from datetime import date

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from ..authz import (
    MANAGE_USER_DEVICES,
    VIEW_AUDIT_LOG,
    VIEW_USER_DEVICES,
    require_permission,
    signed_in,
)
from ..models import AlertAnswer, User
from ..models.types import without_control_characters
from ..services import operations
from ..services.audit import log
from ..services.audit import record as audit
from ..services.devices import reads
from ..services.devices.flags import FLAG_LABELS
from ..services.errors import NotFound
from ..services.outbox import alerts, signals
from ..services.users import history as user_history
from ..services.users import summary
from ..services.users.search import search_users
from ..timefmt import iso_z
from . import timeline
from .blueprint import bp
from .csv_export import csv_response


def _page_number() -> int:
    return request.args.get("page", 1, type=int) or 1


def _text_arg(name: str, what: str) -> str:
    """A text the user typed, trimmed. No name, email or subject holds a control character
    (NUL...), so a text with one matches nothing (the services see to it); the page says why."""
    value = request.args.get(name, "").strip()
    if without_control_characters(value) != value:
        flash(
            f"The {what} has control characters, which no name, email or subject contains: "
            "nothing matches it.",
            "error",
        )
    return value


def _target_or_404(user_id: str) -> User:
    """The user an admin changes (the model, for the operation)."""
    user = summary.get_user(user_id)
    if user is None:
        abort(404)
    return user


def _summary_or_404(user_id: str) -> summary.UserSummary:
    """The user a page shows (their summary row)."""
    user = summary.user_summary(user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/")
@signed_in
def index():
    """The admin area's start: user search or the audit log, whichever the caller may use."""
    if current_user.can(VIEW_USER_DEVICES):
        return redirect(url_for("admin.user_search"))
    if current_user.can(VIEW_AUDIT_LOG):
        return redirect(url_for("admin.audit_events"))
    abort(403)


# -- users ----------------------------------------------------------------------------------


@bp.get("/users")
@require_permission(VIEW_USER_DEVICES)
def user_search():
    """Search users by email, name or subject; sortable, 50 a page."""
    q = _text_arg("q", "search")
    result = search_users(
        q,
        sort=request.args.get("sort"),
        direction=request.args.get("dir"),
        page=_page_number(),
        per_page=current_app.config["PAGE_SIZE"],
    )
    return render_template("admin/users.html", q=q, result=result, flag_labels=FLAG_LABELS)


@bp.get("/users/<user_id>")
@require_permission(VIEW_USER_DEVICES)
def user_detail(user_id: str):
    """One user's profile, permissions, devices and every session, with investigation flags."""
    target = _summary_or_404(user_id)
    history = user_history.user_history(target)
    sent_alerts = alerts.alerts_of_user(target.id)
    page = render_template(
        "admin/user.html",
        target=target,
        history=history,
        timeline=timeline.sign_in_timeline(history),
        places=timeline.places(history),
        permissions=user_history.permission_sources(
            target, current_app.config["GROUP_PERMISSIONS"]
        ),
        flag_labels=FLAG_LABELS,
        can_manage=current_user.can(MANAGE_USER_DEVICES),
        current_session_id=current_user.session_id,
        alerts=sent_alerts,
        confirmed={a.session_id for a in sent_alerts if a.answer == AlertAnswer.CONFIRMED},
        alert_flags=alerts.flag_labels,
        idp_signals=signals.undelivered_of_user(target.id),
    )
    # Audited last: the event is written with the commit, so the database's write lock
    # (SQLite has one) is held for that insert, not for reading and rendering the page.
    operations.view_user_devices(current_user.actor, target.id)
    return page


CSV_HEADER = [
    "device_id",
    "device_name",
    "device_type",
    "device_kind",
    "os",
    "browser",
    "trust",
    "trust_expires_at",
    "device_removed_at",
    "session_id",
    "login_method",
    "signed_in_at",
    "last_used_at",
    "expires_at",
    "ended_at",
    "ended_how",
    "ip_address",
    "location",
    "flags",
]


@bp.get("/users/<user_id>/devices.csv")
@require_permission(VIEW_USER_DEVICES)
def user_export(user_id: str):
    """CSV of the user's devices and all their sessions (one line per session)."""
    target = _summary_or_404(user_id)
    operations.export_csv(current_user.actor, "user_devices", target=target.id)
    history = user_history.user_history(target)

    def rows():
        for entry in history.devices:
            d = entry.device
            device_cells = [
                d.id,
                d.name,
                (d.device_type or "").lower(),
                d.kind,
                " ".join(p for p in (d.os_name, d.os_version) if p),
                " ".join(p for p in (d.browser, d.browser_version) if p),
                d.effective_trust_level()
                if d.trusted_now()
                else ("expired" if d.is_trusted else "untrusted"),
                iso_z(d.trust_expires_at),
                iso_z(d.removed_at),
            ]
            for s in entry.sessions or [None]:
                if s is None:
                    yield [*device_cells, *[""] * 10]
                    continue
                flags = [f.label for f in history.session_findings.get(s.id, [])]
                yield [
                    *device_cells,
                    s.id,
                    s.login_method,
                    iso_z(s.created_at),
                    iso_z(s.last_used_at),
                    iso_z(s.expires_at),
                    iso_z(s.ended_at),
                    s.ended_how() or "active",
                    s.ip_address,
                    s.location,
                    "; ".join(flags),
                ]

    # One user's history is small: build it now, while the rows are loaded.
    return csv_response(f"user-{target.id}-devices.csv", CSV_HEADER, list(rows()))


# -- revoking (each a confirm page on GET, the change on POST) ------------------------------


def _back_to(target: User | summary.UserSummary):
    return redirect(url_for("admin.user_detail", user_id=target.id))


@bp.route("/users/<user_id>/sessions/<session_id>/revoke", methods=["GET", "POST"])
@require_permission(MANAGE_USER_DEVICES)
def revoke_session(user_id: str, session_id: str):
    """End one session of the user (after confirming)."""
    target = _summary_or_404(user_id)
    row = reads.session_row(target.id, session_id)
    if row is None:
        abort(404)
    if not row.is_active():
        return _already_ended(target)
    if request.method == "GET":
        return render_template(
            "admin/confirm.html",
            target=target,
            title="Revoke this session?",
            what=f"the session started {row.created_at:%Y-%m-%d %H:%M} UTC on "
            f"“{row.device.name}” ({row.ip_address or 'unknown IP'}, "
            f"{row.location or 'unknown location'})",
            consequence="That browser or token is signed out on its next request.",
            own=row.id == current_user.session_id,
            button="Revoke session",
        )
    try:  # locked there: two admins revoking at once record one revoke
        row = operations.revoke_session(current_user.actor, row.id, target.id)
    except NotFound:  # it ended since it was read above
        return _already_ended(target)
    flash(f"Session on “{row.device.name}” revoked.", "success")
    return _back_to(target)


def _already_ended(target: summary.UserSummary):
    flash("That session had already ended.", "info")
    return _back_to(target)


@bp.route("/users/<user_id>/devices/<device_id>/revoke", methods=["GET", "POST"])
@require_permission(MANAGE_USER_DEVICES)
def revoke_device(user_id: str, device_id: str):
    """End every session of one of the user's devices (after confirming)."""
    target = _summary_or_404(user_id)
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
    device, count, _ = operations.end_device_sessions(current_user.actor, device.id, target.id)
    flash(f"“{device.name}”: {count} session{'' if count == 1 else 's'} revoked.", "success")
    return _back_to(target)


@bp.route("/users/<user_id>/revoke-all", methods=["GET", "POST"])
@require_permission(MANAGE_USER_DEVICES)
def revoke_all(user_id: str):
    """End all of the user's sessions (after confirming); your own current one is kept."""
    target = _summary_or_404(user_id)
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
    target = _target_or_404(user_id)
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
    target = _target_or_404(user_id)
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


# -- audit log ------------------------------------------------------------------------------


# Audit filter dates outside these bounds are ignored (and said so): the log holds nothing
# from before 1970, and a day after 9998 has no next day to end at.
EARLIEST_DATE, LATEST_DATE = date(1970, 1, 1), date(9998, 12, 31)


def _date_arg(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        flash(f"Ignored the {name} date “{value}”: use YYYY-MM-DD.", "error")
        return None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        flash(
            f"Ignored the {name} date “{value}”: use a date from {EARLIEST_DATE} to {LATEST_DATE}.",
            "error",
        )
        return None
    return day


def _audit_filter() -> log.AuditFilter:
    action = request.args.get("action", "")
    return log.AuditFilter(
        actor=_text_arg("actor", "actor filter"),
        target=_text_arg("target", "target filter"),
        action=action if action in audit.Actions.all() else "",
        since=_date_arg("since"),
        until=_date_arg("until"),
    )


@bp.get("/audit")
@require_permission(VIEW_AUDIT_LOG)
def audit_events():
    """The audit log, newest first, filtered by actor, target, action and dates."""
    filters = _audit_filter()
    result = log.search_events(
        filters, page=_page_number(), per_page=current_app.config["PAGE_SIZE"]
    )
    return render_template(
        "admin/audit.html", filters=filters, result=result, actions=audit.Actions.all()
    )


AUDIT_CSV_HEADER = [
    "occurred_at",
    "action",
    "actor_id",
    "actor",
    "target_user_id",
    "target",
    "device_id",
    "session_id",
    "ip_address",
    "detail",
]


@bp.get("/audit.csv")
@require_permission(VIEW_AUDIT_LOG)
def audit_export():
    """The filtered audit log as CSV, streamed (the export itself is audited first)."""
    import json

    filters = _audit_filter()
    operations.export_csv(
        current_user.actor,
        "audit_log",
        filters={k: str(v) for k, v in vars(filters).items() if v not in (None, "")} or None,
    )

    def rows():
        for e in log.iter_events(filters):
            yield [
                iso_z(e.occurred_at),
                e.action,
                e.actor_id,
                e.actor_label,
                e.target_user_id,
                e.target_user.email if e.target_user else None,
                e.device_id,
                e.session_id,
                e.ip_address,
                json.dumps(e.detail or {}, sort_keys=True),
            ]

    return csv_response("audit-log.csv", AUDIT_CSV_HEADER, rows())
