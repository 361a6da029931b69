"""The admin search of users: a page of them, each a ``users.summary.UserSummary`` with their
devices' counts and recent flags.

Every page takes a fixed number of queries, whatever its size, and none of them reads more
than ``MATCH_CAP`` matches: a query that many users match ("user1" among a million) is
answered from the first ``MATCH_CAP`` the substring index finds, sorted as asked, and the page
says that more match, so its cost does not grow with the table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    Select,
    SQLColumnExpression,
    Subquery,
    UnaryExpression,
    and_,
    bindparam,
    case,
    distinct,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.sql.elements import ColumnElement

from ...extensions import db
from ...models import Device, User, UserSession, search, utcnow
from ...models.types import without_control_characters
from ..common import clamp_page, page_count, plausible_page
from ..devices import flags as investigation
from ..devices.flags import Flag
from .summary import USERS, UserSummary, like_pattern, summary_select

SORT_COLUMNS = ("name", "email", "active_devices", "last_seen", "location")
DEFAULT_SORT = ("last_seen", "desc")
# The users list shows flags raised in this window (older sign-ins only serve as history).
RECENT_FLAG_WINDOW = timedelta(days=30)
# The most matches one search reads, counts and sorts; past it the page says "more than".
MATCH_CAP = 1_000


@dataclass(frozen=True)
class UserRow:
    """One line of the users list: the user's summary and their devices' counts and flags."""

    user: UserSummary
    active_devices: int
    untrusted_devices: int
    expired_trust_devices: int
    recent_flags: Mapping[Flag, int]

    @property
    def last_location(self) -> str | None:
        return self.user.last_location


@dataclass(frozen=True)
class UserPage:
    """A page of search results and what is needed to link to the others."""

    rows: list[UserRow]
    total: int  # at most ``cap``
    page: int
    per_page: int
    sort: str
    direction: str
    more: bool = False  # more than ``cap`` users match; the pages hold ``cap`` of them
    cap: int = MATCH_CAP

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)


def _untrusted() -> ColumnElement[bool]:
    return Device.is_trusted.is_(False)


def _trust_expired(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    return and_(
        Device.is_trusted.is_(True),
        Device.trust_expires_at.is_not(None),
        Device.trust_expires_at <= now,
    )


def _candidates(q: str, cap: int) -> Subquery | None:
    """Up to ``cap`` + 1 ids of users whose email, name or subject contains ``q`` (any case),
    in whatever order the index finds them, or None when no user can match.

    PostgreSQL's trigram indexes serve ``ILIKE`` as it is; on SQLite the FTS5 trigram table
    answers a quoted phrase (a substring) of three characters or more, and shorter queries
    fall back to ``LIKE``, which scans until it has found enough. The limit is what keeps
    a common substring's cost flat: the index stops after ``cap`` + 1, where sorting every
    match grew with the table. No stored email, name or subject holds a control character,
    so a query with one (NUL...) matches nobody, and reaches no index.
    """
    if without_control_characters(q) != q:
        return None
    found: Select[Any]
    if db.session.get_bind().dialect.name == "sqlite" and len(q) >= 3:
        phrase = '"' + q.replace('"', '""') + '"'
        found = (
            select(literal_column("user_id").label("id"))
            .select_from(table(search.SQLITE_TABLE))
            .where(text(f"{search.SQLITE_TABLE} MATCH :phrase").bindparams(phrase=phrase))
        )
    else:
        pattern = like_pattern(q)
        found = select(User.id.label("id")).where(
            or_(
                User.email.ilike(pattern, escape="\\"),
                User.name.ilike(pattern, escape="\\"),
                User.subject.ilike(pattern, escape="\\"),
            )
        )
    # Numbered as found, so that the one past ``cap`` (read only to know there are more) can
    # be kept off every page.
    found = found.add_columns(func.row_number().over().label("n"))
    return found.limit(cap + 1).subquery("candidates")


def search_users(
    query: str | None = None,
    *,
    sort: str | None = None,
    direction: str | None = None,
    page: int = 1,
    per_page: int = 50,
    now: datetime | None = None,
) -> UserPage:
    """Users whose email, name or subject contains ``query`` (any case), one page of them.

    Three queries whatever the page size: the page with the number of matches (counted up to
    ``cap``), the device counts of the page's users (with their devices reported as not them
    in the flags window), and how many of their recent sign-ins raised each flag (stored on
    each session when it opened). A page past the last one costs a count and the last page
    on top. Past ``cap`` matches the pages hold ``cap`` of them, sorted as asked: with a
    query, the first the index found; without one, the first in the sort's order.
    """
    now = now or utcnow()
    cap = MATCH_CAP  # read at each call, so a test can lower it
    sort = sort if sort in SORT_COLUMNS else DEFAULT_SORT[0]
    direction = direction if direction in ("asc", "desc") else DEFAULT_SORT[1]
    q = (query or "").strip()
    per_page = max(1, per_page)
    page = min(plausible_page(page), page_count(cap, per_page))
    candidates = _candidates(q, cap) if q else None
    if q and candidates is None:
        return UserPage([], 0, 1, per_page, sort, direction, cap=cap)
    users, total = _page_of_users(candidates, cap, sort, direction, page, per_page, now)
    if not users and page > 1:  # past the last page (a stale link): show the last one
        page = clamp_page(page, min(_count(candidates, cap), cap), per_page)
        users, total = _page_of_users(candidates, cap, sort, direction, page, per_page, now)

    ids = [u.id for u in users]
    since = now - RECENT_FLAG_WINDOW
    device_counts = _device_counts(ids, now, reported_since=since)
    flagged = _sign_in_flag_counts(ids, since)
    rows = []
    for u in users:
        counts = device_counts.get(u.id, _NO_DEVICES)
        flags = flagged.get(u.id, {})
        if counts.reported:  # the most telling flag, so it comes first
            flags = {Flag.REPORTED_SUSPICIOUS: counts.reported, **flags}
        rows.append(
            UserRow(
                user=u,
                active_devices=counts.active,
                untrusted_devices=counts.untrusted,
                expired_trust_devices=counts.trust_expired,
                recent_flags=flags,
            )
        )
    return UserPage(
        rows, min(total, cap), page, per_page, sort, direction, more=total > cap, cap=cap
    )


def _everyone(cap: int) -> Subquery:
    """The first ``cap`` + 1 users in no order: what the whole list's count counts."""
    return select(USERS.c.id).limit(cap + 1).subquery()


def _count(candidates: Subquery | None, cap: int) -> int:
    """How many users the candidates are (everyone when None), counted up to ``cap`` + 1."""
    if candidates is None:
        candidates = _everyone(cap)
    return db.session.execute(select(func.count()).select_from(candidates)).scalar_one()


def _page_of_users(
    candidates: Subquery | None,
    cap: int,
    sort: str,
    direction: str,
    page: int,
    per_page: int,
    now: datetime,
) -> tuple[list[UserSummary], int]:
    """One page of the matching users and how many match (up to ``cap`` + 1), in one
    statement.

    With a query its candidates (at most ``cap`` + 1) are joined to their users, counted by
    a window and sorted by their keys. Without one (``candidates`` None) the page walks
    every user in the sort's order, and the count is a scalar subquery that stops at
    ``cap`` + 1, run once: the list of a million users counts a thousand and one. Only the
    page's users are read whole, not every matching row (docs/performance.md has what it
    saved).
    """
    if candidates is None:
        total = select(func.count()).select_from(_everyone(cap)).scalar_subquery()
        chosen = select(User.id.label("id"), total.label("total"))
        first: list[ColumnElement[bool]] = []
    else:
        chosen = select(User.id.label("id"), func.count().over().label("total")).join(
            candidates, candidates.c.id == User.id
        )
        first = [candidates.c.n > cap]  # the one read past the cap sorts after every page
    if sort == "active_devices":
        counts = (
            select(
                UserSession.user_id.label("user_id"),
                func.count(distinct(UserSession.device_id)).label("n"),
            )
            .where(UserSession.active_at(now))
            .group_by(UserSession.user_id)
            .subquery()
        )
        chosen = chosen.outerjoin(counts, counts.c.user_id == User.id)
        keys: list[SQLColumnExpression[Any]] = [func.coalesce(counts.c.n, 0)]
    else:
        keys_of: dict[str, list[SQLColumnExpression[Any]]] = {
            "name": [func.lower(User.name)],
            "email": [User.email],
            "last_seen": [User.last_seen_at],
            "location": [User.last_country_code, User.last_city],
        }
        keys = keys_of[sort]
    labels = [f"key{i}" for i in range(len(keys))]
    chosen = chosen.add_columns(*(k.label(name) for k, name in zip(keys, labels, strict=True)))

    def ordered(columns: Iterable[SQLColumnExpression[Any]]) -> list[UnaryExpression[Any]]:
        return [(c.desc() if direction == "desc" else c.asc()).nulls_last() for c in columns]

    offset = (page - 1) * per_page
    found = (
        chosen.order_by(*first, *ordered(keys), User.id)
        .limit(max(0, min(per_page, cap - offset)))  # no page reaches past the cap
        .offset(offset)
        .subquery()
    )
    stmt = (
        summary_select(found.c.total)
        .join(found, found.c.id == USERS.c.id)
        .order_by(*ordered(found.c[name] for name in labels), USERS.c.id)
    )
    rows = db.session.connection().execute(stmt).all()
    return [UserSummary.of(r) for r in rows], (rows[0].total if rows else 0)


@dataclass(frozen=True)
class _DeviceCounts:
    active: int  # devices with an active session
    untrusted: int  # ... of which not trusted
    trust_expired: int  # ... of which trust lapsed
    reported: int  # devices (any, removed too) reported as not them in the flags window


_NO_DEVICES = _DeviceCounts(0, 0, 0, 0)


def _build_device_counts() -> Select[tuple[uuid.UUID, int, int, int, int]]:
    """The statement of ``_device_counts``, built once: the page's ids are one expanding
    parameter, so each request binds its ids instead of building the statement around them."""
    ids: BindParameter[list[uuid.UUID]] = bindparam("user_ids", expanding=True)
    now: BindParameter[datetime] = bindparam("now")
    active = (
        select(UserSession.device_id)
        .where(UserSession.user_id.in_(ids), UserSession.active_at(now))
        .distinct()
        .subquery()
    )
    in_use = active.c.device_id.is_not(None)
    return (
        select(
            Device.user_id,
            func.count(case((in_use, Device.id))),
            func.count(case((and_(in_use, _untrusted()), Device.id))),
            func.count(case((and_(in_use, _trust_expired(now)), Device.id))),
            func.count(
                case((Device.reported_suspicious_at >= bindparam("reported_since"), Device.id))
            ),
        )
        .outerjoin(active, active.c.device_id == Device.id)
        .where(Device.user_id.in_(ids))
        .group_by(Device.user_id)
    )


_DEVICE_COUNTS = _build_device_counts()


def _device_counts(
    user_ids: list[uuid.UUID], now: datetime, *, reported_since: datetime
) -> dict[uuid.UUID, _DeviceCounts]:
    """Per user, in one query: devices with an active session, how many of those are
    untrusted or lapsed, and how many devices were reported as not them since
    ``reported_since`` (whether or not they still have a session)."""
    if not user_ids:
        return {}
    result = db.session.execute(
        _DEVICE_COUNTS, {"user_ids": user_ids, "now": now, "reported_since": reported_since}
    )
    return {uid: _DeviceCounts(a, u, e, r) for uid, a, u, e, r in result}


def _build_sign_in_flag_counts() -> Select[Any]:
    """The statement of ``_sign_in_flag_counts``, built once (see ``_build_device_counts``)."""
    return (
        select(
            UserSession.user_id,
            *(
                func.count(case((UserSession.sign_in_flags.op("&")(bit) != 0, 1)))
                for bit in investigation.SIGN_IN_FLAG_BITS.values()
            ),
        )
        .where(
            UserSession.user_id.in_(bindparam("user_ids", expanding=True)),
            UserSession.created_at >= bindparam("since"),
            UserSession.sign_in_flags != 0,
        )
        .group_by(UserSession.user_id)
    )


_SIGN_IN_FLAG_COUNTS = _build_sign_in_flag_counts()


def _sign_in_flag_counts(
    user_ids: list[uuid.UUID], since: datetime
) -> dict[uuid.UUID, dict[Flag, int]]:
    """Per user, how many sign-ins since ``since`` raised each flag, in one query."""
    if not user_ids:
        return {}
    flags = investigation.SIGN_IN_FLAG_BITS
    result = db.session.execute(_SIGN_IN_FLAG_COUNTS, {"user_ids": user_ids, "since": since})
    return {
        uid: {flag: n for flag, n in zip(flags, counts, strict=True) if n}
        for uid, *counts in result
    }
