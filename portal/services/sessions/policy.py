"""Opening, checking and ending sessions: the server-side truth about who is signed in."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, ScalarSelect, Select, bindparam, func, select
from sqlalchemy.orm import QueryableAttribute, joinedload

from ...extensions import db
from ...models import (
    Grant,
    User,
    UserSession,
    utcnow,
)
from ...models.types import bounded_length, without_control_characters
from ..common import lock_account, parse_id
from ..devices import versions
from ..users.groups import effective_groups, scim_groups_column

# Activity is written at most this often per session, not on every request.
TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions live; built from the app's configuration."""

    lifetime: timedelta
    idle_timeout: timedelta
    absolute_lifetime: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SessionPolicy:
        return cls(
            lifetime=timedelta(seconds=config["SESSION_LIFETIME"]),
            idle_timeout=timedelta(seconds=config["SESSION_IDLE_TIMEOUT"]),
            absolute_lifetime=timedelta(seconds=config["SESSION_ABSOLUTE_LIFETIME"]),
        )


def _key(attribute: QueryableAttribute[str | None], value: str | None) -> str | None:
    """An identifier from outside (a token's ``jti``, an IdP's ``sid``) as stored and looked up:
    itself when its column holds it as it is, else its SHA-256 (exact matches still work)."""
    if value is None:
        return None
    if len(value) <= bounded_length(attribute) and without_control_characters(value) == value:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def token_key(token_id: str | None) -> str | None:
    return _key(UserSession.token_id, token_id)


def idp_sid_key(sid: str | None) -> str | None:
    return _key(UserSession.idp_sid, sid)


_g = Grant.__table__


def grants_column(
    user_id: ColumnElement[uuid.UUID] | QueryableAttribute[uuid.UUID],
) -> ScalarSelect[str | None]:
    """The local grants of the user ``user_id`` names, as one comma-joined column of the same
    statement: every request's one read of its caller carries them (``grant_list`` splits)."""
    return (
        select(func.aggregate_strings(_g.c.permission, ","))
        .where(_g.c.user_id == user_id)
        .scalar_subquery()
    )


def grant_list(joined: str | None) -> list[str]:
    return joined.split(",") if joined else []


def _session_with_grants(
    condition: ColumnElement[bool],
) -> Select[tuple[UserSession, str | None, str | None]]:
    return (
        select(
            UserSession,
            grants_column(UserSession.user_id),
            scim_groups_column(UserSession.user_id),
        )
        .options(joinedload(UserSession.user), joinedload(UserSession.device))
        .where(condition)
    )


# Built once: every request runs one of these, reusing the statement and its cache key.
_SESSION_BY_ID = _session_with_grants(UserSession.id == bindparam("key"))
_SESSION_BY_TOKEN = _session_with_grants(UserSession.token_id == bindparam("key"))


def load_session(
    *, session_id: str | uuid.UUID | None = None, token_id: str | None = None
) -> tuple[UserSession, list[str], list[str]] | None:
    """A session by its id or its token's id, with its user, its device, the user's local
    grants and the groups their permissions come from (``users.groups.effective_groups``), in
    one statement; None if unknown or malformed.

    This is every request's one read of who is calling, so it carries what the principal
    needs: the grants come aggregated in the same row rather than in a query of their own.
    """
    key: str | uuid.UUID | None
    if token_id is not None:
        stmt, key = _SESSION_BY_TOKEN, token_key(token_id)
    else:
        stmt, key = _SESSION_BY_ID, parse_id(session_id) if session_id is not None else None
        if key is None:
            return None
    found = db.session.execute(stmt, {"key": key}).one_or_none()
    if found is None:
        return None
    session, grants, scim_groups = found
    return session, grant_list(grants), effective_groups(session.user.groups, scim_groups)


@dataclass(frozen=True, slots=True)
class Standing:
    """A session as the caller check needs it, read as one plain row (no model loaded)."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    device_id: uuid.UUID
    login_method: str
    last_used_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    user_name: str  # the user's email, or the subject when there is none (the audit label)
    user_full_name: str | None  # pages call the user by it, else by ``user_name``
    user_deactivated_at: datetime | None  # a deactivated account's sessions are refused
    device_set_version: int  # the polled lists' version (``devices.versions``), read here for free
    groups: list[str]  # those permissions come from: SCIM's or the token's (``users.groups``)
    grants: list[str]
    # Read only when asked (``session_standing(..., horizon=kind)``): the polled list's
    # horizon (``devices.versions``), so that a poll answered 304 needs no second statement.
    horizon_kind: str | None = None
    horizon: datetime | None = None

    def quiet(self, policy: SessionPolicy, now: datetime) -> bool:
        """Usable with nothing to write: open, unexpired, not idle and touched within the
        minute. Anything else takes ``check_and_touch`` on the loaded session."""
        return (
            self.ended_at is None
            and now < self.expires_at
            and now - self.last_used_at < TOUCH_INTERVAL
            and now - self.last_used_at < policy.idle_timeout
        )


_s, _u = UserSession.__table__, User.__table__
# Core, not the ORM: the most frequent read of all (every cached token's request) builds no
# model, only the columns the check needs.
_STANDING = (
    select(
        _s.c.id,
        _s.c.user_id,
        _s.c.device_id,
        _s.c.login_method,
        _s.c.last_used_at,
        _s.c.expires_at,
        _s.c.ended_at,
        func.coalesce(_u.c.email, _u.c.subject),
        _u.c.name,
        _u.c.deactivated_at,
        _u.c.device_set_version,
        _u.c.groups,
        grants_column(_s.c.user_id),
        scim_groups_column(_s.c.user_id),
    )
    .join(_u, _u.c.id == _s.c.user_id)
    .where(_s.c.id == bindparam("key"))
)


# The standing with a polled list's horizon besides, one statement per kind of list.
_STANDING_AND_HORIZON = {
    kind: _STANDING.add_columns(
        versions.next_expiry(kind, _s.c.user_id, bindparam("now")).scalar_subquery()
    )
    for kind in ("devices", "sessions")
}


def session_standing(
    session_id: str | uuid.UUID, *, horizon: versions.Kind | None = None
) -> Standing | None:
    """The session's standing and its user's groups (SCIM's or the token's) and grants, in one
    statement; None if
    unknown or malformed. With ``horizon``, that list's horizon is read in the same
    statement (a polled route's caller)."""
    key = parse_id(session_id)
    if key is None:
        return None
    if horizon is None:
        row = db.session.connection().execute(_STANDING, {"key": key}).first()
        if row is None:
            return None
        *facts, groups, grants, scim_groups = row
        # One tuple of every field: a checker cannot count what a list (``facts``) fills.
        return Standing(*(*facts, effective_groups(groups, scim_groups), grant_list(grants)))
    stmt = _STANDING_AND_HORIZON[horizon]
    row = db.session.connection().execute(stmt, {"key": key, "now": utcnow()}).first()
    if row is None:
        return None
    *facts, groups, grants, scim_groups, next_expiry = row
    groups = effective_groups(groups, scim_groups)
    return Standing(*(*facts, groups, grant_list(grants), horizon, next_expiry))


def lock_session_of_user(
    user_id: uuid.UUID, session_id: str | uuid.UUID, now: datetime | None = None
) -> UserSession | None:
    """One of the user's *active* sessions, locked until commit; None when not found or over.

    Concurrent changes to one session (two revokes, a revoke and a heartbeat) run one after
    the other, and the second sees what the first did.
    """
    sid = parse_id(session_id)
    if sid is None:
        return None
    lock_account(user_id)
    found = db.session.execute(
        select(UserSession)
        .where(UserSession.id == sid, UserSession.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    return found if found is not None and found.is_active(now) else None


# A heartbeat moves the expiry only in steps of this share of the lifetime (and at least a
# minute): a client beating every minute writes a few times a lifetime, not every minute.
HEARTBEAT_STEP_SHARE = 0.05


# What a heartbeat needs to know of a session of the caller's before anything is written.
_EXPIRY_FACTS = select(_s.c.expires_at, _s.c.absolute_expires_at, _s.c.ended_at).where(
    _s.c.id == bindparam("sid"), _s.c.user_id == bindparam("user_id")
)


class ExpiryFacts(NamedTuple):
    expires_at: datetime
    absolute_expires_at: datetime
    ended_at: datetime | None


def expiry_facts(user_id: uuid.UUID, session_id: str | uuid.UUID) -> ExpiryFacts | None:
    """A session's expiries, read as a plain row and only if it is ``user_id``'s (a
    heartbeat that changes nothing loads no model)."""
    sid = parse_id(session_id)
    if sid is None:
        return None
    row = db.session.connection().execute(_EXPIRY_FACTS, {"sid": sid, "user_id": user_id}).first()
    return None if row is None else ExpiryFacts(*row)


def extension_due(facts: ExpiryFacts, policy: SessionPolicy, now: datetime | None = None) -> bool:
    """Whether a heartbeat now would move the session's expiry by a step or more."""
    now = now or utcnow()
    step = max(timedelta(minutes=1), policy.lifetime * HEARTBEAT_STEP_SHARE)
    slid = min(now + policy.lifetime, facts.absolute_expires_at)
    return slid - facts.expires_at >= step


def extend_session(
    session: UserSession, policy: SessionPolicy, now: datetime | None = None
) -> datetime:
    """Slide the expiry forward by one lifetime, never past the absolute cap, and never
    closer: a token's session already lasting longer (a personal token made for 30 days)
    keeps its expiry."""
    now = now or utcnow()
    slid = min(now + policy.lifetime, session.absolute_expires_at)
    session.expires_at = max(session.expires_at, slid)
    session.last_used_at = now
    db.session.flush()
    return session.expires_at
