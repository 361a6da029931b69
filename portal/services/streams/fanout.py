"""An event's outbox rows, one per stream that receives it, and what a stream's status does
to the rows already written.

``queue_set`` writes the rows in the caller's transaction, with one multi-row INSERT: kind
``ssf_push`` (the worker pushes it to the receiver, RFC 8935) or ``ssf_poll`` (the receiver
polls it, RFC 8936; "sent" once acknowledged); ``recipient`` is the stream id; the payload is
``{"stream_id", "claims"}`` with the SET's claims fixed, ``jti`` too, so a retry is
recognised. An enabled stream's rows are pending; a paused stream's are held, at most
``HELD_LIMIT`` per stream: the oldest are kept and a newer event past the limit is not
written, so the receiver gets an unbroken run of the oldest in order when it enables the
stream again (SSF 1.0 section 8.1.2 lets a transmitter drop held events). A disabled stream
receives nothing. Pausing holds the stream's rows not yet delivered, enabling releases them,
disabling or deleting the stream drops them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from ...extensions import db
from ...models import OutboxMessage, OutboxStatus, SsfStream, StreamStatus
from .configuration import PUSH
from .reads import StreamRow

log = logging.getLogger(__name__)

KIND_PUSH = "ssf_push"
KIND_POLL = "ssf_poll"
KINDS = (KIND_PUSH, KIND_POLL)
# Events a paused stream holds at most (documented in docs/ssf.md).
HELD_LIMIT = 1000

OUTBOX = OutboxMessage.__table__


def kind_of(stream: StreamRow) -> str:
    return KIND_PUSH if stream.delivery_method == PUSH else KIND_POLL


def _room(paused: Sequence[str]) -> dict[str, int]:
    """How many more events each paused stream may hold."""
    if not paused:
        return {}
    held: dict[str, int] = dict(
        db.session.execute(
            select(OUTBOX.c.recipient, func.count())
            .where(
                OUTBOX.c.recipient.in_(sorted(set(paused))),
                OUTBOX.c.kind.in_(KINDS),
                OUTBOX.c.status == OutboxStatus.HELD.value,
            )
            .group_by(OUTBOX.c.recipient)
        )
        .tuples()
        .all()
    )
    return {stream_id: max(0, HELD_LIMIT - held.get(stream_id, 0)) for stream_id in paused}


def queue_set(
    sets: Iterable[tuple[StreamRow, dict[str, Any]]],
    *,
    now: datetime,
    user_id: uuid.UUID | None = None,
    user_of: Mapping[str, uuid.UUID] | None = None,
) -> int:
    """Queue each (stream, claims) pair: the SET of these claims on that stream, ``jti``
    among the claims; returns how many rows were written. ``user_id`` is the user the events
    are about (their rows go when the user is deleted); ``user_of`` names it per ``jti`` when
    one change tells about several users."""
    sets = [(s, c) for s, c in sets if s.status != StreamStatus.DISABLED.value]
    room = _room([s.stream_id for s, _ in sets if s.status == StreamStatus.PAUSED.value])
    rows = []
    for stream, claims in sets:
        status = OutboxStatus.PENDING.value
        if stream.status == StreamStatus.PAUSED.value:
            if room[stream.stream_id] <= 0:
                log.warning(
                    "stream %s holds %d events already: event %s not kept",
                    stream.stream_id,
                    HELD_LIMIT,
                    claims["jti"],
                )
                continue
            room[stream.stream_id] -= 1
            status = OutboxStatus.HELD.value
        rows.append(
            {
                "id": uuid.uuid4(),
                "message_id": claims["jti"],
                "kind": kind_of(stream),
                "user_id": user_of.get(claims["jti"], user_id) if user_of else user_id,
                "recipient": stream.stream_id,
                "payload": {"stream_id": stream.stream_id, "claims": claims},
                "status": status,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if rows:
        db.session.execute(insert(OUTBOX), rows)
    return len(rows)


def _of_stream(stream_id: str, statuses: tuple[OutboxStatus, ...]) -> Any:
    return (
        (OUTBOX.c.recipient == stream_id)
        & OUTBOX.c.kind.in_(KINDS)
        & OUTBOX.c.status.in_([s.value for s in statuses])
    )


def hold(stream_id: str) -> None:
    """A paused stream: its events not yet delivered wait."""
    db.session.execute(
        update(OUTBOX)
        .where(_of_stream(stream_id, (OutboxStatus.PENDING,)))
        .values(status=OutboxStatus.HELD.value)
    )


def release(stream_id: str) -> None:
    """An enabled stream: its held events are due at once, in the order they were written
    (each is due from when it was written, and the worker claims the earliest first)."""
    db.session.execute(
        update(OUTBOX)
        .where(_of_stream(stream_id, (OutboxStatus.HELD,)))
        .values(status=OutboxStatus.PENDING.value, next_attempt_at=OUTBOX.c.created_at)
    )


def redirect(stream_id: str, kind: str) -> None:
    """A stream whose delivery method changed: its events not yet delivered go the new way."""
    db.session.execute(
        update(OUTBOX)
        .where(_of_stream(stream_id, (OutboxStatus.PENDING, OutboxStatus.HELD)))
        .values(kind=kind)
    )


def drop(stream_id: str) -> None:
    """A disabled or deleted stream: its events not yet delivered are gone."""
    db.session.execute(
        delete(OUTBOX).where(_of_stream(stream_id, (OutboxStatus.PENDING, OutboxStatus.HELD)))
    )


def note_error(stream_id: str, error: str | None) -> None:
    """Keep the receiver's last refusal of the stream's events (its ``err`` and
    ``description``) on the stream, for an admin; None when a delivery went through again."""
    db.session.execute(
        update(SsfStream.__table__)
        .where(SsfStream.__table__.c.stream_id == stream_id)
        .values(last_error=error[:2000] if error else None)
    )
