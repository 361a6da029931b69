"""``/account/notifications``: which sign-ins are mailed to me (sign-in alerts)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..auth.principal import alert_policy
from ..authz import signed_in
from ..errors import flash_back
from ..services import operations
from ..services.outbox import alerts
from .blueprint import bp
from .forms import AlertModeForm


def _here() -> str:
    return url_for("account.notifications")


@bp.route("/notifications", methods=["GET", "POST"])
@flash_back(_here)
@signed_in
def notifications():
    """Choose: every new device (and flagged sign-ins), only flagged sign-ins, or none (a mode
    the instance does not allow is flashed back here: ``flash_back``)."""
    policy = alert_policy()
    user = current_user.user
    form = AlertModeForm()
    form.mode.choices = [(m.value, alerts.MODE_LABELS[m]) for m in policy.modes()]
    if request.method == "GET":
        form.mode.data = policy.mode_of(user.alert_mode).value
    elif form.validate_on_submit():
        chosen = operations.set_alert_mode(current_user.actor, form.mode.data, policy)
        flash(f"Saved: {alerts.MODE_LABELS[chosen].lower()}.", "success")
        return redirect(_here())
    return render_template(
        "account/notifications.html",
        form=form,
        email=user.email,
        enabled=current_app.config["ALERTS_ENABLED"],
        forced=policy.force_flagged,
        default=alerts.MODE_LABELS[policy.mode_of(None)],
    ), (400 if request.method == "POST" else 200)
