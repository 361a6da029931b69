"""How sessions end: one, several, a locked batch (bulk jobs), the IdP's back-channel logout,
and the request's check that ends an expired one. Every end queues what the IdP is told
(``signals``) and moves the device set's version, in the same transaction."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from ... import metrics
from ...extensions import db
from ...models import (
    Device,
    EndReason,
    LoginMethod,
    SeenLogoutToken,
    User,
    UserSession,
    utcnow,
)
from ..common import lock_account
from ..devices import versions
from ..outbox import signals
from .policy import TOUCH_INTERVAL, SessionPolicy, idp_sid_key

_s = UserSession.__table__


def check_and_touch(
    session: UserSession, policy: SessionPolicy, now: datetime | None = None
) -> bool:
    """Whether the session may still be used; expires it on the server when it may not.

    Records activity at most once per ``TOUCH_INTERVAL``. Returns True when usable. The caller
    commits (any change here is small and safe to commit on its own).
    """
    now = now or utcnow()
    if session.ended_at is not None:
        return False
    idle_limit = session.last_used_at + policy.idle_timeout
    browser = session.login_method == LoginMethod.OIDC.value
    if session.expires_at <= now or (browser and idle_limit <= now):
        # It ended when it ran out, not when it was next seen (as ``retention.expire_sessions``).
        ran_out = min(session.expires_at, idle_limit) if browser else session.expires_at
        end_session(session, EndReason.EXPIRED, by=None, now=min(ran_out, now))
        return False
    if now - session.last_used_at >= TOUCH_INTERVAL:
        session.last_used_at = now
        session.device.last_seen_at = now
        session.user.last_seen_at = now
        versions.bump_loaded(session.user)  # lastSeen and lastActivity move
    return True


def still_active(session: UserSession | Any, now: datetime) -> bool:
    """Whether a session (a model or a row with its columns) is active at ``now``, by the rule
    the pages show ("Expired" otherwise: ``UserSession.is_active``): not ended and not past its
    expiry (nor its absolute cap, which the expiry never passes). Only such a session is ended
    by the functions here; an expired one keeps its open row until its next use or the prune
    ends it as ``expired`` at the moment it ran out (``retention.expire_sessions``)."""
    return (
        session.ended_at is None and session.expires_at > now and session.absolute_expires_at > now
    )


def _active_at(now: datetime) -> ColumnElement[bool]:
    """``still_active`` as a SQL condition."""
    return and_(UserSession.active_at(now), UserSession.absolute_expires_at > now)


def end_session(
    session: UserSession,
    reason: EndReason,
    by: User | None,
    now: datetime | None = None,
    *,
    tell_idp: bool = True,
) -> bool:
    """End one session if it is still active at ``now``; False when it had already ended, or
    had expired (``still_active``): an ended or expired session keeps how and when it ended.
    Only ``EndReason.EXPIRED`` ends one past its expiry (``check_and_touch``).

    Every way a session ends goes through here, ``end_sessions`` or ``end_locked_sessions``,
    and each queues the IdP's event about it (``signals``; ``tell_idp=False`` when the IdP
    itself asked) in the same transaction."""
    now = now or utcnow()
    if session.ended_at is not None or (
        reason != EndReason.EXPIRED and not still_active(session, now)
    ):
        return False
    # The user's row first (the one lock order), and before the session's change is flushed.
    if reason.requires_reauth:
        _require_reauth(session.user_id, Device.id == session.device_id, now)
    else:
        versions.bump([session.user_id])
    session.ended_at = now
    session.end_reason = reason.value
    session.ended_by_id = by.id if by else None
    db.session.flush()
    metrics.sessions_ended(reason.value, 1)
    signals.session_revoked(
        [signals.Ended(session.id, session.user_id, session.idp_sid)],
        reason,
        now,
        tell_idp=tell_idp,
    )
    return True


def end_sessions(
    *,
    user_id: uuid.UUID,
    reason: EndReason,
    by: User | None,
    device_id: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
    now: datetime | None = None,
    tell_idp: bool = True,
) -> int:
    """End every session of a user (or of one of their devices) still active at ``now``
    (``still_active``), except ``keep``: ended and expired ones keep how and when they ended.

    One UPDATE statement, so a concurrent sign-out and revoke cannot leave half of them open;
    it returns the sessions it ended, whose IdP events are queued with it (``end_session``).
    """
    now = now or utcnow()
    if reason.requires_reauth:
        # First, to lock rows in the one order: the user, devices, then sessions.
        devices: ColumnElement[bool]
        if device_id is not None:
            devices = Device.id == device_id
        elif keep is not None:
            kept_device = select(UserSession.device_id).where(UserSession.id == keep)
            devices = Device.id.not_in(kept_device.scalar_subquery())
        else:
            devices = true()
        _require_reauth(user_id, devices, now)
    else:
        versions.bump([user_id])
    stmt = update(UserSession).where(UserSession.user_id == user_id, _active_at(now))
    if device_id is not None:
        stmt = stmt.where(UserSession.device_id == device_id)
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    ended = [
        signals.Ended(*row)
        for row in db.session.execute(
            stmt.values(
                ended_at=now,
                end_reason=reason.value,
                ended_by_id=by.id if by else None,
            )
            .returning(UserSession.id, UserSession.user_id, UserSession.idp_sid)
            .execution_options(synchronize_session="fetch")
        )
    ]
    metrics.sessions_ended(reason.value, len(ended))
    signals.session_revoked(ended, reason, now, tell_idp=tell_idp, kept=keep)
    return len(ended)


def _require_reauth(user_id: uuid.UUID, devices: ColumnElement[bool], now: datetime) -> None:
    """Mark the user, and those of their devices that ``devices`` selects, as revoked at ``now``.

    From then on a browser sign-in must show an IdP authentication (``auth_time``) newer
    than the user's mark, and a new API token one newer than its client's mark: the IdP's
    own single sign-on session cannot bring a revoked browser or client straight back.
    Whole seconds, because ``auth_time`` has no finer resolution. The user's device set
    changes with it (``devices.versions``), in the same statement.
    """
    mark = now.replace(microsecond=0)
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(reauth_required_after=mark, device_set_version=User.device_set_version + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Device)
        .where(Device.user_id == user_id, devices)
        .values(revoked_at=mark)
        .execution_options(synchronize_session=False)
    )


def lock_open_sessions(
    targets: list[tuple[uuid.UUID, uuid.UUID]], now: datetime | None = None
) -> list:
    """Of these (user id, session id) pairs, the sessions still active and of that user, as
    plain rows (id, user_id, device_id, idp_sid), locked until commit in the one order: the users
    (by id), then the sessions. ``lock_session_of_user`` for many at once."""
    if not targets:
        return []
    now = now or utcnow()
    wanted = set(targets)
    if db.session.get_bind().dialect.name == "sqlite":
        lock_account(targets[0][0])  # the database's write lock, whichever user
    else:
        db.session.execute(
            select(User.id)
            .where(User.id.in_(sorted({u for u, _ in wanted})))
            .order_by(User.id)
            .with_for_update()
        )
    # By id alone, and open or not decided here: a planner offered "ended_at IS NULL" may
    # walk the million open sessions of ix_sessions_ended instead of a hundred ids.
    rows = db.session.execute(
        select(
            _s.c.id,
            _s.c.user_id,
            _s.c.device_id,
            _s.c.idp_sid,
            _s.c.ended_at,
            _s.c.expires_at,
            _s.c.absolute_expires_at,
        )
        .where(_s.c.id.in_([sid for _, sid in targets]))
        .order_by(_s.c.id)
        .with_for_update()
    ).all()
    return [r for r in rows if (r.user_id, r.id) in wanted and still_active(r, now)]


def end_locked_sessions(
    rows: list, reason: EndReason, by: User | None, now: datetime | None = None
) -> None:
    """End the sessions ``lock_open_sessions`` returned, each as ``end_session`` ends one
    (the same columns, and the same re-authentication marks on its user and its device), in
    a few statements for the lot."""
    if not rows:
        return
    now = now or utcnow()
    if reason.requires_reauth:
        mark = now.replace(microsecond=0)
        db.session.execute(
            update(User)
            .where(User.id.in_(sorted({r.user_id for r in rows})))
            .values(reauth_required_after=mark, device_set_version=User.device_set_version + 1)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            update(Device)
            .where(Device.id.in_(sorted({r.device_id for r in rows})))
            .values(revoked_at=mark)
            .execution_options(synchronize_session=False)
        )
    else:
        versions.bump(r.user_id for r in rows)
    db.session.execute(
        update(UserSession)
        .where(UserSession.id.in_([r.id for r in rows]))  # locked and open: see above
        .values(ended_at=now, end_reason=reason.value, ended_by_id=by.id if by else None)
        .execution_options(synchronize_session=False)
    )
    metrics.sessions_ended(reason.value, len(rows))
    signals.session_revoked([signals.Ended(r.id, r.user_id, r.idp_sid) for r in rows], reason, now)


def remember_logout_token(issuer: str, jti: str, now: datetime | None = None) -> bool:
    """Record a back-channel logout token as used; False when it was used before (a replay).

    The insert runs in a savepoint, so a replay leaves the caller's transaction intact.
    """
    now = now or utcnow()
    token_hash = hashlib.sha256(f"{issuer}#{jti}".encode()).hexdigest()
    try:
        with db.session.begin_nested():
            db.session.add(SeenLogoutToken(token_hash=token_hash, seen_at=now))
    except IntegrityError:
        return False
    return True


def forget_logout_tokens_before(when: datetime) -> None:
    """Drop replay records older than any logout token that could still be accepted."""
    db.session.execute(delete(SeenLogoutToken).where(SeenLogoutToken.seen_at < when))


def end_idp_sessions(
    issuer: str, *, sid: str | None, subject: str | None, now: datetime | None = None
) -> tuple[User | None, int]:
    """End the portal sessions an IdP logout names: those of IdP session ``sid`` (and of
    ``subject`` when the token names both), or every session of ``subject`` when no ``sid``.

    Returns the user concerned (None when no open session or user matches) and how many
    sessions ended.
    """
    now = now or utcnow()
    if not sid:
        user = db.session.execute(
            select(User).where(User.issuer == issuer, User.subject == subject)
        ).scalar_one_or_none()
        if user is None:
            return None, 0
        return user, end_sessions(user_id=user.id, reason=EndReason.IDP_LOGOUT, by=None, now=now)
    stmt = (
        select(UserSession)
        .join(User, User.id == UserSession.user_id)
        .options(joinedload(UserSession.user))
        .where(
            User.issuer == issuer,
            UserSession.idp_sid == idp_sid_key(sid),
            _active_at(now),
        )
    )
    if subject:
        stmt = stmt.where(User.subject == subject)
    rows = list(db.session.execute(stmt).scalars())
    ended = sum(end_session(row, EndReason.IDP_LOGOUT, by=None, now=now) for row in rows)
    return (rows[0].user if rows else None), ended


def end_sessions_of_idp_session(
    sid: str, *, user_id: uuid.UUID | None, now: datetime | None = None
) -> int:
    """End the portal sessions of one IdP session (``sid``), only ``user_id``'s when given:
    what a transmitter's session-revoked event names. Ended as the IdP's own logout, so the
    IdP is never told back (no echo). Returns how many ended."""
    now = now or utcnow()
    stmt = select(UserSession).where(UserSession.idp_sid == idp_sid_key(sid), _active_at(now))
    if user_id is not None:
        stmt = stmt.where(UserSession.user_id == user_id)
    rows = list(db.session.execute(stmt.order_by(UserSession.id)).scalars())
    return sum(
        end_session(row, EndReason.IDP_LOGOUT, by=None, now=now, tell_idp=False) for row in rows
    )
