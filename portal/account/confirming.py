"""The pages that ask before an action on one of my devices (GET asks, the POST of the same
URL does): what it does, whether it signs out this browser, how many sessions end."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth.signin import safe_next
from ..services import operations
from ..services.devices import reads
from .forms import ActionForm


def confirm_device_action(form: ActionForm, device_id: str, action: str):
    """GET: the page that asks before ``action`` on one of my devices, saying whether it signs
    out this browser and how many sessions end."""
    found = reads.device_row(current_user.user_id, device_id)
    if found is None:
        abort(404)
    here = found.id == current_user.device_id
    active = found.active_sessions
    ends = f"{active} active session{'' if active == 1 else 's'} will end"
    words = {
        "sign-out": (f"Sign out {found.label}?", "Every session of this device ends.", "Sign out"),
        "untrust": (
            f"Stop trusting {found.label}?",
            "It is no longer trusted, and it is signed out: it must sign in again to be used.",
            "Untrust and sign out",
        ),
        "clear-report": (
            f"Clear the report of {found.label}?",
            "You reported this device as not you. Clear the report only if it is yours after "
            "all: it can then be trusted again. The sessions the report ended stay ended.",
            "Clear the report",
        ),
        "remove": (
            f"Remove {found.label}?",
            "It disappears from My devices and is signed out. Its sign-ins stay in your history; "
            "if it signs in again, it comes back as a new device.",
            "Remove device",
        ),
    }
    title, text, button = words[action]
    if action == "clear-report":  # ends nothing; refused (and said) when there is no report
        if found.reported_suspicious_at is None:
            flash(operations.NotReported.default_message, "error")
            return redirect(url_for("account.device", device_id=found.id))
        here, ends = False, ""
    form.next.data = request.args.get("next")
    return render_template(
        "account/confirm.html",
        form=form,
        title=title,
        text=text,
        button=button,
        device=found,
        ends=ends,
        signs_out_here=here,
        action_url=url_for(f"account.{action.replace('-', '_')}_device", device_id=found.id),
        back=safe_next(form.next.data),
    )
