"""Which sign-ins are mailed to their user, and the outbox rows that carry the mail.

A sign-in is mailed when it comes from a **new device** (a device with no sign-in before this
one, of a user who already had another device) or is **flagged** (new country, impossible
travel), as the user's mode allows: ``new_device`` (both), ``flagged`` or ``none``. The mail is
written to the outbox in the sign-in's own transaction and sent later by the worker, so a
sign-in never waits for a mail server and a rolled-back sign-in mails nothing. At most one
alert per device a day: a burst of sign-ins from one device is one mail. A device the user
reported as not them is the exception: each of its sign-ins is mailed, whatever the mode.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import joinedload

from ... import metrics
from ...extensions import db
from ...models import (
    AlertAnswer,
    Device,
    OutboxMessage,
    OutboxStatus,
    SignInAlert,
    User,
    UserSession,
    utcnow,
)
from ..common import exact_time
from ..devices.flags import FLAG_LABELS, Flag, flags_in
from ..errors import Conflict, Invalid

# One mail per device in this much time, however many sign-ins it makes.
QUIET_PERIOD = timedelta(days=1)
# How long the links of an alert work.
LINK_LIFETIME = timedelta(days=7)
KIND = "sign_in_alert"


class AlertMode(enum.StrEnum):
    NEW_DEVICE = "new_device"  # every new device, and every flagged sign-in
    FLAGGED = "flagged"  # flagged sign-ins only
    NONE = "none"


MODE_LABELS = {
    AlertMode.NEW_DEVICE: "Every sign-in from a new device, and every flagged sign-in",
    AlertMode.FLAGGED: "Only flagged sign-ins (new country, impossible travel)",
    AlertMode.NONE: "None",
}


@dataclass(frozen=True)
class AlertPolicy:
    """The instance's alert settings, and the portal's address the mail's links point at."""

    enabled: bool
    default_mode: AlertMode
    force_flagged: bool
    base_url: str
    sender: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any], base_url: str) -> AlertPolicy:
        return cls(
            enabled=bool(config["ALERTS_ENABLED"]),
            default_mode=AlertMode(config["ALERTS_DEFAULT"]),
            force_flagged=bool(config["ALERTS_FORCE_FLAGGED"]),
            base_url=base_url.rstrip("/") + "/",
            sender=config["MAIL_FROM"],
        )

    def modes(self) -> list[AlertMode]:
        """The modes a user may choose ("none" not when flagged alerts are forced on)."""
        return [m for m in AlertMode if not (self.force_flagged and m is AlertMode.NONE)]

    def mode_of(self, user_mode: str | None) -> AlertMode:
        """The mode that applies to a user who chose ``user_mode`` (None: the default)."""
        try:
            mode = AlertMode(user_mode) if user_mode else self.default_mode
        except ValueError:
            mode = self.default_mode
        if self.force_flagged and mode is AlertMode.NONE:
            return AlertMode.FLAGGED
        return mode


class InvalidAlertMode(Invalid):
    """A mode that does not exist, or that the instance does not allow."""


def set_mode(user: User, mode: str, policy: AlertPolicy) -> AlertMode:
    """Store the user's choice; raises ``InvalidAlertMode`` for one they may not make."""
    try:
        chosen = AlertMode(mode)
    except ValueError:
        raise InvalidAlertMode(f"unknown alert setting {mode!r}") from None
    if chosen not in policy.modes():
        raise InvalidAlertMode("Alerts about flagged sign-ins cannot be turned off here.")
    user.alert_mode = chosen.value
    db.session.flush()
    return chosen


def _is_new_device(user: User, session: UserSession) -> bool:
    """No sign-in on this device before this one, and the user had another device."""
    earlier_here = exists().where(
        UserSession.device_id == session.device_id, UserSession.id != session.id
    )
    other_device = exists().where(Device.user_id == user.id, Device.id != session.device_id)
    first_here, had_other = db.session.execute(select(~earlier_here, other_device)).one()
    return bool(first_here and had_other)


def _message_id(sender: str) -> str:
    """A Message-ID that stays the same for every attempt to send this mail."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "device-portal"
    return f"<{uuid.uuid4().hex}@{domain}>"


def queue_sign_in_alert(
    user: User, session: UserSession, policy: AlertPolicy, now: datetime | None = None
) -> SignInAlert | None:
    """Write the alert about this sign-in and its mail to the outbox, when one is due.

    A sign-in on a device its owner reported as not them is always due: whatever the mode, and
    however recent the last alert about that device (the quiet period is for a burst of the
    user's own sign-ins, not for someone they said is not them).

    The device's row is locked first (it was written by the sign-in already, so this only
    makes sure), so parallel sign-ins from one device queue here and the second sees the
    first one's alert: a burst is one mail.
    """
    if not policy.enabled or not user.email:
        return None
    now = now or utcnow()
    reported = db.session.execute(
        select(Device.reported_suspicious_at)
        .where(Device.id == session.device_id)
        .with_for_update()
    ).scalar()
    if reported is not None:  # the user said this device is not them: always mailed
        return _queue(user, session, policy, now, new_device=_is_new_device(user, session))
    mode = policy.mode_of(user.alert_mode)
    flagged = bool(session.sign_in_flags)
    if mode is AlertMode.NONE or (mode is AlertMode.FLAGGED and not flagged):
        return None
    new_device = _is_new_device(user, session)
    if not (flagged or new_device):
        return None
    recent = db.session.execute(
        select(
            exists().where(
                SignInAlert.device_id == session.device_id,
                SignInAlert.created_at > now - QUIET_PERIOD,
            )
        )
    ).scalar()
    if recent:
        return None
    return _queue(user, session, policy, now, new_device=new_device)


def _queue(
    user: User, session: UserSession, policy: AlertPolicy, now: datetime, *, new_device: bool
) -> SignInAlert:
    """The alert and its mail in the outbox."""
    message = OutboxMessage(
        id=uuid.uuid4(),
        message_id=_message_id(policy.sender),
        kind=KIND,
        user_id=user.id,
        recipient=user.email,
        payload={},
        status=OutboxStatus.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    alert = SignInAlert(
        id=uuid.uuid4(),
        user_id=user.id,
        device_id=session.device_id,
        session_id=session.id,
        outbox_message_id=message.id,
        new_device=new_device,
        flags=session.sign_in_flags,
        created_at=now,
    )
    message.payload = {"alert_id": str(alert.id), "base_url": policy.base_url}
    db.session.add(message)
    db.session.flush()
    db.session.add(alert)
    db.session.flush()
    metrics.alert("queued", on_commit=True)
    return alert


# -- answering an alert ("Was this you?") -------------------------------------------------------


class AlertLinkRefused(Conflict):
    """A link that cannot be used (already used, expired, or its alert is gone); the message
    says which, in words for the person who clicked it."""

    def __init__(self, message: str, alert: SignInAlert | None = None):
        super().__init__(message)
        self.alert = alert


def find_alert(
    alert_id: str, user_id: str, device_id: str, session_id: str | None, lock: bool = False
) -> SignInAlert | None:
    """The alert a link's token names, only when every id in the token matches it."""
    try:
        key = uuid.UUID(alert_id)
    except (TypeError, ValueError):
        return None
    stmt = select(SignInAlert).where(SignInAlert.id == key)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    alert = db.session.execute(stmt).scalar_one_or_none()
    if alert is None or str(alert.user_id) != user_id or str(alert.device_id) != device_id:
        return None
    if str(alert.session_id) != str(session_id) and alert.session_id is not None:
        return None
    return alert


def _at(when: datetime) -> str:
    return exact_time(when)


def check_usable(
    alert: SignInAlert | None, answer: AlertAnswer | None = None, now: datetime | None = None
) -> SignInAlert:
    """Raise ``AlertLinkRefused`` unless the alert's link for ``answer`` may still be used.

    Once the alert is answered, its other link says what was answered and when (the same link
    says it was used already). While the device is reported as not the user, "Yes, it was me"
    is refused, and so is "No, secure my account" of an alert older than the report (that
    sign-in is secured already); an alert about a sign-in *after* the report may secure again.
    """
    now = now or utcnow()
    if alert is None:
        raise AlertLinkRefused("This link does not belong to any alert we sent.")
    if alert.answered_at is not None:
        if answer is None or alert.answer == answer.value:
            raise AlertLinkRefused("This link was used already; each link works once.", alert)
        if alert.answer == AlertAnswer.CONFIRMED.value:
            said = f"You confirmed this was you on {_at(alert.answered_at)}."
        else:
            said = f"You said this wasn't you on {_at(alert.answered_at)}."
        raise AlertLinkRefused(said, alert)
    reported = alert.device.reported_suspicious_at
    if reported is not None and (answer is not AlertAnswer.SECURED or reported >= alert.created_at):
        raise AlertLinkRefused(f"This device was reported as not you on {_at(reported)}.", alert)
    if alert.created_at + LINK_LIFETIME < now:
        raise AlertLinkRefused("This link has expired; links in our mails work for 7 days.", alert)
    return alert


def answer(alert: SignInAlert, answer: AlertAnswer, now: datetime | None = None) -> None:
    """Record the user's answer; the alert's links work no more."""
    alert.answer = answer.value
    alert.answered_at = now or utcnow()
    db.session.flush()


# -- reading alerts -------------------------------------------------------------------------------

FLAG_WORDS = {
    Flag.NEW_COUNTRY: "New country: the first sign-in to your account from this country in 30 days",
    Flag.IMPOSSIBLE_TRAVEL: (
        "Impossible travel: too far from your previous sign-in for the time between them"
    ),
}


def flag_words(bits: int) -> list[str]:
    """The sign-in flags stored as ``bits``, in words for the person signing in."""
    return [FLAG_WORDS[flag] for flag in flags_in(bits)]


def reported_words(reported_at: datetime) -> str:
    """Why a sign-in on a device reported as not the user is mailed, in words."""
    return (
        f"Reported: you said this device was not you on {exact_time(reported_at)}, "
        "and it signed in again"
    )


def flag_labels(bits: int) -> list[str]:
    """The flags' short names ("New country"), for lists."""
    return [FLAG_LABELS[flag] for flag in flags_in(bits)]


def load_alert(alert_id: str | uuid.UUID) -> SignInAlert | None:
    """An alert with its device, sign-in, user and mail, for rendering the mail."""
    try:
        key = alert_id if isinstance(alert_id, uuid.UUID) else uuid.UUID(str(alert_id))
    except ValueError:
        return None
    return db.session.execute(
        select(SignInAlert)
        .options(
            joinedload(SignInAlert.device),
            joinedload(SignInAlert.session),
            joinedload(SignInAlert.user),
            joinedload(SignInAlert.outbox_message),
        )
        .where(SignInAlert.id == key)
    ).scalar_one_or_none()


def alerts_of_user(user_id: uuid.UUID, limit: int = 50) -> list[SignInAlert]:
    """The alerts mailed to a user, newest first, with their device, sign-in and mail."""
    return list(
        db.session.execute(
            select(SignInAlert)
            .options(
                joinedload(SignInAlert.device),
                joinedload(SignInAlert.session),
                joinedload(SignInAlert.outbox_message),
            )
            .where(SignInAlert.user_id == user_id)
            .order_by(SignInAlert.created_at.desc())
            .limit(limit)
        ).scalars()
    )
