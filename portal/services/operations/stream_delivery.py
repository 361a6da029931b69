"""A receiver polling its stream (RFC 8936): what it acknowledges is delivered, what it
reports refused is kept as failed with its error, and it takes the next events, oldest
first. A stream that is paused or disabled hands out nothing (its events are held or gone);
a push stream has no poll."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...models import StreamStatus, utcnow
from ..errors import NotFound
from ..streams import delivery, reads
from ..streams.configuration import POLL
from .actor import Actor
from .streams import STREAM_NOT_FOUND


@dataclass(frozen=True)
class Polled:
    """The events handed out, as (jti, claims) oldest first, and whether more wait."""

    sets: list[tuple[str, dict[str, Any]]]
    more_available: bool


def poll_stream(
    actor: Actor,
    client_id: str,
    stream_id: str,
    *,
    acknowledged: list[str],
    refused: dict[str, str],
    wanted: int,
    now: datetime | None = None,
) -> Polled:
    """Settle what the receiver says of the events it took, then hand out up to ``wanted``
    of its stream's undelivered ones. Another client's stream, or a push stream, is not
    found. Delivery bookkeeping, as the worker's pushes: no audit event."""
    now = now or utcnow()
    found = reads.stream_rows(client_id, stream_id)
    if not found or found[0].delivery_method != POLL:
        raise NotFound(STREAM_NOT_FOUND)
    stream = found[0]
    delivery.acknowledge(stream.stream_id, acknowledged, now)
    delivery.report_errors(stream.stream_id, refused, now)
    if stream.status != StreamStatus.ENABLED.value or wanted <= 0:
        return Polled([], False)
    sets, more = delivery.pending(stream.stream_id, wanted)
    return Polled(sets, more)
