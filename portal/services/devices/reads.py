"""A device with its sessions, and a session with its device, as the pages and the JSON routes
read them: typed plain rows, each built by one Core query function.

``device_rows`` reads a user's devices (My devices, ``GET /devices``, a device page, the
confirm pages, the admin's user page, ``GET /devices/{id}``), each with its active sessions and
its last one; ``session_rows`` reads sessions with their device (``GET /sessions``, the token
rows, a device's login history, the admin's user page). Rows are named tuples: frozen, slotted
and the cheapest to build of the plain types, and they are built by the hundred. Nothing here
loads a model: models are for the operations, which lock and change them.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    bindparam,
    exists,
    func,
    null,
    or_,
    select,
)

from ...extensions import db
from ...models import Device, User, UserSession, utcnow
from ...models.device import shown_trust_level, trust_holds
from ...models.session import end_label, ended_how
from ...models.types import place_of
from ..common import parse_id


def device_label(name: str, device_id: uuid.UUID, name_shared: bool) -> str:
    """What every page, mail and audit line calls a device: its name, and when another of the
    owner's devices has the same name, a short suffix from its id that tells the two apart
    ("Safari on iPhone #3f2a"). The documented JSON shapes keep the bare ``name``."""
    return f"{name} {name_suffix(device_id)}" if name_shared else name


def name_suffix(device_id: uuid.UUID) -> str:
    """The short part of a device's id that tells two same-named devices apart."""
    return f"#{str(device_id)[:4]}"


class SessionRow(NamedTuple):
    """A session: a sign-in on a device, or one bearer token."""

    id: uuid.UUID
    user_id: uuid.UUID
    login_method: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    ip_address: str | None
    country_code: str | None
    country: str | None
    city: str | None
    latitude: float | None
    longitude: float | None
    # Who ended it, by the name pages call them; only where the read asked (``ended_by``).
    ended_by_name: str | None
    # Its device in a list of sessions; None inside a ``DeviceRow`` (which is its device).
    device: SessionDevice | None

    def is_active(self, now: datetime | None = None) -> bool:
        """Not ended and not past its expiry."""
        return self.ended_at is None and self.expires_at > (now or utcnow())

    @property
    def location(self) -> str | None:
        return place_of(self)

    @property
    def end_label(self) -> str | None:
        """How it ended, in words; None while it is active."""
        return end_label(self.ended_at, self.end_reason, self.expires_at)

    def ended_how(self, viewer_id: uuid.UUID | None = None) -> str | None:
        """How it ended, in words true for whoever reads them (``models.session.ended_how``)."""
        return ended_how(
            self.ended_at,
            self.end_reason,
            self.expires_at,
            self.user_id,
            viewer_id,
            self.ended_by_name,
        )


class SessionDevice(NamedTuple):
    """A session's device, as lists of sessions show it beside the session (what
    ``GET /sessions``, the token rows and the confirm pages send or show)."""

    id: uuid.UUID
    kind: str
    name: str
    device_type: str
    model: str | None
    os_name: str | None
    os_version: str | None
    browser: str | None
    app_version: str | None
    user_agent: str | None
    ip_address: str | None
    country_code: str | None
    country: str | None
    city: str | None
    last_seen_at: datetime
    # Whether another live device of the same owner has this name (``device_label``).
    name_shared: bool

    @property
    def location(self) -> str | None:
        return place_of(self)

    @property
    def label(self) -> str:
        return device_label(self.name, self.id, self.name_shared)


class DeviceRow(NamedTuple):
    """A device of one user, with its active sessions (newest first) and its last session,
    which says, once none is active, when and how it was signed out. ``active`` and ``last``
    are None when the read did not ask for sessions (``device_rows(sessions=False)``): what
    counts them then refuses to guess."""

    id: uuid.UUID
    kind: str
    name: str
    device_type: str
    model: str | None
    os_name: str | None
    os_version: str | None
    browser: str | None
    browser_version: str | None
    app_version: str | None
    user_agent: str | None
    fingerprint: str
    ip_address: str | None
    country_code: str | None
    country: str | None
    city: str | None
    is_trusted: bool
    trust_level: str
    trust_expires_at: datetime | None
    first_seen_at: datetime
    last_seen_at: datetime
    removed_at: datetime | None
    reported_suspicious_at: datetime | None
    # Whether another live device of the same owner has this name (``device_label``).
    name_shared: bool
    active: tuple[SessionRow, ...] | None
    last: SessionRow | None

    def trusted_now(self, now: datetime | None = None) -> bool:
        """Trusted and not past its expiry: expired trust shows and behaves as untrusted."""
        return trust_holds(self.is_trusted, self.trust_expires_at, now)

    def effective_trust_level(self, now: datetime | None = None) -> str:
        """The trust level, or UNKNOWN once trust has lapsed."""
        return shown_trust_level(self.trust_level, self.trusted_now(now))

    @property
    def location(self) -> str | None:
        return place_of(self)

    @property
    def label(self) -> str:
        """Its name, with the short suffix when another of the owner's devices shares it."""
        return device_label(self.name, self.id, self.name_shared)

    @property
    def name_suffix(self) -> str | None:
        """The suffix ``label`` adds, or None when the name is the owner's only one."""
        return name_suffix(self.id) if self.name_shared else None

    def _sessions(self) -> tuple[SessionRow, ...]:
        if self.active is None:
            raise ValueError("this device was read without its sessions")
        return self.active

    @property
    def active_sessions(self) -> int:
        return len(self._sessions())

    @property
    def signed_in(self) -> bool:
        return bool(self._sessions())

    @property
    def signed_out_at(self) -> datetime | None:
        """When its last session ended (or ran out), for a device with none active."""
        if self._sessions() or self.last is None:
            return None
        return self.last.ended_at or self.last.expires_at


_d, _s, _u = Device.__table__, UserSession.__table__, User.__table__


def name_shared(device: FromClause) -> ColumnElement[bool]:
    """Whether another live device of the same owner has the name of ``device`` (a devices
    table or alias in the caller's statement): then ``device_label`` adds the suffix. Every
    read that shows a device's name to a person selects this beside it."""
    twin = _d.alias("twin")
    return (
        exists()
        .where(
            twin.c.user_id == device.c.user_id,
            twin.c.name == device.c.name,
            twin.c.id != device.c.id,
            twin.c.removed_at.is_(None),
        )
        .correlate(device)
        .label("name_shared")
    )


_NAME_SHARED = name_shared(_d)
_DEVICE_COLUMNS = (*(_d.c[name] for name in DeviceRow._fields[:-3]), _NAME_SHARED)
_SESSION_COLUMNS = tuple(_s.c[name] for name in SessionRow._fields[:-2])
_SESSION_DEVICE_COLUMNS = (*(_d.c[name] for name in SessionDevice._fields[:-1]), _NAME_SHARED)
_ND = len(_DEVICE_COLUMNS)
_NOT_READ = (None, None)  # a DeviceRow's ``active`` and ``last``, or a SessionRow's extras


def _active(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    return and_(_s.c.ended_at.is_(None), _s.c.expires_at > now)


@functools.cache
def _devices_statement(sessions: bool, one: bool, include_removed: bool) -> Select[Any]:
    """The statement of one kind of ``device_rows`` call, built once."""
    stmt: Select[Any]
    if sessions:
        latest = (
            select(_s.c.id)
            .where(_s.c.device_id == _d.c.id)
            .order_by(_s.c.created_at.desc())
            .limit(1)
            .correlate(_d)
            .scalar_subquery()
        )
        stmt = (
            select(*_DEVICE_COLUMNS, *_SESSION_COLUMNS)
            .outerjoin(
                _s,
                and_(_s.c.device_id == _d.c.id, or_(_active(bindparam("now")), _s.c.id == latest)),
            )
            .order_by(_d.c.last_seen_at.desc(), _d.c.id, _s.c.created_at.desc())
        )
    else:
        stmt = select(*_DEVICE_COLUMNS, null(), null()).order_by(_d.c.last_seen_at.desc())
    stmt = stmt.where(_d.c.user_id == bindparam("user_id"))
    if one:
        stmt = stmt.where(_d.c.id == bindparam("device_id"))
    if not include_removed:
        stmt = stmt.where(_d.c.removed_at.is_(None))
    return stmt


def device_rows(
    user_id: uuid.UUID,
    *,
    device_id: uuid.UUID | None = None,
    sessions: bool = True,
    include_removed: bool = False,
    current_device_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> list[DeviceRow]:
    """A user's devices (or the one ``device_id`` names, only if it is theirs), in one
    statement: the current device first, then by last activity; each with its active sessions
    and its last one, or (``sessions=False``, for lists that show no sessions) without. Removed
    devices only with ``include_removed``."""
    stmt = _devices_statement(sessions, device_id is not None, include_removed)
    params: dict[str, uuid.UUID | datetime | None] = {"user_id": user_id, "device_id": device_id}
    if not sessions:
        rows = [DeviceRow._make(row) for row in db.session.connection().execute(stmt, params)]
    else:
        now = now or utcnow()
        params["now"] = now
        found: dict[uuid.UUID, tuple[Sequence[Any], list[SessionRow]]] = {}
        for row in db.session.connection().execute(stmt, params).all():
            entry = found.get(row[0])
            if entry is None:
                entry = found[row[0]] = (row[:_ND], [])
            if row[_ND] is not None:
                entry[1].append(SessionRow._make((*row[_ND:], *_NOT_READ)))
        rows = [
            DeviceRow._make(
                (*device, tuple(s for s in seen if s.is_active(now)), seen[0] if seen else None)
            )
            for device, seen in found.values()
        ]
    if current_device_id is not None:
        rows.sort(key=lambda r: r.id != current_device_id)  # stable: keeps recency order
    return rows


def device_row(
    user_id: uuid.UUID, device_id: str | uuid.UUID, *, sessions: bool = True
) -> DeviceRow | None:
    """One of the user's devices (``device_rows``); another user's, a removed one or a
    malformed id is simply not found."""
    did = parse_id(device_id)
    if did is None:
        return None
    found = device_rows(user_id, device_id=did, sessions=sessions)
    return found[0] if found else None


_ENDED_BY = _u.alias("ended_by")
# What pages call a person (``User.display_name``), for "Revoked by an admin, <name>".
_ENDED_BY_NAME = func.coalesce(
    *(func.nullif(_ENDED_BY.c[name], "") for name in ("name", "email", "subject", "scim_user_name"))
)


@functools.cache
def _sessions_statement(
    of_device: bool, one: bool, active_only: bool, ended_by: bool
) -> Select[Any]:
    """The statement of one kind of ``session_rows`` call, built once."""
    stmt = (
        select(*_SESSION_COLUMNS, _ENDED_BY_NAME if ended_by else null(), *_SESSION_DEVICE_COLUMNS)
        .join(_d, _d.c.id == _s.c.device_id)
        .where(_s.c.user_id == bindparam("user_id"))
        .order_by(_s.c.created_at.desc())
    )
    if ended_by:
        stmt = stmt.outerjoin(_ENDED_BY, _ENDED_BY.c.id == _s.c.ended_by_id)
    if of_device:
        stmt = stmt.where(_s.c.device_id == bindparam("device_id"))
    if one:
        stmt = stmt.where(_s.c.id == bindparam("session_id"))
    if active_only:
        stmt = stmt.where(_active(bindparam("now")))
    return stmt


def session_rows(
    user_id: uuid.UUID,
    *,
    device_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    active_only: bool = False,
    ended_by: bool = False,
    now: datetime | None = None,
) -> list[SessionRow]:
    """A user's sessions (of one device, or the one ``session_id`` names, only if it is
    theirs), newest first, each with its device, in one statement; only the open, unexpired
    ones with ``active_only``; with the name of whoever ended each with ``ended_by``."""
    stmt = _sessions_statement(device_id is not None, session_id is not None, active_only, ended_by)
    params = {
        "user_id": user_id,
        "device_id": device_id,
        "session_id": session_id,
        "now": now or utcnow(),
    }
    devices: dict[uuid.UUID, SessionDevice] = {}
    rows = []
    split = len(_SESSION_COLUMNS) + 1
    for row in db.session.connection().execute(stmt, params).all():
        device = devices.get(row[split])
        if device is None:
            device = devices[row[split]] = SessionDevice._make(row[split:])
        rows.append(SessionRow._make((*row[:split], device)))
    return rows


def session_row(user_id: uuid.UUID, session_id: str | uuid.UUID) -> SessionRow | None:
    """One of the user's sessions with its device; anyone else's, or a malformed id, is simply
    not found."""
    sid = parse_id(session_id)
    if sid is None:
        return None
    found = session_rows(user_id, session_id=sid)
    return found[0] if found else None


_LABEL_STATEMENT = select(_d.c.name, _d.c.id, _NAME_SHARED).where(_d.c.id == bindparam("device_id"))


def label_of(device_id: uuid.UUID) -> str | None:
    """What pages and mail call one device (``device_label``), read on its own: for the alert
    mail and the alert's pages, which hold the alert rather than a device row."""
    row = db.session.connection().execute(_LABEL_STATEMENT, {"device_id": device_id}).first()
    return device_label(*row) if row is not None else None
