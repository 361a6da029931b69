"""Bulk jobs: signing out every session a search matched, in the background, in batches.

A job is made in the admin's request with the fixed set of sessions it ends
(``bulk_job_items``, one ``INSERT ... SELECT``): a session that starts later is never touched.
The background worker calls ``run_pending`` in a loop, committing after each call: each call
claims one unfinished job (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers share
the jobs; SQLite's write lock queues them), ends the next ``batch_size`` sessions of it as an
admin's single revoke ends each (``operations.revoke_sessions``: the same reason, the same
re-authentication marks, the same per-user audit event as ``revoke_session``, in a few
statements a batch), and moves the job's cursor past them, all in the caller's one short
transaction. A worker that dies mid-batch loses that batch's
uncommitted work only; the next call starts again from the last committed cursor, so no
session is ended twice and none is skipped.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Uuid, func, insert, literal, select, tuple_, update

from ...extensions import db
from ...models import BulkJob, BulkJobItem, JobStatus, utcnow
from ..common import parse_id
from ..sessions.opening import insert_unless_present
from . import search

log = logging.getLogger(__name__)

SIGN_OUT = "sign_out"
DEFAULT_BATCH = 100
_UNFINISHED = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


def create_sign_out_job(
    f: search.SignInFilter,
    *,
    created_by_id: uuid.UUID | None,
    actor_label: str | None,
    actor_ip: str | None,
    via: str,
    idempotency_key: str | None,
    now: datetime | None = None,
) -> tuple[BulkJob, bool]:
    """The job that ends every active session matching ``f`` now; and whether this call made
    it (False: the same caller already made one with this ``idempotency_key``)."""
    now = now or utcnow()
    job_id = uuid.uuid4()
    values: dict[str, Any] = dict(
        id=job_id,
        kind=SIGN_OUT,
        status=JobStatus.QUEUED.value,
        created_by_id=created_by_id,
        actor_label=actor_label,
        actor_ip=actor_ip,
        via=via,
        idempotency_key=idempotency_key,
        filters=f.as_dict(),
        total=0,
        users=0,
        done=0,
        ended=0,
        created_at=now,
    )
    if idempotency_key and created_by_id is not None:
        # A second press (or a retried POST) meets the first one's row and answers with it.
        insert_unless_present(BulkJob, ["created_by_id", "idempotency_key"], **values)
        job = db.session.execute(
            select(BulkJob).where(
                BulkJob.created_by_id == created_by_id,
                BulkJob.idempotency_key == idempotency_key,
            )
        ).scalar_one()
        if job.id != job_id:
            return job, False
    else:
        db.session.execute(insert(BulkJob).values(**values))
        job = db.session.get_one(BulkJob, job_id)
    active = search.SignInFilter(**{**vars(f), "active": True})
    matches = search.matching_sessions(active, now)
    db.session.execute(
        insert(BulkJobItem).from_select(
            ["job_id", "user_id", "session_id"],
            matches.with_only_columns(literal(job_id, Uuid()), *matches.selected_columns),
        )
    )
    items = BulkJobItem.__table__
    total, users = db.session.execute(
        select(func.count(), func.count(items.c.user_id.distinct())).where(items.c.job_id == job_id)
    ).one()
    job.total, job.users = total, users
    if total == 0:
        job.status, job.finished_at = JobStatus.DONE.value, now
    db.session.flush()
    return job, True


def get_job(job_id: str | uuid.UUID) -> BulkJob | None:
    """A job by its id (None for an unknown or malformed one)."""
    jid = parse_id(job_id)
    return db.session.get(BulkJob, jid) if jid is not None else None


def claim() -> BulkJob | None:
    """The oldest unfinished job no other worker holds, locked until the caller commits."""
    if db.session.get_bind().dialect.name == "sqlite":
        # No row locks: take the database's write lock before reading, so the job's cursor
        # read here is the one this transaction moves (see common.lock_account).
        jobs = BulkJob.__table__
        db.session.execute(update(jobs).where(jobs.c.id.is_(None)).values(id=jobs.c.id))
    return db.session.execute(
        select(BulkJob)
        .where(BulkJob.status.in_(_UNFINISHED))
        .order_by(BulkJob.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def next_items(job: BulkJob, batch_size: int) -> list:
    """The job's next ``batch_size`` items after its cursor, in the order the cursor walks."""
    items = BulkJobItem.__table__
    stmt = select(items.c.user_id, items.c.session_id).where(items.c.job_id == job.id)
    if job.cursor_user_id is not None:
        stmt = stmt.where(
            tuple_(items.c.user_id, items.c.session_id)
            > tuple_(literal(job.cursor_user_id, Uuid()), literal(job.cursor_session_id, Uuid()))
        )
    stmt = stmt.order_by(items.c.user_id, items.c.session_id).limit(batch_size)
    return list(db.session.execute(stmt))


def settle_batch(job: BulkJob, items: list, ended: int, batch_size: int, now: datetime) -> None:
    """Move the job's cursor past a batch that was worked, and finish it after the last one."""
    if items:
        job.cursor_user_id, job.cursor_session_id = items[-1]
    job.done += len(items)
    job.ended += ended
    if len(items) < batch_size:
        job.status, job.finished_at = JobStatus.DONE.value, now
    db.session.flush()


def fail(job: BulkJob, error: Exception, now: datetime) -> None:
    """Stop a job at a batch that failed for a reason other than the database's (a bug)."""
    job.status, job.error, job.finished_at = JobStatus.FAILED.value, repr(error), now
    db.session.flush()


def start(job: BulkJob, now: datetime) -> None:
    """Mark a queued job running, the first time a worker claims it."""
    if job.status == JobStatus.QUEUED.value:
        job.status, job.started_at = JobStatus.RUNNING.value, now
