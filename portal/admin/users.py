"""Admin pages about users: the admin area's start, the user search, one user's page (their
devices and sign-ins, with investigation flags) and its CSV export.

Views only parse the request, call ``services`` (``operations`` for every audited look) and
render; every one names the permission it needs.
"""

from __future__ import annotations

from typing import NoReturn

from flask import abort, current_app, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from ..authz import (
    MANAGE_USER_DEVICES,
    VIEW_AUDIT_LOG,
    VIEW_USER_DEVICES,
    require_permission,
    signed_in,
)
from ..models import AlertAnswer, User
from ..services import operations
from ..services.devices.flags import FLAG_LABELS
from ..services.outbox import alerts, signals
from ..services.users import history as user_history
from ..services.users import summary
from ..services.users.search import search_users
from ..timefmt import iso_z
from . import timeline
from .blueprint import bp
from .csv_export import csv_response
from .request_args import page_number, text_arg


def _no_such_user(user_id: str) -> NoReturn:
    """A 404 that says no user has this id (an admin may know that much) and leads back to
    the users, rather than the generic "nothing here"."""
    abort(make_response(render_template("admin/no_user.html", user_id=user_id), 404))


def target_or_404(user_id: str) -> User:
    """The user an admin changes (the model, for the operation)."""
    user = summary.get_user(user_id)
    if user is None:
        _no_such_user(user_id)
    return user


def summary_or_404(user_id: str) -> summary.UserSummary:
    """The user a page shows (their summary row)."""
    user = summary.user_summary(user_id)
    if user is None:
        _no_such_user(user_id)
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
    q = text_arg("q", "search")
    result = search_users(
        q,
        sort=request.args.get("sort"),
        direction=request.args.get("dir"),
        page=page_number(),
        per_page=current_app.config["PAGE_SIZE"],
    )
    return render_template("admin/users.html", q=q, result=result, flag_labels=FLAG_LABELS)


@bp.get("/users/<user_id>")
@require_permission(VIEW_USER_DEVICES)
def user_detail(user_id: str):
    """One user's profile, permissions, devices and every session, with investigation flags."""
    target = summary_or_404(user_id)
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
        # The alerts name their device as the device list above does (``reads.device_label``).
        device_labels={entry.device.id: entry.device.label for entry in history.devices},
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
    target = summary_or_404(user_id)
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
            if not entry.sessions:  # a device without sessions still has its line
                yield [*device_cells, *[""] * 10]
            for s in entry.sessions:
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
