"""Mail and IdP events waiting to leave (the outbox), and the sign-in alerts it carries."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .device import Device
    from .session import UserSession
    from .user import User


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    # A paused Shared Signals stream's event, released to pending when the stream is enabled.
    HELD = "held"


class OutboxMessage(Model):
    """One mail (``kind`` ``sign_in_alert``) or one session-revoked event for the IdP
    (``caep_session_revoked``: ``message_id`` is the SET's ``jti``, ``recipient`` the receiver
    it was meant for, ``payload`` its claims), written in the transaction of what caused it and
    sent by the worker.

    ``next_attempt_at`` is both the retry time and the lease: a worker that claims the row
    moves it forward by the lease, so a worker that dies half-way leaves the row to be claimed
    again once the lease runs out. ``message_id`` never changes between attempts, so a mail
    server (or a person) recognises a retry of a mail that did go out.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
        # A Shared Signals stream's events (``recipient`` is the stream id), by stream.
        Index("ix_outbox_messages_recipient_status", "recipient", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str] = mapped_column(String(320))
    # What the mail is about (ids and the portal's address), rendered when it is sent; or the
    # event's claims, signed when it is sent.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    subject: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AlertAnswer(enum.StrEnum):
    CONFIRMED = "confirmed"  # "Yes, it was me"
    SECURED = "secured"  # "No, secure my account"


class SignInAlert(Model):
    """A sign-in the user was told about by mail, and what they answered."""

    __tablename__ = "sign_in_alerts"
    __table_args__ = (
        Index("ix_sign_in_alerts_device_created", "device_id", "created_at"),
        Index("ix_sign_in_alerts_user_created", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("sessions.id", ondelete="SET NULL")
    )
    outbox_message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("outbox_messages.id", ondelete="SET NULL")
    )
    new_device: Mapped[bool] = mapped_column(Boolean, default=False)
    # The sign-in's flags (services.devices.flags.SIGN_IN_FLAG_BITS) when the alert was made.
    flags: Mapped[int] = mapped_column(SmallInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    answer: Mapped[str | None] = mapped_column(String(16))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship("User")
    device: Mapped[Device] = relationship("Device")
    session: Mapped[UserSession | None] = relationship("UserSession")
    outbox_message: Mapped[OutboxMessage | None] = relationship("OutboxMessage")
