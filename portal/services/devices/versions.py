"""The version of a user's device set: what the polled lists' ETags are made of.

``users.device_set_version`` moves in the transaction of every change to what ``GET /devices``,
``GET /sessions`` and ``GET /devices/users/{userId}`` show of that user: a sign-in, a session
ending in any way, a device trusted, untrusted, renamed, reported or removed, a heartbeat
that moves an expiry, the once-a-minute activity stamp. The writes reach it through a few
low-level places (``common.lock_account``, ``sessions.ending.end_session``/``end_sessions``/
``end_locked_sessions``, ``sessions.opening._open_session``, ``sessions.ending.check_and_touch``,
``tokens.create`` and ``note_use``, ``sessions.retention.expire_sessions``), each of which
moves it before it touches a device or a session row, keeping the one lock order: the
user's row, then devices, then sessions.

Time changes the lists too, with nothing written: a session stops being listed when its
expiry passes, a device stops being trusted when its trust runs out. So a list's state is the
version together with its *horizon*, the next moment its body changes by itself (the earliest
expiry still ahead). Two polls see the same state only if nothing was written and nothing ran
out in between.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, bindparam, func, select, true, update

from ...extensions import db
from ...models import Device, User, UserSession

# Which list a horizon is of: the devices list (trust expiries) or a session list (expiries).
Kind = Literal["devices", "sessions"]

_u, _d, _s = User.__table__, Device.__table__, UserSession.__table__
# The listed sessions under a name of their own: the caller's session row may be beside them.
_listed = _s.alias("listed_sessions")


def next_expiry(
    kind: Kind, user_id: ColumnElement[uuid.UUID], now: ColumnElement[datetime]
) -> Select[tuple[Any]]:
    """The earliest expiry after ``now`` in the user's list of ``kind`` (a SELECT of one
    value; ``user_id`` and ``now`` are SQL expressions, a bind or a column)."""
    if kind == "devices":
        return select(func.min(_d.c.trust_expires_at)).where(
            _d.c.user_id == user_id,
            _d.c.removed_at.is_(None),
            _d.c.is_trusted == true(),
            _d.c.trust_expires_at > now,
        )
    return select(func.min(_listed.c.expires_at)).where(
        _listed.c.user_id == user_id,
        _listed.c.ended_at.is_(None),
        _listed.c.expires_at > now,
    )


_NEXT = {
    kind: next_expiry(kind, bindparam("user_id"), bindparam("now"))
    for kind in ("devices", "sessions")
}
# Built once: the version and the horizon in one statement (no row: no such user).
_STATE = {
    kind: select(_u.c.device_set_version, stmt.scalar_subquery()).where(
        _u.c.id == bindparam("user_id")
    )
    for kind, stmt in _NEXT.items()
}


def bump(user_ids: Iterable[uuid.UUID]) -> None:
    """Move the versions of these users (in id order) in the caller's transaction."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    db.session.execute(
        update(User)
        .where(User.id.in_(ids))
        .values(device_set_version=User.device_set_version + 1)
        .execution_options(synchronize_session=False)
    )


def bump_loaded(user: User) -> None:
    """Move a loaded user's version with the flush that writes its other changes: the users
    row is the first the flush writes, so the lock order holds."""
    user.device_set_version = User.device_set_version + 1


def state(kind: Kind, user_id: uuid.UUID, now: datetime) -> tuple[int, datetime | None] | None:
    """The user's version and the list's horizon, in one statement; None when no such user.

    What this request changed and has not flushed yet (the caller's activity stamp) is
    flushed first, so the version counts it and the list read next shows it."""
    db.session.flush()
    row = db.session.connection().execute(_STATE[kind], {"user_id": user_id, "now": now}).first()
    return None if row is None else (row[0], row[1])


def horizon(kind: Kind, user_id: uuid.UUID, now: datetime) -> datetime | None:
    """The next moment the list changes by itself (the earliest expiry after ``now``)."""
    return db.session.connection().execute(_NEXT[kind], {"user_id": user_id, "now": now}).scalar()
