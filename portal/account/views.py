"""My devices, a device page, and the buttons on them; ``operations`` does the work.

Every change is a POST with a CSRF token (Flask-WTF), answered with a redirect and a flash
message (post/redirect/get). The account-wide sign-outs ask first on a page of their own, so
they work without JavaScript: GET asks, POST does.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user

from ..auth.signin import safe_next
from ..auth.signout import finish_sign_out
from ..authz import signed_in
from ..errors import flash_back
from ..models import utcnow
from ..services import operations
from ..services.audit import activity
from ..services.devices import reads
from ..timefmt import exact
from .blueprint import bp
from .confirming import confirm_device_action
from .forms import TRUST_OPTIONS, ActionForm, RenameForm, TrustForm


def _forms() -> dict:
    """What the device cards' forms need besides the CSRF token: the trust levels (constants:
    no form is built to render them)."""
    return {"trust_options": TRUST_OPTIONS}


def _back(form: ActionForm):
    """Back to the page the form was on (a local path only), else My devices."""
    return redirect(safe_next(form.next.data))


def _form_page() -> str:
    """Where a form's mistake goes back to: the page it was on (its ``next``), else My devices."""
    return safe_next(request.form.get("next"))


def _home() -> str:
    return url_for("home.index")


def _signed_out(message: str):
    """This browser's own session has just ended: sign out here and at the IdP, and say so."""
    return finish_sign_out(session.get("id_token"), message)


def _label(device) -> str:
    """A changed device as every page names it (``reads.device_label``), for the flash."""
    return reads.label_of(device.id) or device.name


def _form_errors(form) -> str:
    return " ".join(e for errors in form.errors.values() for e in errors) or "Please try again."


@bp.get("/")
@signed_in
def my_devices():
    """My devices: the devices signed in now (this one first), then the signed-out ones."""
    return my_devices_page()


def my_devices_page():
    """My devices for the signed-in user (also the home page ``/``, ``home.index``): the browsers
    signed in now (this one first), the signed-out ones folded with when and how each ended, and
    the API clients on their own; one statement for all of it."""
    current_device_id = current_user.device_id
    rows = reads.device_rows(current_user.user_id, current_device_id=current_device_id)
    browsers = [r for r in rows if r.kind != "api_client"]
    signed_out = [r for r in browsers if not r.signed_in]
    return render_template(
        "account/devices.html",
        signed_in=[r for r in browsers if r.signed_in],
        signed_out=signed_out,
        api_clients=[r for r in rows if r.kind == "api_client"],
        # Open the signed-out list when a device in it ended moments ago (just signed out here).
        recently_signed_out=any(
            r.signed_out_at and (utcnow() - r.signed_out_at).total_seconds() < 900
            for r in signed_out
        ),
        # "Sign out all other devices" only when another session is there to end.
        others_signed_in=any(
            s.id != current_user.session_id for r in rows for s in (r.active or ())
        ),
        current_device_id=current_device_id,
        current_session_id=current_user.session_id,
        trust_days=current_app.config["DEVICE_TRUST_DAYS"],
        active_total=sum(r.active_sessions for r in rows),
        activity=activity.security_events(current_user.user_id),
        **_forms(),
    )


@bp.get("/devices/<device_id>")
@signed_in
def device(device_id: str):
    """One of my devices with its whole login history; anyone else's is a 404."""
    found = reads.device_row(current_user.user_id, device_id)
    if found is None:
        abort(404)
    return render_template(
        "account/device.html",
        device=found,
        sessions=reads.session_rows(current_user.user_id, device_id=found.id),
        is_current=found.id == current_user.device_id,
        **_forms(),
    )


@bp.route("/devices/<device_id>/sign-out", methods=["GET", "POST"])
@signed_in
def sign_out_device(device_id: str):
    """End every session of one of my devices; on this device, that signs me out (GET asks)."""
    form = ActionForm()
    if request.method == "GET":
        return confirm_device_action(form, device_id, "sign-out")
    if not form.validate_on_submit():
        abort(400)
    found, ended, ended_current = operations.end_device_sessions(current_user.actor, device_id)
    if ended_current:
        return _signed_out("You signed out this device.")
    sessions = f"{ended} session{'' if ended == 1 else 's'}"
    flash(f"Signed out {_label(found)} ({sessions} ended).", "success")
    return _back(form)


@bp.post("/devices/<device_id>/trust")
@flash_back(_form_page)
@signed_in
def trust_device(device_id: str):
    """Trust one of my devices for PORTAL_DEVICE_TRUST_DAYS at the chosen level (a reported
    device is refused: ``operations.TrustingReportedDevice``)."""
    form = TrustForm()
    if not form.validate_on_submit():
        flash(_form_errors(form), "error")
        return _back(form)
    days = current_app.config["DEVICE_TRUST_DAYS"]
    found, expires = operations.trust_device(current_user.actor, device_id, form.level.data, days)
    flash(
        f"{_label(found)} is trusted ({form.level.data.title()}) until {exact(expires)}.",
        "success",
    )
    return _back(form)


@bp.route("/devices/<device_id>/untrust", methods=["GET", "POST"])
@signed_in
def untrust_device(device_id: str):
    """Stop trusting one of my devices; it is signed out and must sign in again (GET asks)."""
    form = ActionForm()
    if request.method == "GET":
        return confirm_device_action(form, device_id, "untrust")
    if not form.validate_on_submit():
        abort(400)
    found, _ = operations.untrust_device(current_user.actor, device_id)
    if found.id == current_user.device_id:
        return _signed_out("This device is no longer trusted, and you were signed out.")
    flash(f"{_label(found)} is no longer trusted and was signed out.", "success")
    return _back(form)


@bp.route("/devices/<device_id>/report", methods=["GET", "POST"])
@flash_back(_home)
@signed_in
def report_device(device_id: str):
    """Report "This wasn't me" about one of my other devices (GET asks, POST does).

    In one step the device is signed out, no longer trusted and marked as reported, and every
    new sign-in to the account must give credentials at the IdP again. This device cannot be
    reported: it is the one the user is holding.
    """
    form = ActionForm()
    posted = request.method == "POST"
    if not form.validate_on_submit():  # GET, or a POST without a valid CSRF token
        found = reads.device_row(current_user.user_id, device_id)
        if found is None:
            abort(404)
        if found.id == current_user.device_id:
            flash(operations.ReportingCurrentDevice.default_message, "error")
            return redirect(_home())
        if found.reported_suspicious_at is not None:
            flash(operations.AlreadyReported.default_message, "error")
            return redirect(url_for("account.device", device_id=found.id))
        if not posted:
            form.next.data = request.args.get("next")
        return render_template(
            "account/report.html",
            form=form,
            back=safe_next(form.next.data),
            device=found,
            active_sessions=found.active_sessions,
        ), (400 if posted else 200)
    device, ended = operations.report_suspicious(current_user.actor, device_id)
    flash(
        f"Reported {_label(device)}: it was signed out ({ended} session{'' if ended == 1 else 's'} "
        "ended) and is no longer trusted, and every new sign-in to your account must give your "
        "password again. Change your password at your identity provider now.",
        "success",
    )
    return _back(form)


@bp.route("/devices/<device_id>/clear-report", methods=["GET", "POST"])
@flash_back(_form_page)
@signed_in
def clear_report_device(device_id: str):
    """Take back "This wasn't me" about one of my devices, so that it may be trusted again
    (GET asks, POST does); its ended sessions stay ended."""
    form = ActionForm()
    if request.method == "GET":
        return confirm_device_action(form, device_id, "clear-report")
    if not form.validate_on_submit():
        abort(400)
    found = operations.clear_report(current_user.actor, device_id)
    flash(f"The report of {_label(found)} is cleared: it may be trusted again.", "success")
    return redirect(url_for("account.device", device_id=found.id))


@bp.route("/devices/<device_id>/remove", methods=["GET", "POST"])
@signed_in
def remove_device(device_id: str):
    """Remove one of my devices: hidden from the list, its sessions ended (GET asks first).

    The same operation as ``DELETE /devices/{id}``; on this device it signs me out.
    """
    form = ActionForm()
    if request.method == "GET":
        return confirm_device_action(form, device_id, "remove")
    if not form.validate_on_submit():
        abort(400)
    found, ended = operations.remove_device(current_user.actor, device_id)
    if found.id == current_user.device_id:
        return _signed_out("This device was removed, and you were signed out.")
    flash(f"Removed {_label(found)} ({ended} session{'' if ended == 1 else 's'} ended).", "success")
    return redirect(url_for("home.index"))


@bp.route("/sessions/<session_id>/sign-out", methods=["GET", "POST"])
@signed_in
def sign_out_session(session_id: str):
    """End one session of one of my devices (a device may hold several); ending this
    browser's own session asks first (GET), since it signs me out."""
    form = ActionForm()
    if request.method == "GET":
        found = reads.session_row(current_user.user_id, session_id)
        if found is None or not found.is_active():
            abort(404)
        assert found.device is not None  # a session read alone comes with its device
        form.next.data = request.args.get("next")
        here = found.id == current_user.session_id
        return render_template(
            "account/confirm.html",
            form=form,
            title="Sign out this session?",
            text=f"The session that signed in on {found.device.label} "
            f"{exact(found.created_at)}"
            f"{' from ' + found.location if found.location else ''} ends.",
            button="Sign out",
            device=found.device,
            ends="1 active session will end",
            signs_out_here=here,
            action_url=url_for("account.sign_out_session", session_id=found.id),
            back=safe_next(form.next.data),
        )
    if not form.validate_on_submit():
        abort(400)
    ended = operations.revoke_session(current_user.actor, session_id)
    if ended.id == current_user.session_id:
        return _signed_out("You signed out this browser.")
    flash(f"Signed out one session of {_label(ended.device)}.", "success")
    return _back(form)


@bp.post("/devices/<device_id>/rename")
@flash_back(_form_page)
@signed_in
def rename_device(device_id: str):
    """Give one of my devices a name of 1-64 printable characters (a name it cannot have is
    flashed back to the page the form was on: ``flash_back``)."""
    form = RenameForm()
    if not form.validate_on_submit():
        flash(_form_errors(form), "error")
        return _back(form)
    name = form.name.data
    assert name is not None  # a required field of a valid form
    device = operations.rename_device(current_user.actor, device_id, name)
    flash(f"Renamed to {device.name}.", "success")
    return _back(form)


@bp.route("/sign-out-others", methods=["GET", "POST"])
@signed_in
def sign_out_others():
    """Sign out every other device, keeping this one (GET asks, POST does)."""
    form = ActionForm()
    if not form.validate_on_submit():
        return _confirm(
            form,
            include_current=False,
            title="Sign out all other devices?",
            text="Every other browser, phone and API token signed in to your account will be "
            "signed out at once. This device stays signed in.",
            button="Sign out all other devices",
        )
    ended, _ = operations.revoke_all_sessions(
        current_user.actor, current_user.user, include_current=False
    )
    flash(
        f"Signed out all other devices ({ended} session{'' if ended == 1 else 's'} ended).",
        "success",
    )
    return redirect(url_for("home.index"))


@bp.route("/sign-out-everywhere", methods=["GET", "POST"])
@signed_in
def sign_out_everywhere():
    """Sign out every device, this one too (GET asks, POST does)."""
    form = ActionForm()
    if not form.validate_on_submit():
        return _confirm(
            form,
            include_current=True,
            title="Sign out everywhere?",
            text="Every browser, phone and API token signed in to your account will be signed "
            "out at once, including this one.",
            button="Sign out everywhere",
        )
    operations.revoke_all_sessions(current_user.actor, current_user.user, include_current=True)
    return _signed_out("You were signed out everywhere.")


def _confirm(form: ActionForm, *, include_current: bool, title: str, text: str, button: str):
    """The confirmation page of the account-wide sign-outs, listing the devices that will be
    signed out; a POST that got here had no valid token and changes nothing."""
    status = 400 if request.method == "POST" else 200
    here = current_user.device_id
    rows: list[reads.DeviceRow] = []  # the devices with a session that ends
    ending = 0
    for r in reads.device_rows(current_user.user_id, current_device_id=here):
        assert r.active is not None  # read with their sessions
        ends = sum(1 for s in r.active if include_current or s.id != current_user.session_id)
        if ends:
            rows.append(r)
            ending += ends
    return render_template(
        "account/confirm.html",
        form=form,
        title=title,
        text=text,
        button=button,
        devices_ending=rows,
        current_device_id=here,
        ends=f"{ending} active session{'' if ending == 1 else 's'} will end",
        signs_out_here=include_current,
        action_url=request.path,
        back=url_for("home.index"),
    ), status
