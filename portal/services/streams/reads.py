"""A stream as every read shows it (``StreamRow``, one Core statement), a stream locked for a
change (with its owner in the query: another client's stream is not found), and the streams
that receive an event about a user.

Which streams receive an event (``receiving``): those enabled or paused (a paused stream's
rows are held, ``fanout``), whose ``events_delivered`` holds the event's type, and from which
the receiver did not remove the user (by any key the user is known by: email, iss_sub).
Verification events go to their one stream whatever it asked for (SSF 1.0 section 8.1.4).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import exists, func, or_, select

from ...extensions import db
from ...models import SsfStream, SsfStreamSubject, StreamStatus
from .configuration import Requested, delivered

STREAMS = SsfStream.__table__
SUBJECTS = SsfStreamSubject.__table__


class StreamRow(NamedTuple):
    """One stream's columns, as plain values."""

    stream_id: str
    client_id: str
    audience: list[str]
    delivery_method: str
    endpoint_url: str | None
    authorization_header: str | None
    events_requested: list[str]
    description: str | None
    status: str
    status_reason: str | None
    min_verification_interval: int
    last_verification_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    subject_format: str

    @property
    def events_delivered(self) -> list[str]:
        return delivered(list(self.events_requested))

    @property
    def requested(self) -> Requested:
        """Its receiver-supplied values, as a PATCH starts from them."""
        return Requested(
            self.delivery_method,
            self.endpoint_url,
            self.authorization_header,
            list(self.events_requested),
            self.description,
            self.subject_format,
        )


COLUMNS = tuple(getattr(STREAMS.c, name) for name in StreamRow._fields)


def stream_rows(client_id: str, stream_id: str | None = None) -> list[StreamRow]:
    """The client's streams (or its one stream of that id), oldest first."""
    query = select(*COLUMNS).where(STREAMS.c.client_id == client_id)
    if stream_id is not None:
        query = query.where(STREAMS.c.stream_id == stream_id)
    query = query.order_by(STREAMS.c.created_at, STREAMS.c.stream_id)
    return [StreamRow(*row) for row in db.session.execute(query)]


def all_streams() -> list[StreamRow]:
    """Every client's streams, for an admin (or a command) to see each one's state and the
    receiver's last refusal (``last_error``)."""
    query = select(*COLUMNS).order_by(STREAMS.c.client_id, STREAMS.c.created_at)
    return [StreamRow(*row) for row in db.session.execute(query)]


def count_of_client(client_id: str) -> int:
    return db.session.scalar(select(func.count()).where(STREAMS.c.client_id == client_id)) or 0


def lock_stream(client_id: str, stream_id: str) -> SsfStream | None:
    """The client's stream, locked until commit (SQLite: the database's write lock is taken by
    the change that follows); None when the client has no stream of that id."""
    return db.session.execute(
        select(SsfStream)
        .where(SsfStream.stream_id == stream_id, SsfStream.client_id == client_id)
        .with_for_update()
    ).scalar_one_or_none()


def receiving(
    event_type: str, *, user_id: uuid.UUID | None = None, subject_keys: list[str] | None = None
) -> list[StreamRow]:
    """The streams an event of ``event_type`` about a user goes to (enabled ones deliver it,
    paused ones hold it), oldest first: the receiver asked for the type and did not remove the
    user, named by ``user_id`` or by one of ``subject_keys`` (``subjects.user_keys``)."""
    query = select(*COLUMNS).where(
        STREAMS.c.status.in_((StreamStatus.ENABLED.value, StreamStatus.PAUSED.value))
    )
    removed = []
    if user_id is not None:
        removed.append(SUBJECTS.c.user_id == user_id)
    if subject_keys:
        removed.append(SUBJECTS.c.subject_key.in_(subject_keys))
    if removed:
        query = query.where(
            ~exists().where(SUBJECTS.c.stream_id == STREAMS.c.stream_id, or_(*removed))
        )
    rows = db.session.execute(query.order_by(STREAMS.c.created_at, STREAMS.c.stream_id))
    return [row for row in map(StreamRow._make, rows) if event_type in row.events_delivered]


def row_of(stream: SsfStream) -> StreamRow:
    """The read row of a stream model just changed (no query)."""
    return StreamRow(*(getattr(stream, name) for name in StreamRow._fields))
