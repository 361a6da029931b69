"""A user's own devices: trusted, untrusted, reported as not them, renamed, removed."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ...extensions import db
from ...models import Device, EndReason, utcnow
from ..audit.record import Actions
from ..devices import changes
from ..errors import Conflict
from ..sessions import ending
from .actor import Actor, locked_device


def _end_sessions_of(actor: Actor, device: Device, reason: EndReason, now: datetime) -> int:
    """End every open session of a device whose standing just changed; how many ended."""
    return ending.end_sessions(
        user_id=device.user_id, device_id=device.id, reason=reason, by=actor.user, now=now
    )


class TrustingReportedDevice(Conflict):
    """Trust asked for a device its owner reported as not them: the report is cleared first,
    on the device's page (``clear_report``), so that trusting it is a decision of its own."""

    default_message = (
        "This device was reported as not you, so it cannot be trusted. If it is yours after "
        "all, clear the report on the device's page first."
    )


class AlreadyReported(Conflict):
    """A second "This wasn't me" about a device that is reported already."""

    default_message = "This device was reported as not you already."


class NotReported(Conflict):
    """Clearing the report of a device that is not reported."""

    default_message = "This device is not reported as not you, so there is no report to clear."


def trust_device(
    actor: Actor, device_id: str | uuid.UUID, level: str, days: int
) -> tuple[Device, datetime]:
    """Trust one of the actor's devices at ``level`` for ``days``; returns it and when the
    trust expires. A reported device is refused (``TrustingReportedDevice``) until its report
    is cleared."""
    device = locked_device(actor, device_id)
    if device.reported_suspicious_at is not None:
        raise TrustingReportedDevice()
    expires = changes.trust_device(device, level, days)
    actor.record(
        Actions.TRUST_DEVICE,
        device.user_id,
        device_id=device.id,
        trust_level=level,
        trust_expires_at=expires.isoformat(),
    )
    return device, expires


def untrust_device(actor: Actor, device_id: str | uuid.UUID) -> tuple[Device, int]:
    """Drop the trust of one of the actor's devices and end its sessions; returns it and how
    many ended."""
    device = locked_device(actor, device_id)
    changes.reset_trust(device)
    db.session.flush()
    ended = _end_sessions_of(actor, device, EndReason.UNTRUSTED, utcnow())
    actor.record(Actions.UNTRUST_DEVICE, device.user_id, device_id=device.id, sessions_ended=ended)
    return device, ended


class ReportingCurrentDevice(Conflict):
    """A report of "This wasn't me" about the device the caller is using right now."""

    default_message = (
        "You are using this device now, so it cannot be reported as not you. If you think "
        "someone else knows your password, change it at your identity provider and use "
        "Sign out all other devices."
    )


def report_suspicious(actor: Actor, device_id: str | uuid.UUID) -> tuple[Device, int]:
    """The owner says "This wasn't me" about one of their devices (see ``report_device``); returns
    it and how many sessions ended."""
    device = locked_device(actor, device_id)
    if device.reported_suspicious_at is not None:
        raise AlreadyReported()
    return device, report_device(actor, device)


def clear_report(actor: Actor, device_id: str | uuid.UUID) -> Device:
    """The owner takes back "This wasn't me" about one of their devices (``NotReported`` when
    there is no report): it may be trusted again. Nothing else changes: the sessions the report
    ended stay ended, and the audit log keeps both the report and when it was cleared."""
    device = locked_device(actor, device_id)
    reported_at = device.reported_suspicious_at
    if reported_at is None:
        raise NotReported()
    changes.clear_report(device)
    actor.record(
        Actions.CLEAR_REPORT,
        device.user_id,
        device_id=device.id,
        reported_at=reported_at.isoformat(),
    )
    return device


def report_device(actor: Actor, device: Device, **detail: Any) -> int:
    """Sign the device out, untrust it, mark it reported.

    Its sessions end as ``reported``, so every new sign-in of the user must give credentials
    at the IdP again. The caller's own device cannot be reported (``ReportingCurrentDevice``):
    that is signing out, and the caller is evidently the user. Returns how many sessions ended.
    """
    current = actor.session if actor.session_id is not None else None
    if current is not None and current.device_id == device.id:
        raise ReportingCurrentDevice()
    now = utcnow()
    changes.mark_reported(device, now)
    ended = _end_sessions_of(actor, device, EndReason.REPORTED, now)
    actor.record(
        Actions.REPORT_SUSPICIOUS,
        device.user_id,
        device_id=device.id,
        sessions_ended=ended,
        **detail,
    )
    return ended


def rename_device(actor: Actor, device_id: str | uuid.UUID, name: str) -> Device:
    """Rename one of the actor's devices (raises ``devices.changes.InvalidDeviceName``); returns it,
    with the name kept."""
    device = locked_device(actor, device_id)
    old = device.name
    new = changes.rename_device(device, name)
    actor.record(
        Actions.RENAME_DEVICE, device.user_id, device_id=device.id, old_name=old, new_name=new
    )
    return device


def remove_device(actor: Actor, device_id: str | uuid.UUID) -> tuple[Device, int]:
    """Hide one of the actor's devices and end its sessions (rows stay for the history);
    returns it and how many ended."""
    device = locked_device(actor, device_id)
    now = utcnow()
    changes.mark_removed(device, now)
    ended = _end_sessions_of(actor, device, EndReason.DEVICE_REMOVED, now)
    actor.record(Actions.REMOVE_DEVICE, device.user_id, device_id=device.id, sessions_ended=ended)
    return device, ended
