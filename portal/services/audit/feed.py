"""The audit log as a stream for security tools: events after a cursor, in commit order.

An event is handed out as soon as its transaction has committed, and never after a reader has
moved past it. Ids alone cannot promise that: concurrent transactions commit them out of
order (one takes id 10, another 11 and commits first), and a reader that handed out 11 would
never see 10. So the feed's order is (writing transaction, id):

- PostgreSQL: each event records its transaction's id (``pg_current_xact_id()``, the column's
  default). A page holds only events of transactions below the reading statement's snapshot
  horizon (``pg_snapshot_xmin``): every one of those has ended, and any transaction that starts
  later gets a larger id. The set below the horizon is therefore closed, and a cursor of
  (transaction, id) inside it never skips an event or hands one out twice. A transaction still
  open holds back the events of every later transaction, until it commits or rolls back.
- SQLite: writers take the database lock in turn, so ids commit in order; the transaction
  column stays 0 and the order is the id's, handed out at once.

The cursor is opaque to clients: "c", then the transaction in hex and a dot when it is not 0,
then the last id in hex. Old cursors (an id alone) stay valid: they mean transaction 0, which
every event written before the column existed has.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnClause, ColumnElement, Select, literal_column
from sqlalchemy.sql.expression import ColumnCollection

from ...extensions import db
from ...models.types import place_name
from ..devices import places
from ..errors import Invalid
from .log import EVENTS, AuditEventRow, event_select, read_events

MAX_LIMIT = 1000
# Every string of this pattern is a cursor (one past the last event is past the end).
CURSOR_PATTERN = "^c(?:[0-9a-f]{1,16}\\.)?[0-9a-f]{1,16}$"
_CURSOR = re.compile(CURSOR_PATTERN)
_LARGEST_XACT = 2**63 - 1  # a bigint
_LARGEST_ID = 2**31 - 1  # the id column is an integer: a cursor past it is past the end
# The oldest transaction still running when the statement started: all below it have ended.
_HORIZON: ColumnClause[int] = literal_column(
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
)


class BadCursor(Invalid):
    """A cursor this API did not hand out."""

    default_message = "cursor is not one this API handed out (follow the Link header)"
    default_code = "invalid_cursor"


def encode_cursor(position: tuple[int, int]) -> str:
    xact, event_id = position
    return f"c{xact:x}.{event_id:x}" if xact else f"c{event_id:x}"


def decode_cursor(cursor: str) -> tuple[int, int]:
    """The (transaction, id) a cursor stands for."""
    if not _CURSOR.match(cursor):
        raise BadCursor()
    xact, _, event_id = cursor[1:].rpartition(".")
    return min(int(xact or "0", 16), _LARGEST_XACT), min(int(event_id, 16), _LARGEST_ID)


def position_of(event: AuditEventRow) -> tuple[int, int]:
    return event.xact_id, event.id


def committed_events(
    *, after: tuple[int, int], since: datetime | None, limit: int
) -> list[AuditEventRow]:
    """Up to ``limit`` committed events past ``after`` (and from ``since`` on), in the feed's
    order, each the audit log's one row (``audit.log.AuditEventRow``, its people with it).

    Two index ranges, not one condition with OR: the rest of the cursor's own transaction,
    then the transactions after it. Neither database walks (transaction, id) from the start
    for an OR, and the cost would grow with the log."""
    rest_of_own, _ = page_statements(after=after, since=since, limit=limit)
    rest = read_events(rest_of_own)
    if len(rest) == limit:
        return rest
    _, later = page_statements(after=after, since=since, limit=limit - len(rest))
    return rest + read_events(later)


def page_statements(
    *, after: tuple[int, int], since: datetime | None, limit: int
) -> tuple[Select[Any], Select[Any]]:
    """The two statements of a page: the rest of the cursor's transaction, then the
    transactions after it (each an index range of ``ix_audit_xact_id``)."""
    xact, event_id = after
    return (
        _range(limit, EVENTS.c.xact_id == xact, EVENTS.c.id > event_id, since=since),
        _range(limit, EVENTS.c.xact_id > xact, since=since),
    )


def _range(limit: int, *conditions: ColumnElement[bool], since: datetime | None) -> Select[Any]:
    terms = list(conditions)
    if db.session.get_bind().dialect.name == "postgresql":
        terms.append(EVENTS.c.xact_id < _HORIZON)
    if since is not None:
        terms.append(EVENTS.c.occurred_at >= since)
    return event_select(*terms, order=_in_commit_order, limit=limit)


def _in_commit_order(
    columns: ColumnCollection[str, ColumnElement[Any]],
) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    return columns.xact_id, columns.id


def location_of(event: AuditEventRow, geoip_database: str | None) -> str | None:
    """Where the event's address is (cached GeoIP lookups), as pages name places."""
    if not event.ip_address:
        return None
    where = places.locate(event.ip_address, geoip_database)
    return place_name(where.city, where.country_code, where.country)
