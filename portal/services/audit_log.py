"""Reading the audit log: filtered, newest first, a page at a time or streamed for export.

Writing lives in ``audit`` (the only way in); nothing here or anywhere changes a row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import aliased, contains_eager

from ..extensions import db
from ..models import AuditEvent, Device, User
from ..models.types import without_control_characters
from .pagination import clamp_page, page_count
from .sessions import parse_id
from .users import like_pattern


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page filters on; empty fields filter nothing.

    ``actor`` and ``target`` are a user id, or text matched (any case) against email, name and
    subject; ``actor`` also matches the recorded actor label (e.g. ``cli:root``).
    ``since``/``until`` are whole UTC days, both included.
    """

    actor: str = ""
    target: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None

    @property
    def active(self) -> bool:
        return any((self.actor, self.target, self.action, self.since, self.until))


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    total: int
    page: int
    per_page: int
    # The devices the page's events name, by id: their names now (a renamed device shows its
    # new name; a removed one keeps its row and its name).
    device_names: dict[uuid.UUID, str] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)


def _user_match(alias, text: str, label_column=None):
    if without_control_characters(text) != text:
        return false()  # stored names hold none (and PostgreSQL refuses NUL in a pattern)
    uid = parse_id(text)
    if uid is not None:
        return alias.id == uid
    pattern = like_pattern(text)
    options = [
        alias.email.ilike(pattern, escape="\\"),
        alias.name.ilike(pattern, escape="\\"),
        alias.subject.ilike(pattern, escape="\\"),
    ]
    if label_column is not None:
        options.append(label_column.ilike(pattern, escape="\\"))
    return or_(*options)


def _filtered(f: AuditFilter) -> Select:
    """AuditEvent rows with their actor and target loaded by the same joins the filters use."""
    actor, target = aliased(User), aliased(User)
    stmt = (
        select(AuditEvent)
        .outerjoin(actor, AuditEvent.actor_id == actor.id)
        .outerjoin(target, AuditEvent.target_user_id == target.id)
        .options(
            contains_eager(AuditEvent.actor.of_type(actor)),
            contains_eager(AuditEvent.target_user.of_type(target)),
        )
    )
    if f.actor.strip():
        stmt = stmt.where(_user_match(actor, f.actor.strip(), AuditEvent.actor_label))
    if f.target.strip():
        stmt = stmt.where(_user_match(target, f.target.strip()))
    if f.action:
        stmt = stmt.where(AuditEvent.action == f.action)
    if f.since:
        stmt = stmt.where(AuditEvent.occurred_at >= datetime.combine(f.since, time.min, UTC))
    if f.until and f.until < date.max:  # date.max: no day after it, and nothing before it
        end = datetime.combine(f.until + timedelta(days=1), time.min, UTC)
        stmt = stmt.where(AuditEvent.occurred_at < end)
    return stmt


def search_events(f: AuditFilter, *, page: int = 1, per_page: int = 50) -> AuditPage:
    """One page of matching events, newest first (a count query and a page query)."""
    stmt = _filtered(f)
    total = db.session.execute(
        select(func.count()).select_from(stmt.with_only_columns(AuditEvent.id).subquery())
    ).scalar_one()
    per_page = max(1, per_page)
    page = clamp_page(page, total, per_page)
    rows = db.session.execute(
        stmt.add_columns(Device.name)
        .outerjoin(Device, Device.id == AuditEvent.device_id)  # a plain id: no foreign key
        .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    events = [event for event, _ in rows]
    names = {event.device_id: name for event, name in rows if name is not None}
    return AuditPage(events, total, page, per_page, names)


def iter_events(f: AuditFilter, batch: int = 500) -> Iterator[AuditEvent]:
    """Every matching event, newest first, fetched ``batch`` rows at a time (for CSV export)."""
    stmt = _filtered(f).order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    result = db.session.execute(stmt.execution_options(yield_per=batch))
    yield from result.scalars()
