"""The events the portal transmits on receivers' streams (SSF 1.0): CAEP ``session-revoked``
when the portal ends sessions, RISC ``account-disabled`` and ``account-enabled`` when it
deactivates and reactivates an account; each written, one outbox row per stream that receives
it (``streams.fanout.queue_set``), in the transaction of the change it tells.

Subjects are named in the stream's ``format`` (``streams.configuration.SUBJECT_FORMATS``):
``iss_sub`` (the default) and ``email`` name the user, so one ``session-revoked`` per user says
what the end of several of their sessions says; ``complex`` names the user and, for a
session-revoked, the IdP session (the ID token's ``sid``), one event per such session. A user
without the identifier a stream asks for is named by the other (an email for iss_sub, and the
other way round); a user the portal knows by neither gets no event.

The number of statements does not grow with the users or sessions of one change: the users,
the receiving streams, the subjects those streams removed, then ``queue_set``'s insert.
The portal's issuer reaches this layer without Flask, registered for the app's engine when the
app is built (``use_issuer``), as ``signals.use_transmitter`` does for the IdP's receiver.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, or_, select

from ...extensions import db
from ...models import User
from ..streams import claims as set_claims
from ..streams import fanout, subjects
from ..streams.configuration import SESSION_REVOKED
from ..streams.reads import SUBJECTS, StreamRow, receiving

_issuers: weakref.WeakKeyDictionary[Engine | Connection, str] = weakref.WeakKeyDictionary()


def use_issuer(engine: Engine, issuer: str | None) -> None:
    """The app on ``engine`` transmits on streams as ``issuer`` (None: it has no streams)."""
    if issuer is None:
        _issuers.pop(engine, None)
    else:
        _issuers[engine] = issuer


def issuer() -> str | None:
    """The current app's issuer on streams, or None when it transmits on none."""
    if not _issuers:
        return None
    return _issuers.get(db.session.get_bind())


def _iss_sub(user: Any) -> dict[str, Any] | None:
    if user.issuer and user.subject:
        return {"format": "iss_sub", "iss": user.issuer, "sub": user.subject}
    return None


def _email(user: Any) -> dict[str, Any] | None:
    return {"format": "email", "email": user.email} if user.email else None


def user_subject(subject_format: str, user: Any) -> dict[str, Any] | None:
    """The user as RFC 9493 names them in ``subject_format`` (the other profile format when
    the portal lacks that identifier; None when it has neither)."""
    if subject_format == "email":
        return _email(user) or _iss_sub(user)
    named = _iss_sub(user) or _email(user)
    if subject_format == "complex" and named is not None:
        return {"format": "complex", "user": named}
    return named


def session_subject(user: Any, sid: str) -> dict[str, Any] | None:
    """A complex subject: the user and their IdP session (CAEP 1.0's session-revoked example)."""
    named = _iss_sub(user) or _email(user)
    if named is None:
        return None
    return {"format": "complex", "user": named, "session": {"format": "opaque", "id": sid}}


def _users(user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    rows = db.session.execute(
        select(User.id, User.issuer, User.subject, User.email).where(User.id.in_(wanted))
    )
    return {row.id: row for row in rows}


def _receivers(event_type: str, users: dict[uuid.UUID, Any]) -> dict[uuid.UUID, list[StreamRow]]:
    """For each user, the streams an event of ``event_type`` about them goes to: two queries
    for any number of users (the streams, then the subjects those streams removed)."""
    streams = receiving(event_type)
    if not streams or not users:
        return {}
    keys = {
        user_id: subjects.user_keys(row.issuer, row.subject, row.email)
        for user_id, row in users.items()
    }
    every_key = sorted({k for ks in keys.values() for k in ks})
    named = [SUBJECTS.c.user_id.in_(sorted(users))]
    if every_key:
        named.append(SUBJECTS.c.subject_key.in_(every_key))
    removed = db.session.execute(
        select(SUBJECTS.c.stream_id, SUBJECTS.c.subject_key, SUBJECTS.c.user_id).where(
            SUBJECTS.c.stream_id.in_([s.stream_id for s in streams]), or_(*named)
        )
    ).all()
    out = {}
    for user_id in users:
        gone = {
            r.stream_id for r in removed if r.user_id == user_id or r.subject_key in keys[user_id]
        }
        out[user_id] = [s for s in streams if s.stream_id not in gone]
    return out


def session_revoked(
    ended: Iterable[tuple[uuid.UUID, str | None]],
    *,
    event: dict[str, Any],
    now: datetime,
    txn: str,
    kept_sid: str | None = None,
    whole_user: bool = True,
) -> int:
    """Queue the session-revoked events of sessions just ended, given as (user id, the IdP
    sid), on every stream that receives them; returns the rows written. Only sessions the
    IdP knows (browser sign-ins, with a ``sid``) are told, as to the IdP's own receiver
    (``signals``): naming the user for the end of one API token's session would end every
    session a receiver holds for them.

    ``whole_user`` False (the user keeps a session of theirs open): only ``complex`` streams
    hear of it, since naming the user alone would end the kept session's counterpart too;
    ``kept_sid`` is that session's IdP sid, whose earlier sign-ins are not named either."""
    sending = issuer()
    named: list[tuple[uuid.UUID, str]] = [
        (user_id, sid) for user_id, sid in ended if sid and sid != kept_sid
    ]
    if sending is None or not named:
        return 0
    users = _users(user_id for user_id, _ in named)
    receivers = _receivers(SESSION_REVOKED, users)
    queued: list[tuple[StreamRow, dict[str, Any]]] = []
    user_of: dict[str, uuid.UUID] = {}
    for user_id, streams in receivers.items():
        user = users[user_id]
        sids = sorted({sid for uid, sid in named if uid == user_id})
        for stream in streams:
            if stream.subject_format == "complex":
                told = [session_subject(user, sid) for sid in sids]
            elif whole_user:
                told = [user_subject(stream.subject_format, user)]
            else:
                told = []
            for sub_id in told:
                if sub_id is not None:
                    made = _claims(stream, sending, SESSION_REVOKED, event, sub_id, now, txn)
                    queued.append((stream, made))
                    user_of[made["jti"]] = user_id
    return fanout.queue_set(queued, now=now, user_of=user_of) if queued else 0


def account_changed(
    user_id: uuid.UUID, event_type: str, event: dict[str, Any], now: datetime
) -> int:
    """Queue an account event (RISC account-disabled or account-enabled) about the user on
    every stream that receives it; returns the rows written."""
    sending = issuer()
    if sending is None:
        return 0
    users = _users([user_id])
    txn = uuid.uuid4().hex
    queued = []
    for stream in _receivers(event_type, users).get(user_id, []):
        sub_id = user_subject(stream.subject_format, users[user_id])
        if sub_id is not None:
            queued.append((stream, _claims(stream, sending, event_type, event, sub_id, now, txn)))
    return fanout.queue_set(queued, now=now, user_id=user_id) if queued else 0


def _claims(
    stream: StreamRow,
    sending: str,
    event_type: str,
    event: dict[str, Any],
    sub_id: dict[str, Any],
    now: datetime,
    txn: str,
) -> dict[str, Any]:
    return set_claims.set_claims(
        stream,
        issuer=sending,
        event_type=event_type,
        event=dict(event),
        sub_id=sub_id,
        now=now,
        txn=txn,
    )
