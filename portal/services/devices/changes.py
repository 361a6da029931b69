"""Changing a user's devices (reading them: ``devices.reads``); every lookup is scoped to one
user."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, select, true

from ...extensions import db
from ...models import Device, TrustLevel, utcnow
from ..common import lock_account, parse_id
from ..errors import Invalid

TRUST_LEVELS = (TrustLevel.HIGH.value, TrustLevel.MEDIUM.value, TrustLevel.LOW.value)


class InvalidDeviceName(Invalid):
    """A device name outside 1-64 printable characters."""


def lock_device(
    user_id: uuid.UUID, device_id: str | uuid.UUID, *, include_removed: bool = False
) -> Device | None:
    """One of the user's devices (not removed), locked until commit, for changing it; another
    user's device is simply not found (as ``devices.reads.device_row`` reads it).

    Concurrent actions on one device (trust while removing, two renames) run one after the
    other, and each reads the device as the previous one left it: a removed device is not
    found, so it cannot be trusted again behind the removal's back (``include_removed``: it
    is, for a report of a device that was removed since it signed in).
    """
    did = parse_id(device_id)
    if did is None:
        return None
    lock_account(user_id)
    live = true() if include_removed else Device.removed_at.is_(None)
    return db.session.execute(
        select(Device)
        .where(Device.id == did, Device.user_id == user_id, live)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def get_device_by_fingerprint(user_id: uuid.UUID, fingerprint: str) -> Device | None:
    return db.session.execute(
        select(Device).where(
            and_(
                Device.user_id == user_id,
                Device.fingerprint == fingerprint,
                Device.removed_at.is_(None),
            )
        )
    ).scalar_one_or_none()


def trust_device(device: Device, level: str, days: int, now: datetime | None = None) -> datetime:
    """Mark the device trusted at ``level`` until ``days`` from now; returns the expiry."""
    if level not in TRUST_LEVELS:
        raise ValueError(f"trust level must be one of {', '.join(TRUST_LEVELS)}")
    now = now or utcnow()
    device.is_trusted = True
    device.trust_level = level
    device.trust_expires_at = now + timedelta(days=days)
    db.session.flush()
    return device.trust_expires_at


def reset_trust(device: Device) -> None:
    """Forget the device's trust: not trusted, level UNKNOWN, no expiry."""
    device.is_trusted = False
    device.trust_level = TrustLevel.UNKNOWN.value
    device.trust_expires_at = None


def mark_reported(device: Device, now: datetime) -> None:
    """The owner said "This wasn't me": the device loses its trust and remembers when (its
    sessions are ended by the operation, as reported)."""
    device.reported_suspicious_at = now
    reset_trust(device)
    db.session.flush()


def clear_report(device: Device) -> None:
    """The owner takes back "This wasn't me": the device may be trusted again (its ended
    sessions stay ended, and the audit log keeps the report)."""
    device.reported_suspicious_at = None
    db.session.flush()


def rename_device(device: Device, name: str) -> str:
    """Give the device a name of 1-64 printable characters (trimmed)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 64 or not name.isprintable():
        raise InvalidDeviceName("A device name must be 1 to 64 printable characters.")
    device.name = name
    db.session.flush()
    return name


def mark_removed(device: Device, now: datetime) -> None:
    """Hide the device from lists and drop its trust; rows stay for the login history (its
    sessions are ended by the operation)."""
    device.removed_at = now
    reset_trust(device)
    db.session.flush()
