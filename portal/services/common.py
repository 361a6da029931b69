"""Helpers every concept shares: ids from paths and cookies, the account lock, page arithmetic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import bindparam, select, update

from ..extensions import db
from ..models import User

_u = User.__table__


def parse_id(value: str | uuid.UUID) -> uuid.UUID | None:
    """A UUID from a path segment or cookie, or None when it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def page_count(total: int, per_page: int) -> int:
    """How many pages ``total`` rows fill, ``per_page`` at a time (at least one, even empty)."""
    return max(1, -(-total // max(1, per_page)))


def clamp_page(page: int, total: int, per_page: int) -> int:
    """``page`` moved into 1..page_count, so a stale or hand-typed number still shows rows."""
    return min(max(1, page), page_count(total, per_page))


# No list has more pages than this; a bigger number (hand-typed, 10**30) is taken as the last
# page rather than sent to the database as an OFFSET past what a 64-bit integer holds.
MOST_PAGES = 10**9


def plausible_page(page: int) -> int:
    """``page`` within 1..MOST_PAGES, for a list whose length is not known yet."""
    return min(max(1, page), MOST_PAGES)


_LOCKED_USER = _u.alias("locked")
# One statement: the user's row locked FOR UPDATE (as strong a lock as before, which also
# holds back new rows naming the user), and the device set's version moved.
_LOCK_ACCOUNT = (
    update(_u)
    .where(
        _u.c.id
        == select(_LOCKED_USER.c.id)
        .where(_LOCKED_USER.c.id == bindparam("user_id"))
        .with_for_update()
        .scalar_subquery()
    )
    .values(device_set_version=_u.c.device_set_version + 1)
)


def lock_account(user_id: uuid.UUID) -> None:
    """Queue behind every other change to this user's devices and sessions, until commit.

    Changes lock rows in one order, the user's row first (then devices, then sessions, the
    order in which the ORM flushes them too), so two of them never wait on each other in a
    cycle. Whoever locks the account is about to change it, so the lock moves the version of
    the user's device set too (``devices.versions``; a change that then does not happen costs a
    poller one full answer). SQLite has no row locks and ignores ``FOR UPDATE``: there, the
    write takes the database's write lock now, so what the transaction reads next stays
    current.
    """
    db.session.execute(_LOCK_ACCOUNT, {"user_id": user_id})


def exact_time(value: datetime) -> str:
    """A time as every page, flash and mail writes it exactly (UTC, to the second): the one
    format, which ``timefmt.exact`` and the words of the services share."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
