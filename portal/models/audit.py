"""The append-only audit log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, NoReturn

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Mapper, mapped_column, relationship

from ..extensions import Model
from .types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .user import User


class AuditEvent(Model):
    """Who did or looked at what, to whom, when and from where. Rows are never changed."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_occurred", "occurred_at"),
        Index("ix_audit_actor_occurred", "actor_id", "occurred_at"),
        Index("ix_audit_target_occurred", "target_user_id", "occurred_at"),
        Index("ix_audit_action_occurred", "action", "occurred_at"),
        Index("ix_audit_xact_id", "xact_id", "id"),
        # The events the audit page shows unless asked for looks at a user's devices.
        Index(
            "ix_audit_shown_occurred",
            "occurred_at",
            "id",
            sqlite_where=text("action <> 'view_user_devices'"),
            postgresql_where=text("action <> 'view_user_devices'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    target_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Plain ids, not foreign keys: the record outlives what it points at.
    device_id: Mapped[uuid.UUID | None]
    session_id: Mapped[uuid.UUID | None]
    ip_address: Mapped[str | None] = mapped_column(String(45))
    # How it was asked for: page, api, cli or idp (NULL on events older than the column).
    via: Mapped[str | None] = mapped_column(String(8))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    # The writing transaction (PostgreSQL's pg_current_xact_id(), set by the database; 0 on
    # SQLite and before migration 0008): the events feed's order, see services.audit.feed.
    xact_id: Mapped[int] = mapped_column(BigInteger, server_default="0")

    actor: Mapped[User | None] = relationship("User", foreign_keys=[actor_id])
    target_user: Mapped[User | None] = relationship("User", foreign_keys=[target_user_id])


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete an audit row."""


@event.listens_for(AuditEvent, "before_update")
def _refuse_update(
    mapper: Mapper[AuditEvent], connection: Connection, target: AuditEvent
) -> NoReturn:
    raise AuditLogIsAppendOnly("audit events cannot be changed")


@event.listens_for(AuditEvent, "before_delete")
def _refuse_delete(
    mapper: Mapper[AuditEvent], connection: Connection, target: AuditEvent
) -> NoReturn:
    raise AuditLogIsAppendOnly("audit events cannot be deleted")
