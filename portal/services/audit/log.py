"""Reading the audit log: filtered, newest first, a page at a time or streamed for export.

An event is read as one typed row, ``AuditEventRow``, built by one Core statement
(``event_select``), whoever reads it: the audit log page, its CSV export and the events feed
for security tools (``audit.feed``), each with its own conditions and order. Writing lives
in ``audit`` (the only way in); nothing here or anywhere changes a row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Row,
    Select,
    UnaryExpression,
    false,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.sql.expression import ColumnCollection

from ...extensions import db
from ...models import AuditEvent, Device, User
from ...models.types import without_control_characters
from ..common import clamp_page, page_count, parse_id
from ..devices.reads import device_label, name_shared
from ..users.summary import UserRef, like_pattern, ref_columns

# -- the row, and its one statement ---------------------------------------------------------

EVENTS = AuditEvent.__table__
# The event's actor and target, each the users table under its own name.
ACTORS = User.__table__.alias("actor")
TARGETS = User.__table__.alias("target")
_devices = Device.__table__


# The event's own columns, in ``AuditEventRow``'s order (then come its actor and its target,
# a ``UserRef`` each, and its device's name).
_OWN_COLUMNS = (
    EVENTS.c.id,
    EVENTS.c.occurred_at,
    EVENTS.c.action,
    EVENTS.c.actor_id,
    EVENTS.c.actor_label,
    EVENTS.c.target_user_id,
    EVENTS.c.device_id,
    EVENTS.c.session_id,
    EVENTS.c.ip_address,
    EVENTS.c.via,
    EVENTS.c.detail,
    EVENTS.c.xact_id,
)
_OWN, _REF = len(_OWN_COLUMNS), len(fields(UserRef))
# The people an event names, joined as the audit page's filters need them.
WITH_PEOPLE = EVENTS.outerjoin(ACTORS, ACTORS.c.id == EVENTS.c.actor_id).outerjoin(
    TARGETS, TARGETS.c.id == EVENTS.c.target_user_id
)
# The page's own names for the people it shows (apart from the filters').
_actors, _targets = User.__table__.alias("actor_ref"), User.__table__.alias("target_ref")


def event_select(
    *conditions: ColumnElement[bool],
    order: Callable[[Any], tuple[Any, ...]],
    limit: int | None = None,
    offset: int = 0,
    source: FromClause = EVENTS,
) -> Select[Any]:
    """The one statement events are read with, each event with the people it names and its
    device's name (the name it has now: a renamed device shows its new name, a removed one
    keeps its row; a plain id, no foreign key, so the device may be gone).

    The events are chosen first, from ``source`` (the events, or ``WITH_PEOPLE`` for
    conditions on ``ACTORS`` and ``TARGETS``) alone, by ``conditions``, ``order`` (a function
    of a table's columns: ``lambda c: (c.id,)``) and ``limit``; only the chosen ones are joined
    to their people and device, so each reader's index serves the choice as it would alone.
    """
    chosen = select(*_OWN_COLUMNS).select_from(source).where(*conditions).order_by(*order(EVENTS.c))
    if limit is not None:
        chosen = chosen.limit(limit).offset(offset)
    page = chosen.subquery("page")
    return (
        select(
            *page.c,
            *ref_columns(_actors, "actor_ref"),
            *ref_columns(_targets, "target_ref"),
            _devices.c.name.label("device_name"),
            name_shared(_devices),
        )
        .select_from(
            page.outerjoin(_actors, _actors.c.id == page.c.actor_id)
            .outerjoin(_targets, _targets.c.id == page.c.target_user_id)
            .outerjoin(_devices, _devices.c.id == page.c.device_id)
        )
        .order_by(*order(page.c))
    )


@dataclass(frozen=True, slots=True)
class AuditEventRow:
    """One audit event as the page, the CSV export and the events feed read it."""

    id: int
    occurred_at: datetime
    action: str
    actor_id: uuid.UUID | None
    actor_label: str | None
    target_user_id: uuid.UUID | None
    device_id: uuid.UUID | None
    session_id: uuid.UUID | None
    ip_address: str | None
    via: str | None
    detail: dict[str, Any]
    xact_id: int
    actor: UserRef | None  # None: no user (the CLI, the IdP, SCIM) or one since deleted
    target_user: UserRef | None
    # The device as every page names it (``reads.device_label``), None when it is gone.
    device_name: str | None

    @classmethod
    def of(cls, row: Row[Any]) -> AuditEventRow:
        """From a row of ``event_select``."""
        actor = row[_OWN : _OWN + _REF]
        target = row[_OWN + _REF : _OWN + 2 * _REF]
        # One tuple of every field: a checker cannot count what a slice of the row fills.
        return cls(
            *(
                *row[:_OWN],
                UserRef(*actor) if actor[0] is not None else None,  # actor
                UserRef(*target) if target[0] is not None else None,  # target_user
                # device_name: with the short suffix when another device of its owner shares it
                device_label(row[-2], row.device_id, row[-1]) if row[-2] is not None else None,
            )
        )


def read_events(stmt: Select) -> list[AuditEventRow]:
    """The rows of a statement made from ``event_select``."""
    return [AuditEventRow.of(r) for r in db.session.connection().execute(stmt)]


# -- the audit log page's filter ------------------------------------------------------------


# An admin's look at a user's devices: most of a person's trail, so the page leaves it out
# unless asked (``AuditFilter.looks``, or the action chosen by name).
LOOK = "view_user_devices"


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page filters on; empty fields filter nothing.

    ``actor`` and ``target`` are a user id, or text matched (any case) against email, name and
    subject; ``actor`` also matches the recorded actor label (e.g. ``cli:root``).
    ``actions`` are codes, any of which matches; ``since``/``until`` are whole UTC days, both
    included, and ``after`` a moment (the page's "last hour" and such). Looks at a user's
    devices are left out unless ``looks`` or ``actions`` names them.
    """

    actor: str = ""
    target: str = ""
    actions: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    after: datetime | None = None
    looks: bool = False

    @property
    def active(self) -> bool:
        return any(
            (self.actor, self.target, self.actions, self.since, self.until, self.after, self.looks)
        )

    @property
    def hides_looks(self) -> bool:
        return not self.looks and LOOK not in self.actions


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEventRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)


def _user_match(
    users: FromClause, text: str, label_column: ColumnElement[str | None] | None = None
) -> ColumnElement[bool]:
    if without_control_characters(text) != text:
        return false()  # stored names hold none (and PostgreSQL refuses NUL in a pattern)
    uid = parse_id(text)
    if uid is not None:
        return users.c.id == uid
    pattern = like_pattern(text)
    options = [
        users.c.email.ilike(pattern, escape="\\"),
        users.c.name.ilike(pattern, escape="\\"),
        users.c.subject.ilike(pattern, escape="\\"),
    ]
    if label_column is not None:
        options.append(label_column.ilike(pattern, escape="\\"))
    return or_(*options)


def _conditions(f: AuditFilter) -> list:
    """The filter's terms, on ``EVENTS``, ``ACTORS`` and ``TARGETS``."""
    terms = []
    if f.actor.strip():
        terms.append(_user_match(ACTORS, f.actor.strip(), EVENTS.c.actor_label))
    if f.target.strip():
        terms.append(_user_match(TARGETS, f.target.strip()))
    if f.actions:
        terms.append(EVENTS.c.action.in_(f.actions))
    if f.hides_looks:
        # Written as ix_audit_shown_occurred's predicate, so both planners take that index.
        terms.append(EVENTS.c.action.op("<>")(literal_column(f"'{LOOK}'")))
    if f.after:
        terms.append(EVENTS.c.occurred_at >= f.after)
    if f.since:
        terms.append(EVENTS.c.occurred_at >= datetime.combine(f.since, time.min, UTC))
    if f.until and f.until < date.max:  # date.max: no day after it, and nothing before it
        end = datetime.combine(f.until + timedelta(days=1), time.min, UTC)
        terms.append(EVENTS.c.occurred_at < end)
    return terms


def _newest_first(columns: ColumnCollection[str, Any]) -> tuple[UnaryExpression[Any], ...]:
    return columns.occurred_at.desc(), columns.id.desc()


def search_events(f: AuditFilter, *, page: int = 1, per_page: int = 50) -> AuditPage:
    """One page of matching events, newest first (a count query and a page query)."""
    terms = _conditions(f)
    count = select(func.count()).select_from(WITH_PEOPLE).where(*terms)
    total = db.session.connection().execute(count).scalar_one()
    per_page = max(1, per_page)
    page = clamp_page(page, total, per_page)
    stmt = event_select(
        *terms,
        order=_newest_first,
        limit=per_page,
        offset=(page - 1) * per_page,
        source=WITH_PEOPLE,
    )
    return AuditPage(read_events(stmt), total, page, per_page)


def iter_events(f: AuditFilter, batch: int = 500) -> Iterator[AuditEventRow]:
    """Every matching event, newest first, fetched ``batch`` rows at a time (for CSV export)."""
    stmt = event_select(*_conditions(f), order=_newest_first, source=WITH_PEOPLE)
    result = db.session.connection().execute(stmt.execution_options(yield_per=batch))
    for row in result:
        yield AuditEventRow.of(row)


def people(ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, UserRef]:
    """The people with these ids (the page's actor and target boxes name them), in one
    statement; none when no id is asked for."""
    wanted = set(ids)
    if not wanted:
        return {}
    users = User.__table__
    stmt = select(*ref_columns(users, "ref")).where(users.c.id.in_(wanted))
    return {row[0]: UserRef(*row) for row in db.session.connection().execute(stmt)}
