"""Ending sessions (one, a device's, a list of them, all of a user's) and extending one."""

from __future__ import annotations

import uuid
from datetime import datetime

from ...models import Device, EndReason, User, UserSession, utcnow
from ..audit.record import Actions
from ..errors import NotFound
from ..sessions import ending
from ..sessions import policy as sessions
from ..users.summary import UserSummary
from .actor import Actor, locked_device, locked_session, on_behalf, others_reason


def _end(
    actor: Actor, user_id: uuid.UUID, *, device_id: uuid.UUID | None = None, include_current: bool
) -> tuple[int, bool]:
    """End a user's open sessions (or one device's), the one primitive behind every revoke.

    On the actor's own account, the actor's current session is kept unless
    ``include_current``, and then it ends as a plain sign-out; every other session ends as
    revoked (by the user, or by an admin). Returns how many ended and whether the actor's own
    session was one of them.
    """
    now = utcnow()
    current = actor.session if actor.owns(user_id) else None
    ended = ending.end_sessions(
        user_id=user_id,
        device_id=device_id,
        reason=others_reason(actor, user_id),
        by=actor.user,
        keep=current.id if current else None,
        now=now,
    )
    ended_current = False
    in_scope = device_id is None or (current is not None and current.device_id == device_id)
    if include_current and current is not None and in_scope:
        ended_current = ending.end_session(current, EndReason.SIGNED_OUT, by=actor.user, now=now)
    return ended + int(ended_current), ended_current


def end_device_sessions(
    actor: Actor, device_id: str | uuid.UUID, user_id: uuid.UUID | None = None
) -> tuple[Device, int, bool]:
    """Sign a device of the actor's (or of ``user_id``'s) out: every session of it ends (the
    actor's own too, on its own device).

    Returns the device, how many ended and whether the actor's own session was one of them.
    """
    device = locked_device(actor, device_id, user_id)
    ended, ended_current = _end(actor, device.user_id, device_id=device.id, include_current=True)
    detail = on_behalf(actor, device.user_id, ended) or {"sessions_ended": ended}
    actor.record(Actions.REVOKE_DEVICE, device.user_id, device_id=device.id, **detail)
    return device, ended, ended_current


def revoke_session(
    actor: Actor, session_id: str | uuid.UUID, user_id: uuid.UUID | None = None
) -> UserSession:
    """End one active session of the actor's (or of ``user_id``'s); returns it.

    Locked first, so two revokes of one session record one revoke: the second finds it ended
    (NotFound, as a session that is not the account's)."""
    session = locked_session(actor, session_id, user_id)
    ended = ending.end_session(session, others_reason(actor, session.user_id), by=actor.user)
    actor.record(
        Actions.REVOKE_SESSION,
        session.user_id,
        device_id=session.device_id,
        session_id=session.id,
        **on_behalf(actor, session.user_id, int(ended)),
    )
    return session


def revoke_sessions(actor: Actor, targets: list[tuple[uuid.UUID, uuid.UUID]]) -> int:
    """End these (user id, session id) sessions that are still open, each exactly as
    ``revoke_session`` ends one (the same reason, re-authentication marks and audit event),
    with a few statements for the whole list: a bulk sign-out's batch. Returns how many."""
    now = utcnow()
    rows = ending.lock_open_sessions(targets, now)
    for reason in {others_reason(actor, r.user_id) for r in rows}:
        mine = [r for r in rows if others_reason(actor, r.user_id) == reason]
        ending.end_locked_sessions(mine, reason, by=actor.user, now=now)
    for r in rows:
        actor.record(
            Actions.REVOKE_SESSION,
            r.user_id,
            device_id=r.device_id,
            session_id=r.id,
            **on_behalf(actor, r.user_id, 1),
        )
    return len(rows)


def revoke_all_sessions(
    actor: Actor, target: User | UserSummary, *, include_current: bool
) -> tuple[int, bool]:
    """End all of ``target``'s sessions; on the actor's own account, the actor's current one
    survives unless ``include_current``. Returns how many ended and whether the actor's own
    session was one of them."""
    ended, ended_current = _end(actor, target.id, include_current=include_current)
    if actor.owns(target.id):
        detail = {"sessions_ended": ended, "kept_current": not include_current}
    else:
        detail = on_behalf(actor, target.id, ended)
    kept = actor.session_id if actor.owns(target.id) else None
    actor.record(Actions.REVOKE_ALL_SESSIONS, target.id, session_id=kept, **detail)
    return ended, ended_current


SESSION_NOT_FOUND_OR_EXPIRED = "Session not found or expired"


def heartbeat(actor: Actor, session_id: str, policy: sessions.SessionPolicy) -> datetime:
    """A client says its session is in use: slide the expiry forward (never past its absolute
    cap) when that moves it by a step, and answer the expiry; NotFound when the session is not
    an active one of the caller's.

    Most heartbeats change nothing a person sees (the expiry moves by a step at a time, and
    the last-seen stamp is the principal's, once a minute): those read the session and write
    nothing, take no lock and leave no audit event.
    """
    user_id = actor.user_id
    found = sessions.expiry_facts(user_id, session_id) if user_id is not None else None
    if (
        user_id is None
        or found is None
        or found.ended_at is not None
        or found.expires_at <= utcnow()
    ):
        raise NotFound(SESSION_NOT_FOUND_OR_EXPIRED)
    if not sessions.extension_due(found, policy):
        return found.expires_at
    locked = sessions.lock_session_of_user(user_id, session_id)
    if locked is None:  # ended or expired meanwhile
        raise NotFound(SESSION_NOT_FOUND_OR_EXPIRED)
    return extend_session(actor, locked, policy)


def extend_session(actor: Actor, session: UserSession, policy: sessions.SessionPolicy) -> datetime:
    """Slide the session's expiry forward (never past its absolute cap)."""
    expires = sessions.extend_session(session, policy)
    actor.record(
        Actions.EXTEND_SESSION,
        session.user_id,
        device_id=session.device_id,
        session_id=session.id,
        expires_at=expires.isoformat(),
    )
    return expires
