"""What a user does to their own devices and sessions, each with its one audit event.

The pages (``account.views``) and the JSON routes (``api.envelope_routes``,
``api.token_row_routes``) call these, so one action behaves the same whichever way it is asked
for. Each function changes the database through the services and appends its audit event in
the same transaction; the caller commits. Objects come in already found (and locked) by the
caller, scoped to the caller's user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..auth.principal import Principal
from ..models import Device, EndReason, UserSession, utcnow
from ..services import audit, devices, sessions
from ..services.audit import Actions


@dataclass(frozen=True)
class Actor:
    """Who acts and from where: the caller's principal and client address."""

    principal: Principal
    ip_address: str | None

    @property
    def current_session_id(self):
        return self.principal.session.id if self.principal.session else None

    def record(self, action: str, **kwargs) -> None:
        user = self.principal.user
        audit.record(action, actor=user, target_user=user, ip_address=self.ip_address, **kwargs)


def _end_with_current(
    actor: Actor, *, device_id=None, include_current: bool, now: datetime
) -> tuple[int, bool]:
    """End the user's open sessions (or one device's): the others as revoked by the user,
    the caller's own, when included and in scope, as a plain sign-out.

    Returns how many ended and whether the caller's own session was one of them.
    """
    user = actor.principal.user
    current = actor.principal.session
    ended = sessions.end_sessions(
        user_id=user.id,
        device_id=device_id,
        reason=EndReason.REVOKED,
        by=user,
        keep=current.id if current else None,
        now=now,
    )
    ended_current = False
    in_scope = current is not None and (device_id is None or current.device_id == device_id)
    if include_current and in_scope:
        ended_current = sessions.end_session(current, EndReason.SIGNED_OUT, by=user, now=now)
    return ended + int(ended_current), ended_current


def sign_out_device(actor: Actor, device: Device) -> tuple[int, bool]:
    """End every session of the device (the caller's own too, when it is this device)."""
    now = utcnow()
    ended, ended_current = _end_with_current(
        actor, device_id=device.id, include_current=True, now=now
    )
    actor.record(Actions.REVOKE_DEVICE, device_id=device.id, sessions_ended=ended)
    return ended, ended_current


def trust_device(actor: Actor, device: Device, level: str, days: int) -> datetime:
    """Trust the device at ``level`` for ``days``; returns when the trust expires."""
    expires = devices.trust_device(device, level, days)
    actor.record(
        Actions.TRUST_DEVICE,
        device_id=device.id,
        trust_level=level,
        trust_expires_at=expires.isoformat(),
    )
    return expires


def untrust_device(actor: Actor, device: Device) -> int:
    """Drop the device's trust and end its sessions; returns how many ended."""
    ended = devices.untrust_device(device, by=actor.principal.user)
    actor.record(Actions.UNTRUST_DEVICE, device_id=device.id, sessions_ended=ended)
    return ended


class ReportingCurrentDevice(ValueError):
    """A report of "This wasn't me" about the device the caller is using right now."""


def report_suspicious(actor: Actor, device: Device) -> int:
    """The owner says "This wasn't me": sign the device out, untrust it, mark it reported.

    Its sessions end as ``reported``, so every new sign-in of the user must give credentials
    at the IdP again. The caller's own device cannot be reported (``ReportingCurrentDevice``):
    that is signing out, and the caller is evidently the user. Returns how many sessions ended.
    """
    current = actor.principal.session
    if current is not None and current.device_id == device.id:
        raise ReportingCurrentDevice(device.id)
    ended = devices.report_suspicious(device, by=actor.principal.user)
    actor.record(Actions.REPORT_SUSPICIOUS, device_id=device.id, sessions_ended=ended)
    return ended


def rename_device(actor: Actor, device: Device, name: str) -> str:
    """Rename the device (raises ``devices.InvalidDeviceName``); returns the name kept."""
    old = device.name
    new = devices.rename_device(device, name)
    actor.record(Actions.RENAME_DEVICE, device_id=device.id, old_name=old, new_name=new)
    return new


def remove_device(actor: Actor, device: Device) -> int:
    """Hide the device and end its sessions (rows stay for the history)."""
    ended = devices.remove_device(device, by=actor.principal.user)
    actor.record(Actions.REMOVE_DEVICE, device_id=device.id, sessions_ended=ended)
    return ended


def revoke_session(actor: Actor, session: UserSession) -> bool:
    """End one of the user's sessions; True when it was the caller's own."""
    user = actor.principal.user
    is_current = session.id == actor.current_session_id
    sessions.end_session(session, EndReason.REVOKED, by=user)
    actor.record(Actions.REVOKE_SESSION, device_id=session.device_id, session_id=session.id)
    return is_current


def revoke_all_sessions(actor: Actor, *, include_current: bool) -> tuple[int, bool]:
    """End all the user's sessions, keeping the caller's own unless ``include_current``."""
    ended, ended_current = _end_with_current(actor, include_current=include_current, now=utcnow())
    actor.record(
        Actions.REVOKE_ALL_SESSIONS,
        session_id=actor.current_session_id,
        sessions_ended=ended,
        kept_current=not include_current,
    )
    return ended, ended_current


def extend_session(actor: Actor, session: UserSession, policy: sessions.SessionPolicy) -> datetime:
    """Slide the session's expiry forward (never past its absolute cap)."""
    expires = sessions.extend_session(session, policy)
    actor.record(
        Actions.EXTEND_SESSION,
        device_id=session.device_id,
        session_id=session.id,
        expires_at=expires.isoformat(),
    )
    return expires
