"""Rendering a sign-in alert (text and HTML, from templates) and sending due mail over SMTP.

The worker calls ``send_due_mail``; a sign-in only writes the outbox row. The mail is rendered
when it is sent, from the alert's rows, with links to the portal's address the sign-in came
through (kept in the row). Each mail carries the Message-ID chosen when it was queued, so a
retry after a timeout that did deliver is recognisable as the same mail.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from flask import current_app, render_template, url_for
from flask_mailman import EmailMultiAlternatives

from .. import logs, metrics
from ..extensions import mail
from ..models import AlertAnswer, SignInAlert
from ..services.devices import reads
from ..services.outbox import alerts, queue
from ..timefmt import exact, humanize
from . import tokens

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def _device_words(device) -> dict[str, str]:
    """The device as the mail names it: by the portal's own name for it (with the short suffix
    My devices shows when two share a name: ``reads.label_of``), then what it runs."""
    system = " ".join(v for v in (device.os_name, device.os_version) if v) or "an unknown system"
    browser = device.browser or ("an API client" if device.kind == "api_client" else "a browser")
    return {
        "browser": browser,
        "system": system,
        "type": (device.device_type or "desktop").lower(),
        "name": reads.label_of(device.id) or device.name,
    }


def render_alert(alert: SignInAlert) -> RenderedMail:
    """The mail about one alert; needs a request context for the portal's address."""
    device, session = alert.device, alert.session
    where = (session.location if session else None) or device.location or "an unknown place"
    ip = (session.ip_address if session else None) or device.ip_address or "unknown"
    when = session.created_at if session else alert.created_at
    words = _device_words(device)
    flags = alerts.flag_words(alert.flags)
    if device.reported_suspicious_at is not None:  # always unusual: the user said not them
        flags.insert(0, alerts.reported_words(device.reported_suspicious_at))
    if alert.new_device and flags:
        happened = "Your account was signed in to from a new device, and the sign-in looks unusual."
    elif alert.new_device:
        happened = "Your account was signed in to from a new device."
    else:
        happened = "Your account was signed in to in a way that looks unusual."
    context: dict[str, Any] = {
        "alert": alert,
        "email": alert.user.email,
        "happened": happened,
        "device": words,
        "when": when,
        "when_utc": exact(when),
        "when_words": humanize(when),
        "where": where,
        "ip": ip,
        "flags": flags,
        "yes_url": url_for(
            "alerts.answer", token=tokens.make(alert, AlertAnswer.CONFIRMED), _external=True
        ),
        "no_url": url_for(
            "alerts.answer", token=tokens.make(alert, AlertAnswer.SECURED), _external=True
        ),
        "devices_url": url_for("home.index", _external=True),
        "settings_url": url_for("account.notifications", _external=True),
    }
    subject = f"New sign-in: {words['name']} in {where}"
    if flags:
        subject = f"Unusual sign-in: {words['name']} in {where}"
    return RenderedMail(
        subject=subject[:255],
        text=render_template("mail/sign_in_alert.txt", **context),
        html=render_template("mail/sign_in_alert.html", **context),
    )


def _permanent_error(exc: Exception) -> str | None:
    """The server's answer when it refused for good (a 5xx), else None (worth a retry)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = list(exc.recipients.values())
        if answers and all(500 <= code < 600 for code, _ in answers):
            return "; ".join(f"{code} {_text(msg)}" for code, msg in answers)
        return None
    if isinstance(exc, smtplib.SMTPResponseException) and 500 <= exc.smtp_code < 600:
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return None


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _send(claimed: queue.Claimed, rendered: RenderedMail) -> None:
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=current_app.config["MAIL_FROM"],
        to=[claimed.recipient],
        headers={"Message-ID": claimed.message_id, "Auto-Submitted": "auto-generated"},
        connection=mail.get_connection(fail_silently=False),
    )
    message.attach_alternative(rendered.html, "text/html")
    message.send()


def _render(claimed: queue.Claimed) -> RenderedMail | None:
    alert = alerts.load_alert(claimed.payload.get("alert_id", ""))
    if alert is None:
        return None
    base_url = claimed.payload.get("base_url") or "http://localhost/"
    with current_app.test_request_context(base_url=base_url):
        return render_alert(alert)


def send_due_mail(transaction: Callable[[Callable[[], Any]], Any], limit: int) -> int:
    """Claim due mail, send each, record each outcome; returns how many were attempted.

    ``transaction(step)`` runs ``step`` in a transaction of its own and commits it (the
    worker's), so the claim is committed before any mail leaves and every outcome after.
    """
    if not current_app.config["ALERTS_ENABLED"]:
        return 0
    claimed = transaction(lambda: queue.claim_due(limit, kinds=(alerts.KIND,)))
    for item in claimed:
        with logs.job("mail", item.message_id):  # this mail's lines carry its id
            _send_one(transaction, item)
    return len(claimed)


def _send_one(transaction: Callable[[Callable[[], Any]], Any], item: queue.Claimed) -> None:
    """Render and send one claimed mail, and record how it went."""
    rendered = transaction(partial(_render, item))
    if rendered is None:
        transaction(partial(queue.mark_failed, item, "the alert no longer exists"))
        return
    try:
        _send(item, rendered)
    except Exception as exc:
        metrics.alert("failed")  # this attempt; given up or not (``queue``)
        permanent = _permanent_error(exc)
        if permanent:
            log.warning("mail %s refused for good: %s", item.message_id, permanent)
            transaction(partial(queue.mark_failed, item, permanent))
        else:
            why = f"{type(exc).__name__}: {exc}"
            log.warning("mail %s not sent (attempt %d): %s", item.message_id, item.attempts, why)
            transaction(partial(queue.retry_later, item, why))
        return
    metrics.alert("sent")  # it left, whatever recording it does next
    transaction(partial(queue.mark_sent, item, rendered.subject))
    log.info("mail %s sent", item.message_id)
