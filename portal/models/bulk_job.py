"""A bulk job (signing out many sessions at once) and the fixed set of items it works on."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model
from .types import UTCDateTime, utcnow


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class BulkJob(Model):
    """Work an admin asked for, done by the background worker in small batches.

    The set of items is fixed when the job is made (``BulkJobItem``); the worker goes
    through them in key order and keeps its place in ``cursor_*`` in the same transaction as
    each batch's changes, so a worker that dies loses at most the batch it had not committed,
    and the next one starts where the last commit left off.
    """

    __tablename__ = "bulk_jobs"
    __table_args__ = (
        # Pressing the button twice (or retrying a POST) finds the job the first press made.
        Index("uq_bulk_jobs_creator_key", "created_by_id", "idempotency_key", unique=True),
        Index("ix_bulk_jobs_status_created", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Who asked and how, for the audit events the worker writes in their name.
    actor_label: Mapped[str | None] = mapped_column(String(320))
    actor_ip: Mapped[str | None] = mapped_column(String(45))
    via: Mapped[str] = mapped_column(String(8))
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    users: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    ended: Mapped[int] = mapped_column(Integer, default=0)  # of ``done``, those still open
    cursor_user_id: Mapped[uuid.UUID | None]
    cursor_session_id: Mapped[uuid.UUID | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BulkJobItem(Model):
    """One session a bulk sign-out ends; in (user, session) order, so a batch groups users."""

    __tablename__ = "bulk_job_items"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bulk_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
