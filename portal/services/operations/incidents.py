"""An admin's audited looks (a user's devices, a CSV export, a search of every user's
sign-ins) and the bulk sign-out of what a search matched."""

from __future__ import annotations

import uuid

from ...models import User
from .. import bulk_jobs, sign_ins
from ..audit import Actions
from .actor import Actor


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


def search_sign_ins(actor: Actor, f: sign_ins.SignInFilter, *, page: int | None = None) -> None:
    """Audit a search of every user's sign-ins: who searched for what (each page is a look)."""
    actor.record(Actions.SEARCH_SIGN_INS, None, filters=f.as_dict(), page=page, via=actor.via)


def start_bulk_sign_out(
    actor: Actor, f: sign_ins.SignInFilter, *, idempotency_key: str | None = None
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
