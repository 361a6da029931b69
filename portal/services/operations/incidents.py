"""An admin's audited looks (a user's devices, a CSV export, a search of every user's
sign-ins) and the bulk sign-out of what a search matched."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy.exc import DBAPIError

from ... import logs
from ...extensions import db
from ...models import BulkJob, User, utcnow
from ..audit.record import Actions
from ..incidents import bulk_jobs, search
from .actor import Actor
from .sessions import revoke_sessions

log = logging.getLogger(__name__)


def view_user_devices(actor: Actor, target: User | uuid.UUID) -> None:
    """Audit an admin looking at someone else's devices (looking at your own is not audited)."""
    if not actor.owns(target.id if isinstance(target, User) else target):
        actor.record(Actions.VIEW_USER_DEVICES, target, via=actor.via)


def export_csv(
    actor: Actor,
    export: str,
    *,
    target: User | uuid.UUID | None = None,
    filters: dict | None = None,
) -> None:
    """Audit a CSV export (of a user's devices, or of the audit log) before it is made."""
    actor.record(Actions.EXPORT_CSV, target, export=export, filters=filters)


def search_sign_ins(actor: Actor, f: search.SignInFilter, *, page: int | None = None) -> None:
    """Audit a search of every user's sign-ins: who searched for what (each page is a look)."""
    actor.record(Actions.SEARCH_SIGN_INS, None, filters=f.as_dict(), page=page, via=actor.via)


def start_bulk_sign_out(
    actor: Actor, f: search.SignInFilter, *, idempotency_key: str | None = None
) -> tuple[bulk_jobs.BulkJob, bool]:
    """Queue the sign-out of every active session matching ``f`` now (the background worker
    ends them, each as ``revoke_session`` would); audited once, here, with the filter and how
    many sessions of how many users. A repeated ``idempotency_key`` of the same actor answers
    with the first job (and False), audited once."""
    job, created = bulk_jobs.create_sign_out_job(
        f,
        created_by_id=actor.user_id,
        actor_label=actor.name,
        actor_ip=actor.ip_address,
        via=actor.via,
        idempotency_key=idempotency_key,
    )
    if created:
        actor.record(
            Actions.BULK_SIGN_OUT,
            None,
            job_id=str(job.id),
            filters=f.as_dict(),
            sessions=job.total,
            users=job.users,
            via=actor.via,
        )
    return job, created


def run_bulk_job_batch(
    batch_size: int = bulk_jobs.DEFAULT_BATCH, now: datetime | None = None
) -> bool:
    """Do one batch of one unfinished bulk job in the caller's transaction; False when there
    was no job to work on. The caller commits after each call (one short transaction a batch);
    the worker's loop and ``flask portal run-jobs`` both call it through
    ``worker.bulk_sign_outs``."""
    job = bulk_jobs.claim()
    if job is None:
        return False
    with logs.job("bulk-sign-out", job.id):  # this batch's lines carry the job's id
        _run_batch(job, batch_size, now or utcnow())
    return True


def _run_batch(job: BulkJob, batch_size: int, now: datetime) -> None:
    """One batch of ``job``: its next sessions ended, and its progress settled."""
    bulk_jobs.start(job, now)
    items = bulk_jobs.next_items(job, batch_size)
    creator = db.session.get(User, job.created_by_id) if job.created_by_id else None
    actor = Actor(creator, None, job.actor_ip, via=job.via, label=job.actor_label)
    try:
        with db.session.begin_nested():
            # Those still open end as an admin's single revoke ends each of them.
            ended = revoke_sessions(actor, [tuple(i) for i in items])
    except DBAPIError:
        raise  # the database itself failed: the next call tries this batch again
    except Exception as exc:  # a bug, not an outage: stop here rather than loop on it
        log.exception("bulk job %s failed", job.id)
        bulk_jobs.fail(job, exc, now)
        return
    bulk_jobs.settle_batch(job, items, ended, batch_size, now)
