"""Every sign-in (session) of every user, filtered, newest first: the incident view.

Each filter that narrows the most is answered from an index (see the session model's
indexes): an address or CIDR block is a range of ``sessions.policy.ip_key``, a country and the two
stored investigation flags each have their own, and a reported device is found through the
few devices that carry the mark. What is left (device type, browser or system, the user's
email, active only) only filters the rows those indexes (or the newest-first walk) hand over.

Pages go by an opaque cursor (the last row's start time and id), never by an offset, so the
cost of a page does not grow with how far into the results it is. The total is counted only
up to ``COUNT_CAP``: past that, "more than 10,000" is all a reader needs, and an exact count
of two million rows is not cheap.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Row,
    Select,
    and_,
    case,
    false,
    func,
    or_,
    select,
    text,
)

from ...extensions import db
from ...models import Device, User, UserSession, utcnow
from ...models.addresses import block_range
from ...models.countries import COUNTRY_NAMES
from ...models.session import END_REASON_LABELS
from ...models.types import place_name, without_control_characters
from ..devices.flags import FLAG_LABELS, flags_in
from ..devices.reads import device_label, name_shared
from ..errors import Invalid
from ..users.summary import like_pattern

# The filter is its own module; its names are the search's too
# (``incidents.search.SignInFilter``...).
from .filters import DEVICE_TYPES as DEVICE_TYPES
from .filters import EARLIEST, FLAGS, LATEST, SignInFilter
from .filters import InvalidFilter as InvalidFilter
from .filters import filter_from_dict as filter_from_dict
from .filters import parse_filter as parse_filter

COUNT_CAP = 10_000
MAX_LIMIT = 500
# Written exactly as the partial indexes' predicates, so both databases' planners use them.
_FLAG_CONDITIONS = {
    "new_country": text("(sessions.sign_in_flags & 1) != 0"),
    "impossible_travel": text("(sessions.sign_in_flags & 2) != 0"),
}


class BadCursor(Invalid):
    """A cursor this search did not hand out."""

    default_message = "cursor is not one this API handed out (follow the Link header)"
    default_code = "invalid_cursor"


# -- the statement ----------------------------------------------------------------------------

_s, _d, _u = UserSession.__table__, Device.__table__, User.__table__

ROW_COLUMNS = (  # in the order _row unpacks them
    _s.c.id,
    _s.c.user_id,
    _s.c.created_at,
    _s.c.ip_address,
    _s.c.city,
    _s.c.country_code,
    _s.c.country,
    _s.c.login_method,
    _s.c.expires_at,
    _s.c.ended_at,
    _s.c.end_reason,
    _s.c.sign_in_flags,
    _d.c.id.label("device_id"),
    _d.c.name.label("device_name"),
    name_shared(_d),
    _d.c.device_type,
    _d.c.browser,
    _d.c.os_name,
    _d.c.reported_suspicious_at,
    _u.c.email,
    _u.c.name.label("user_name"),
    _u.c.subject,
)


_REPORTED_DEVICES = select(_d.c.id).where(_d.c.reported_suspicious_at.is_not(None))
# "Not ended", written so that no planner takes ix_sessions_ended for it: many sessions are
# open, so that index narrows little; an address, a country or the newest-first walk narrows
# far better.
_OPEN = case((_s.c.ended_at.is_(None), 1), else_=0) == 1


def _matches_nothing(typed: str) -> bool:
    """No name, email or system holds a control character (PostgreSQL refuses NUL in a
    pattern): a text with one matches nothing."""
    return without_control_characters(typed) != typed


def _conditions(f: SignInFilter, now: datetime) -> tuple[list, bool, bool]:
    """The WHERE terms, and whether they need the devices and the users table."""
    terms: list = []
    devices = users = False
    if f.ip:
        low, high = block_range(f.ip)
        terms.append(_s.c.ip_key.between(low, high))
    if f.country:
        terms.append(_s.c.country_code == f.country)
    if f.flag in _FLAG_CONDITIONS:
        terms.append(_FLAG_CONDITIONS[f.flag])
    elif f.flag == "reported":
        # From the few reported devices to their sessions (ix_devices_reported, then
        # ix_sessions_device_created), not through every session.
        terms.append(_s.c.device_id.in_(_REPORTED_DEVICES))
    if f.device_type:
        terms.append(_d.c.device_type == f.device_type.upper())
        devices = True
    if _matches_nothing(f.browser) or _matches_nothing(f.user):
        terms.append(false())
    if f.browser:
        pattern = like_pattern(f.browser)
        terms.append(
            or_(_d.c.browser.ilike(pattern, escape="\\"), _d.c.os_name.ilike(pattern, escape="\\"))
        )
        devices = True
    if f.active:
        terms.extend([_OPEN, _s.c.expires_at > now])
    if f.since is not None:
        terms.append(_s.c.created_at >= f.since)
    if f.until is not None:
        terms.append(_s.c.created_at < f.until)
    if f.user:
        terms.append(_u.c.email.ilike(like_pattern(f.user), escape="\\"))
        users = True
    return terms, devices, users


def _matching(
    columns: Iterable[ColumnElement[Any]], f: SignInFilter, now: datetime, *, join_all: bool
) -> Select[Any]:
    terms, devices, users = _conditions(f, now)
    source: FromClause = _s
    if join_all or devices:
        source = source.join(_d, _d.c.id == _s.c.device_id)
    if join_all or users:
        source = source.join(_u, _u.c.id == _s.c.user_id)
    return select(*columns).select_from(source).where(*terms)


def matching_sessions(f: SignInFilter, now: datetime | None = None) -> Select[Any]:
    """A SELECT of (user id, session id) of every match: what a bulk job fixes as its set."""
    return _matching((_s.c.user_id, _s.c.id), f, now or utcnow(), join_all=False)


# -- rows -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignInRow:
    """One sign-in as the page, the CSV and the JSON route show it."""

    id: uuid.UUID
    user_id: uuid.UUID
    email: str | None
    user_name: str | None
    created_at: datetime
    device_id: uuid.UUID
    device_name: str
    device_type: str | None
    browser: str | None
    os_name: str | None
    ip_address: str | None
    place: str | None
    country_code: str | None
    login_method: str
    status: str  # "active", "expired", or how it ended in words
    active: bool
    ended_at: datetime | None
    flags: tuple[str, ...]  # keys of FLAGS
    # What the pages call the device (``reads.device_label``); the JSON keeps ``device_name``.
    device_label: str

    @property
    def who(self) -> str:
        return self.email or self.user_name or "(no email)"

    @property
    def flag_labels(self) -> list[str]:
        return [FLAG_LABELS[FLAGS[f]] for f in self.flags]


# The flags a row's stored bits stand for, by bits: a page builds rows by the hundred.
_FLAGS_OF_BITS = {
    bits: tuple(key for key, flag in FLAGS.items() if flag in flags_in(bits)) for bits in range(4)
}
_STATUS_OF_REASON = {reason.value: label for reason, label in END_REASON_LABELS.items()}


def _row(r: Row[Any], now: datetime) -> SignInRow:
    """A ``SignInRow`` of a row of ``ROW_COLUMNS`` (unpacked by position: the cheap way)."""
    (
        id_,
        user_id,
        created_at,
        ip_address,
        city,
        country_code,
        country,
        login_method,
        expires_at,
        ended_at,
        end_reason,
        bits,
        device_id,
        device_name,
        shared,
        device_type,
        browser,
        os_name,
        reported_at,
        email,
        user_name,
        _subject,
    ) = r
    flags = _FLAGS_OF_BITS.get(bits or 0)
    if flags is None:
        stored = flags_in(bits)
        flags = tuple(key for key, flag in FLAGS.items() if flag in stored)
    if reported_at is not None and reported_at <= (ended_at or now):
        flags += ("reported",)
    active = ended_at is None and expires_at > now
    if active:
        status = "active"
    elif ended_at is None:
        status = "expired"
    else:
        status = _STATUS_OF_REASON.get(end_reason, end_reason) if end_reason else "ended"
    return SignInRow(
        id_,
        user_id,
        email,
        user_name,
        created_at,
        device_id,
        device_name,
        (device_type or "").lower() or None,
        browser,
        os_name,
        ip_address,
        place_name(city, country_code, country),
        country_code,
        login_method,
        status,
        active,
        ended_at,
        flags,
        device_label(device_name, device_id, shared),
    )


# A cursor is the last row's start (microseconds since 1970, 16 hex digits) and its id (32):
# every string of this pattern is one, so no well-formed cursor is ever refused.
CURSOR_PATTERN = "^[0-9a-f]{48}$"
_CURSOR = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(row: SignInRow) -> str:
    micros = (row.created_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros & (2**64 - 1):016x}{row.id.hex}"


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (start time, id) a cursor stands for; ``BadCursor`` for anything else."""
    if not _CURSOR.match(cursor):
        raise BadCursor()
    micros = int(cursor[:16], 16)
    if micros >= 2**63:
        micros -= 2**64  # before 1970
    try:
        at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        at = LATEST if micros > 0 else EARLIEST
    return min(max(at, EARLIEST), LATEST), uuid.UUID(hex=cursor[16:])


@dataclass(frozen=True)
class SignInPage:
    rows: list[SignInRow]
    next_cursor: str | None  # None on the last page


def search(
    f: SignInFilter, *, after: str | None = None, limit: int = 50, now: datetime | None = None
) -> SignInPage:
    """One page of matches, newest first, after the cursor; ``BadCursor`` for a bad one.

    The page's ids are chosen first, from the filters' own tables (an index range of a
    thousand addresses is sorted by its keys alone), and only those rows are joined to their
    device and user."""
    now = now or utcnow()
    newest_first = (_s.c.created_at.desc(), _s.c.id.desc())
    chosen = _matching((_s.c.id,), f, now, join_all=False)
    if after is not None:
        at, sid = decode_cursor(after)
        chosen = chosen.where(or_(_s.c.created_at < at, and_(_s.c.created_at == at, _s.c.id < sid)))
    page = chosen.order_by(*newest_first).limit(limit + 1).subquery()
    stmt = (
        select(*ROW_COLUMNS)
        .select_from(
            page.join(_s, _s.c.id == page.c.id)
            .join(_d, _d.c.id == _s.c.device_id)
            .join(_u, _u.c.id == _s.c.user_id)
        )
        .order_by(*newest_first)
    )
    found = [_row(r, now) for r in db.session.connection().execute(stmt)]
    rows = found[:limit]
    more = len(found) > limit
    return SignInPage(rows, encode_cursor(rows[-1]) if more and rows else None)


def capped_count(f: SignInFilter, now: datetime | None = None) -> tuple[int, bool]:
    """How many sign-ins match, counted up to ``COUNT_CAP``; and whether there are more."""
    matches = _matching((_s.c.id,), f, now or utcnow(), join_all=False).limit(COUNT_CAP + 1)
    n = db.session.connection().execute(select(func.count()).select_from(matches.subquery()))
    total = n.scalar_one()
    return min(total, COUNT_CAP), total > COUNT_CAP


def iter_rows(
    f: SignInFilter, batch: int = 1000, now: datetime | None = None
) -> Iterator[SignInRow]:
    """Every match, newest first, a page of ``batch`` at a time by cursor (for CSV export):
    no statement stays open between pages, and memory holds one page."""
    now = now or utcnow()
    after = None
    while True:
        page = search(f, after=after, limit=batch, now=now)
        yield from page.rows
        if page.next_cursor is None:
            return
        after = page.next_cursor


def active_match_counts(f: SignInFilter, now: datetime | None = None) -> tuple[int, int]:
    """How many active sessions match, and of how many users (the bulk sign-out's confirm)."""
    active = SignInFilter(**{**vars(f), "active": True})
    matches = matching_sessions(active, now).subquery()
    stmt = select(func.count(), func.count(matches.c.user_id.distinct()))
    return tuple(db.session.connection().execute(stmt.select_from(matches)).one())


def _countries_statement() -> Select[Any]:
    first = func.min(_s.c.country_code)
    codes = select(first.label("code")).cte("codes", recursive=True)
    after = select(first).where(_s.c.country_code > codes.c.code).scalar_subquery()
    codes = codes.union_all(select(after.label("code")).where(codes.c.code.is_not(None)))
    return select(codes.c.code).where(codes.c.code.is_not(None))


# The country codes sign-ins were made from, in one statement that hops through
# ix_sessions_country_created a code at a time (a loose index scan, written as a recursive
# query since PostgreSQL has no skip scan): a probe per country, not a read of every session.
COUNTRIES_IN_DATA = _countries_statement()


def countries_in_data() -> list[str]:
    """The country codes of the sign-ins, in code order (``COUNTRIES_IN_DATA``)."""
    return [code for (code,) in db.session.connection().execute(COUNTRIES_IN_DATA)]


def country_choices(present: Iterable[str] = ()) -> tuple[list[tuple[str, str]], ...]:
    """(code, name) of the current ISO countries, by name: those in ``present`` (the data's,
    offered first), then the others; a code ISO no longer lists is offered in neither."""
    seen = set(present)
    by_name = sorted(COUNTRY_NAMES.items(), key=lambda item: item[1])
    return [c for c in by_name if c[0] in seen], [c for c in by_name if c[0] not in seen]
