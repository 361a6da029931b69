"""Reading and changing a user's devices; every lookup is scoped to one user."""

from __future__ import annotations

import uuid
from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select, true

from ..extensions import db
from ..models import Device, EndReason, TrustLevel, User, UserSession, utcnow
from .errors import Invalid
from .session_ends import end_sessions
from .sessions import lock_account, parse_id

TRUST_LEVELS = (TrustLevel.HIGH.value, TrustLevel.MEDIUM.value, TrustLevel.LOW.value)


class InvalidDeviceName(Invalid):
    """A device name outside 1-64 printable characters."""


_d = Device.__table__
# The columns ``GET /devices`` sends, as a plain named tuple per device: a SQLAlchemy row's
# attribute lookup is far slower than a named tuple's, and every listed device reads them all.
_LISTED = (
    "id",
    "name",
    "device_type",
    "os_name",
    "os_version",
    "browser",
    "ip_address",
    "country",
    "city",
    "is_trusted",
    "trust_level",
    "trust_expires_at",
    "last_seen_at",
    "first_seen_at",
)
ListedDevice = namedtuple("ListedDevice", _LISTED)
_DEVICE_ROWS = (
    select(*(_d.c[name] for name in _LISTED))
    .where(_d.c.user_id == bindparam("user_id"), _d.c.removed_at.is_(None))
    .order_by(_d.c.last_seen_at.desc())
)


def device_rows(
    user_id: uuid.UUID, *, current_device_id: uuid.UUID | None = None
) -> list[ListedDevice]:
    """A user's devices in one Core statement, as plain tuples; the current device first,
    then the most recently seen."""
    result = db.session.connection().execute(_DEVICE_ROWS, {"user_id": user_id}).all()
    rows = [ListedDevice._make(row) for row in result]  # all() first: one fetch, not one a row
    rows.sort(key=lambda r: r.id != current_device_id)  # stable: keeps recency order
    return rows


@dataclass(frozen=True)
class DeviceOverview:
    """A device as My devices shows it: its active sessions (newest first) and, once none is
    left, its last session, which says when and how it was signed out."""

    device: Device
    active: list[UserSession]
    last: UserSession | None

    @property
    def active_sessions(self) -> int:
        return len(self.active)

    @property
    def signed_in(self) -> bool:
        return bool(self.active)

    @property
    def signed_out_at(self) -> datetime | None:
        """When its last session ended (or ran out), for a device with none active."""
        if self.active or self.last is None:
            return None
        return self.last.ended_at or self.last.expires_at


_LATEST_SESSION = (
    select(UserSession.id)
    .where(UserSession.device_id == Device.id)
    .order_by(UserSession.created_at.desc())
    .limit(1)
    .correlate(Device)
    .scalar_subquery()
)


def devices_overview(
    user_id: uuid.UUID,
    *,
    current_device_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> list[DeviceOverview]:
    """A user's devices for My devices, in one statement: each with its active sessions and its
    latest session; the current device first, then by last activity."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Device, UserSession)
        .outerjoin(
            UserSession,
            and_(
                UserSession.device_id == Device.id,
                or_(UserSession.active_at(now), UserSession.id == _LATEST_SESSION),
            ),
        )
        .where(Device.user_id == user_id, Device.removed_at.is_(None))
        .order_by(Device.last_seen_at.desc(), Device.id, UserSession.created_at.desc())
    ).all()
    grouped: dict[uuid.UUID, tuple[Device, list[UserSession]]] = {}
    for device, session in rows:
        entry = grouped.setdefault(device.id, (device, []))
        if session is not None:
            entry[1].append(session)
    overview = [
        DeviceOverview(d, [s for s in found if s.is_active(now)], found[0] if found else None)
        for d, found in grouped.values()
    ]
    overview.sort(key=lambda r: r.device.id != current_device_id)  # stable: keeps recency
    return overview


def get_device(user_id: uuid.UUID, device_id: str | uuid.UUID) -> Device | None:
    """One of the user's devices; another user's device is simply not found."""
    did = parse_id(device_id)
    if did is None:
        return None
    return db.session.execute(
        select(Device).where(
            Device.id == did, Device.user_id == user_id, Device.removed_at.is_(None)
        )
    ).scalar_one_or_none()


def lock_device(
    user_id: uuid.UUID, device_id: str | uuid.UUID, *, include_removed: bool = False
) -> Device | None:
    """``get_device``, with the device locked until commit, for changing it.

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


def device_sessions(device: Device) -> list[UserSession]:
    """Every session of a device, newest first: its login history."""
    return list(
        db.session.execute(
            select(UserSession)
            .where(UserSession.device_id == device.id)
            .order_by(UserSession.created_at.desc())
        ).scalars()
    )


def active_device_sessions(device: Device, now: datetime | None = None) -> list[UserSession]:
    """A device's open, unexpired sessions, newest first (what the API's device detail lists)."""
    now = now or utcnow()
    return list(
        db.session.execute(
            select(UserSession)
            .where(UserSession.device_id == device.id, UserSession.active_at(now))
            .order_by(UserSession.created_at.desc())
        ).scalars()
    )


def revoke_device(
    device: Device, *, by: User, reason: EndReason, keep=None, now: datetime | None = None
) -> int:
    """End every open session of the device; returns how many ended."""
    return end_sessions(
        user_id=device.user_id, device_id=device.id, reason=reason, by=by, keep=keep, now=now
    )


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


def untrust_device(
    device: Device,
    *,
    by: User,
    reason: EndReason = EndReason.UNTRUSTED,
    now: datetime | None = None,
) -> int:
    """Drop the device's trust and end its sessions (it must sign in again to be used).

    ``reason`` says why the sessions ended: the owner untrusting it, or the owner reporting
    it (``report_suspicious``). Returns how many sessions ended.
    """
    reset_trust(device)
    db.session.flush()
    return revoke_device(device, by=by, reason=reason, now=now)


def report_suspicious(device: Device, *, by: User, now: datetime | None = None) -> int:
    """The owner says "This wasn't me": untrust the device, end its sessions as reported
    (which makes every new sign-in of the user give credentials at the IdP again), and
    remember when. Returns how many sessions ended.
    """
    now = now or utcnow()
    device.reported_suspicious_at = now
    return untrust_device(device, by=by, reason=EndReason.REPORTED, now=now)


def rename_device(device: Device, name: str) -> str:
    """Give the device a name of 1-64 printable characters (trimmed)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 64 or not name.isprintable():
        raise InvalidDeviceName("A device name must be 1 to 64 printable characters.")
    device.name = name
    db.session.flush()
    return name


def remove_device(device: Device, *, by: User, now: datetime | None = None) -> int:
    """Hide the device from lists and end its sessions; rows stay for the login history."""
    now = now or utcnow()
    device.removed_at = now
    reset_trust(device)
    db.session.flush()
    return revoke_device(device, by=by, reason=EndReason.DEVICE_REMOVED, now=now)
