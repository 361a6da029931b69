"""The audit log as a stream for security tools: events after a cursor, oldest first.

The cursor is the last event id handed out. Ids come from a sequence, but concurrent
transactions may commit them out of order (one takes id 10, another 11 and commits first): a
reader that handed out 11 would never see 10. So only *settled* events are handed out: those
at least ``settle`` old, by which time every transaction that took a smaller id has
committed or rolled back (a request's statements time out in seconds; the window is longer).
And a page stops at the first unsettled event in id order, so nothing after it is handed out
before it. On SQLite, writers take the database lock in turn and ids commit in order anyway.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import AuditEvent, utcnow
from ..models.types import place_name
from . import geo

MAX_LIMIT = 1000
# A cursor is "c" and the last id handed out in hex: opaque to clients, who pass back what the
# Link header gave them, and every string of this pattern is one (ids past the last are past
# the end).
CURSOR_PATTERN = "^c[0-9a-f]{1,16}$"
_CURSOR = re.compile(CURSOR_PATTERN)
_LARGEST_ID = 2**63 - 1


class BadCursor(ValueError):
    """A cursor this API did not hand out."""


def encode_cursor(after_id: int) -> str:
    return f"c{after_id:x}"


def decode_cursor(cursor: str) -> int:
    if not _CURSOR.match(cursor):
        raise BadCursor(cursor)
    return min(int(cursor[1:], 16), _LARGEST_ID)


def settled_events(
    *,
    after_id: int,
    since: datetime | None,
    limit: int,
    settle: timedelta,
    now: datetime | None = None,
) -> list[AuditEvent]:
    """Up to ``limit`` events with ids above ``after_id`` (and from ``since`` on), oldest first,
    each with its actor and target user, in one statement; none past the first unsettled one."""
    horizon = (now or utcnow()) - settle
    stmt = (
        select(AuditEvent)
        .options(joinedload(AuditEvent.actor), joinedload(AuditEvent.target_user))
        .where(AuditEvent.id > after_id)
        .order_by(AuditEvent.id)
        .limit(limit)
    )
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    events = []
    for event in db.session.execute(stmt).scalars():
        if event.occurred_at > horizon:
            break
        events.append(event)
    return events


def location_of(event: AuditEvent, geoip_database: str | None) -> str | None:
    """Where the event's address is (cached GeoIP lookups), as pages name places."""
    if not event.ip_address:
        return None
    where = geo.locate(event.ip_address, geoip_database)
    return place_name(where.city, where.country_code, where.country)
