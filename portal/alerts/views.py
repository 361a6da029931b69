""" "Was this you?": the pages an alert's links open, for anyone holding the link.

GET shows what happened and one button, and changes nothing (mail scanners open every link).
The button POSTs with a CSRF token and acts: "Yes, it was me" confirms the sign-in, "No, secure
my account" does exactly what *This wasn't me* does on My devices. A link that was used, has
expired, was changed or names another alert gets a friendly page that changes nothing.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_wtf import FlaskForm

from ..authz import public
from ..models import AlertAnswer
from ..services import common, operations
from ..services.devices import reads
from ..services.errors import NotFound
from ..services.outbox import alerts
from . import tokens

_REFUSED_TITLE = "This link cannot be used"

bp = Blueprint("alerts", __name__, url_prefix="/alerts")


def _refused(message: str, status: int = 200):
    """The friendly page of a link that cannot be used; nothing was changed before it."""
    return render_template("alerts/refused.html", title=_REFUSED_TITLE, message=message), status


def _read_link(token: str):
    try:
        return tokens.read(token), None
    except tokens.LinkExpired:
        return None, _refused("This link has expired; links in our mails work for 7 days.")
    except tokens.LinkInvalid:
        return None, _refused("This link is not one of ours, or it was changed on its way.", 400)


class AnswerForm(FlaskForm):
    """The confirm page's button: its CSRF token and nothing else."""


@bp.route("/<token>", methods=["GET", "POST"])
@public
def answer(token: str):
    """The confirm page of an alert's link (GET), and its button (POST)."""
    link, refused = _read_link(token)
    if refused is not None:
        return refused
    form = AnswerForm()
    posted = request.method == "POST"
    if posted and form.validate_on_submit():
        return _act(link)
    found = alerts.find_alert(link.alert_id, link.user_id, link.device_id, link.session_id)
    try:
        alert = alerts.check_usable(found, link.answer)
    except alerts.AlertLinkRefused as exc:
        return _refused(str(exc))
    return render_template(
        "alerts/confirm.html",
        form=form,
        alert=alert,
        answer=link.answer.value,
        flags=alerts.flag_words(alert.flags),
        device_label=reads.label_of(alert.device_id) or alert.device.name,
        action_url=request.path,
    ), (400 if posted else 200)


def _act(link: tokens.AlertLink):
    user_id = common.parse_id(link.user_id)
    if user_id is None:
        return _refused("This link is not one of ours, or it was changed on its way.", 400)
    try:
        done = operations.answer_alert_link(
            alert_id=link.alert_id,
            user_id=user_id,
            device_id=link.device_id,
            session_id=link.session_id,
            answer=link.answer,
            ip_address=request.remote_addr,
        )
    except NotFound as exc:  # a link of an alert that is gone: the friendly page, as any refusal
        return _refused(exc.message)
    if done.refused:
        return _refused(done.refused)
    return render_template(
        "alerts/done.html",
        answer=link.answer.value,
        device=done.device,
        device_label=reads.label_of(done.device.id) or done.device.name,
        ended=done.ended,
        secured=link.answer is AlertAnswer.SECURED,
    )
