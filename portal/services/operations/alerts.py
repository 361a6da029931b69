"""Sign-in alerts: which are mailed, and answering an alert's link ("Was this you?")."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ...models import AlertAnswer, Device, SignInAlert
from ..audit.record import Actions
from ..devices import changes
from ..errors import NotFound
from ..outbox import alerts
from ..users import summary
from .actor import Actor
from .devices import report_device


def set_alert_mode(actor: Actor, mode: str, policy: alerts.AlertPolicy) -> alerts.AlertMode:
    """The actor chooses which sign-ins are mailed to them (raises ``InvalidAlertMode``)."""
    user = actor.user
    assert user is not None  # a signed-in user's own setting
    old = user.alert_mode
    chosen = alerts.set_mode(user, mode, policy)
    actor.record(Actions.ALERT_MODE_CHANGED, user, old_mode=old, new_mode=chosen.value)
    return chosen


def _alert_detail(alert: SignInAlert) -> dict[str, Any]:
    message = alert.outbox_message
    return {"alert_id": str(alert.id), "message_id": message.message_id if message else None}


def answer_alert(actor: Actor, alert: SignInAlert, answer: AlertAnswer, device: Device) -> int:
    """The person who got an alert answered it from the mail's link (signed in or not).

    "Yes, it was me" marks the sign-in confirmed by the user. "No, secure my account" is
    exactly *This wasn't me* (``report_suspicious``) on that device. Either way the alert's
    links work no more, and neither answers once the device is reported (``check_usable``).
    Returns how many sessions ended.
    """
    alerts.check_usable(alert, answer)
    ended = 0
    if answer is AlertAnswer.SECURED:
        ended = report_device(actor, device, session_id=alert.session_id, **_alert_detail(alert))
    else:
        actor.record(
            Actions.SIGN_IN_CONFIRMED,
            alert.user_id,
            device_id=alert.device_id,
            session_id=alert.session_id,
            **_alert_detail(alert),
        )
    alerts.answer(alert, answer)
    return ended


ALERT_NOT_FOUND = "This link does not belong to any alert we sent."


@dataclass(frozen=True)
class AlertLinkAnswer:
    """What answering an alert's link did: the device it is about, how many sessions ended,
    and, for a link used again or too late, why it was refused (and audited) instead."""

    device: Device
    ended: int = 0
    refused: str | None = None


def answer_alert_link(
    *,
    alert_id: str,
    user_id: uuid.UUID,
    device_id: str,
    session_id: str | None,
    answer: AlertAnswer,
    ip_address: str | None,
) -> AlertLinkAnswer:
    """The button of an alert's link (``answer_alert``), for whoever holds the link: the
    device and the alert the link names are locked, every id in it must match them
    (NotFound otherwise), and a link used again or too late is refused and audited."""
    device = changes.lock_device(user_id, device_id, include_removed=True)
    alert = alerts.find_alert(alert_id, str(user_id), device_id, session_id, lock=True)
    if device is None or alert is None:
        raise NotFound(ALERT_NOT_FOUND)
    user = summary.get_user(user_id)
    if user is None:
        raise NotFound(ALERT_NOT_FOUND)
    actor = Actor(user, None, ip_address)
    try:
        ended = answer_alert(actor, alert, answer, device)
    except alerts.AlertLinkRefused as exc:  # refused before anything changed: audit that
        refuse_alert_link(actor, alert, exc.message)
        return AlertLinkAnswer(device, refused=exc.message)
    return AlertLinkAnswer(device, ended)


def refuse_alert_link(actor: Actor, alert: SignInAlert, reason: str) -> None:
    """Audit a link of a known alert that was used again or too late; nothing else changes."""
    actor.record(
        Actions.ALERT_LINK_REFUSED,
        alert.user_id,
        device_id=alert.device_id,
        reason=reason,
        **_alert_detail(alert),
    )
