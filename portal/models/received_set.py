"""Security Event Tokens received from a transmitter, so a replayed one changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model
from .types import UTCDateTime, utcnow


class ReceivedSet(Model):
    """One accepted SET, by the SHA-256 of its issuer and ``jti`` (RFC 8417 makes the pair
    unique), so a replay fails on insert even when two copies race.

    ``state`` is a verification event's, which ``flask ssf subscribe`` waits for. Rows whose
    ``iat`` is past ``PORTAL_SSF_RECEIVE_MAX_AGE`` are deleted: a SET that old is refused anyway.
    """

    __tablename__ = "ssf_received"

    set_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(2048))
    jti: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(255))
    state: Mapped[str | None] = mapped_column(String(255), nullable=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
