"""The background worker's one loop: every kind of due work, in turn, until stopped.

``flask --app wsgi worker`` runs it (``--once``: rounds until nothing is due, then exit).
Each entry of ``DUE_WORK`` takes ``transaction`` (run a step in a transaction of its own and
commit it) and the most items to take in one round, and returns how many it handled; it must
be safe to run in several workers at once. Adding a kind of work is one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .alerts.mail import send_due_mail
from .services import operations
from .services.incidents.bulk_jobs import DEFAULT_BATCH
from .ssf.poll import poll_due_events
from .ssf.push import push_due_signals, push_due_stream_events

Transaction = Callable[[Callable[[], Any]], Any]


def bulk_sign_outs(transaction: Transaction, _limit: int, batch_size: int = DEFAULT_BATCH) -> int:
    """One batch of a bulk sign-out job (its sessions per transaction are the job's own batch
    size, not the mail's), in a transaction of its own; 1 when there was one to do. The
    worker's loop calls it, and so does ``flask portal run-jobs``: one loop runs bulk jobs."""
    return int(transaction(lambda: operations.run_bulk_job_batch(batch_size)))


DUE_WORK: list[Callable[[Transaction, int], int]] = [
    send_due_mail,  # sign-in alerts from the outbox
    push_due_signals,  # session-revoked events for the IdP, from the same outbox
    poll_due_events,  # security events a transmitter holds for the portal (RFC 8936)
    push_due_stream_events,  # events of receivers' push streams (RFC 8935)
    bulk_sign_outs,  # sign-outs started from /admin/sign-ins or POST /sign-ins/revoke
]


def run_due(transaction: Transaction, batch_size: int = 20) -> int:
    """One round: each kind of due work in turn; returns how many items were handled."""
    return sum(work(transaction, batch_size) for work in DUE_WORK)
