"""Shared Signals event streams (SSF 1.0 section 8): each receiver's own streams, and the
subjects a receiver removed from one."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model
from .types import UTCDateTime, utcnow


class StreamStatus(enum.StrEnum):
    """SSF 1.0 section 8.1.2: what the transmitter does with a stream's events."""

    ENABLED = "enabled"  # delivered
    PAUSED = "paused"  # held (up to a limit), delivered once enabled again
    DISABLED = "disabled"  # neither delivered nor held


class SsfStream(Model):
    """One receiver's event stream, owned by the OAuth client that created it (``client_id``):
    a client sees and changes only its own streams.

    ``endpoint_url`` is the receiver's push URL (RFC 8935) or NULL for poll (RFC 8936, where
    the portal's own URL is derived from the stream id). ``authorization_header`` is what the
    receiver asked the portal to send with every push: a secret, never logged nor answered in
    full. ``last_error`` is the receiver's last refusal of an event, for an admin to read.
    """

    __tablename__ = "ssf_streams"

    stream_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(255), index=True)
    audience: Mapped[list] = mapped_column(JSON, default=list)
    delivery_method: Mapped[str] = mapped_column(String(64))
    endpoint_url: Mapped[str | None] = mapped_column(String(2048))
    authorization_header: Mapped[str | None] = mapped_column(Text)
    events_requested: Mapped[list] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=StreamStatus.ENABLED.value)
    status_reason: Mapped[str | None] = mapped_column(Text)
    min_verification_interval: Mapped[int] = mapped_column(Integer)
    last_verification_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # How the stream's events name their subject: iss_sub, email or complex (docs/ssf.md).
    subject_format: Mapped[str] = mapped_column(String(16), default="iss_sub")


class SsfStreamSubject(Model):
    """A subject the receiver removed from its stream (every subject is included until then,
    as the CAEP interoperability profile has it: ``default_subjects`` ALL); adding it again
    deletes the row. ``subject_key`` is the subject as canonical JSON; ``user_id`` the portal's
    user it named when removed, if any."""

    __tablename__ = "ssf_stream_subjects"

    stream_id: Mapped[str] = mapped_column(
        ForeignKey("ssf_streams.stream_id", ondelete="CASCADE"), primary_key=True
    )
    subject_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
