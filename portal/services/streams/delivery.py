"""Delivering a stream's events: where the worker pushes each (RFC 8935) and what a receiver's
refusal leaves on the stream; and what a receiver's poll (RFC 8936) takes, acknowledges and
reports as refused.

A poll stream's row is "pending" until the receiver acknowledges its ``jti`` (then "sent") or
reports an error for it (``setErrs``: then "failed", with the error kept on the row and on the
stream); a pending row is handed out on every poll until then, in the order the events were
written. A paused stream's rows are "held" (``fanout``), so neither pushed nor polled.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import case, select, update

from ...extensions import db
from ...models import OutboxStatus, StreamStatus
from .fanout import KIND_POLL, OUTBOX, note_error
from .reads import STREAMS

# Longest an error kept on a row or a stream.
ERROR_LIMIT = 2000


class PushTarget(NamedTuple):
    """Where a push stream's events go, read just before they leave."""

    stream_id: str
    status: str
    endpoint_url: str | None
    authorization_header: str | None

    @property
    def open(self) -> bool:
        """Events are pushed only while the stream is enabled (paused: held; disabled: gone)."""
        return self.status == StreamStatus.ENABLED.value and bool(self.endpoint_url)


def push_targets(stream_ids: Iterable[str]) -> dict[str, PushTarget]:
    """The streams of these ids as they are now (a deleted one is missing)."""
    wanted = sorted(set(stream_ids))
    if not wanted:
        return {}
    rows = db.session.execute(
        select(
            STREAMS.c.stream_id,
            STREAMS.c.status,
            STREAMS.c.endpoint_url,
            STREAMS.c.authorization_header,
        ).where(STREAMS.c.stream_id.in_(wanted))
    )
    return {row.stream_id: PushTarget(*row) for row in rows}


def _pending_of(stream_id: str, *, held_too: bool = False) -> Any:
    """The stream's poll rows not delivered yet; ``held_too``: those a pause holds as well
    (a SET handed out before the pause may be acknowledged or refused during it)."""
    statuses = [OutboxStatus.PENDING.value]
    if held_too:
        statuses.append(OutboxStatus.HELD.value)
    return (
        (OUTBOX.c.recipient == stream_id)
        & (OUTBOX.c.kind == KIND_POLL)
        & OUTBOX.c.status.in_(statuses)
    )


def acknowledge(stream_id: str, jtis: list[str], now: datetime) -> int:
    """Mark the stream's events of these ``jti`` delivered; one already acknowledged, or not
    the stream's, is left as it is (an acknowledgement repeated changes nothing)."""
    if not jtis:
        return 0
    result = db.session.execute(
        update(OUTBOX)
        .where(_pending_of(stream_id, held_too=True), OUTBOX.c.message_id.in_(sorted(set(jtis))))
        .values(status=OutboxStatus.SENT.value, sent_at=now, subject="acknowledged")
    )
    return int(getattr(result, "rowcount", 0) or 0)


def report_errors(stream_id: str, errors: Mapping[str, str], now: datetime) -> int:
    """The receiver could not take these events (RFC 8936 ``setErrs``): each kept as failed
    with its error, not handed out again, and the last error kept on the stream."""
    if not errors:
        return 0
    rows = db.session.execute(
        select(OUTBOX.c.id, OUTBOX.c.message_id).where(
            _pending_of(stream_id, held_too=True), OUTBOX.c.message_id.in_(sorted(errors))
        )
    ).all()
    if not rows:
        return 0
    # One statement for them all: the error of each row chosen by its jti.
    said = {row.message_id: errors[row.message_id][:ERROR_LIMIT] for row in rows}
    db.session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_([row.id for row in rows]))
        .values(
            status=OutboxStatus.FAILED.value,
            last_error=case(said, value=OUTBOX.c.message_id),
            next_attempt_at=now,
        )
    )
    note_error(stream_id, said[rows[-1].message_id])
    return len(rows)


def pending(stream_id: str, limit: int) -> tuple[list[tuple[str, dict]], bool]:
    """Up to ``limit`` of the stream's undelivered events, oldest first, as (jti, claims),
    and whether more are waiting."""
    rows = db.session.execute(
        select(OUTBOX.c.message_id, OUTBOX.c.payload)
        .where(_pending_of(stream_id))
        .order_by(OUTBOX.c.created_at, OUTBOX.c.id)
        .limit(limit + 1)
    ).all()
    return [(row.message_id, row.payload["claims"]) for row in rows[:limit]], len(rows) > limit


def wait_for_events(client_id: str, stream_id: str, seconds: float, every: float = 0.5) -> None:
    """Return once the client's stream has an event to hand out, or after ``seconds``.

    Each look is one small query on a connection of its own, outside the request's
    transaction: a snapshot kept open (SQLite's) would never see the events that arrive,
    and nothing is locked while the receiver waits."""
    deadline = time.monotonic() + seconds
    query = (
        select(OUTBOX.c.id)
        .select_from(OUTBOX.join(STREAMS, STREAMS.c.stream_id == OUTBOX.c.recipient))
        .where(_pending_of(stream_id), STREAMS.c.client_id == client_id)
        .limit(1)
    )
    while True:
        with db.engine.connect() as connection:
            if connection.scalar(query) is not None:
                return
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(every, left))
