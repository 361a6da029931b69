"""The background worker's one loop: every kind of due work, in turn, until stopped.

``flask --app wsgi worker`` runs it (``--once``: one round, then exit). Each entry of
``DUE_WORK`` takes ``transaction`` (run a step in a transaction of its own and commit it) and
returns how much it did; it must be safe to run in several workers at once. Adding a kind of
work is one line here, e.g. ``lambda transaction: transaction(bulk_jobs.run_pending)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .alerts.mail import send_due_mail

Transaction = Callable[[Callable[[], Any]], Any]

DUE_WORK: list[Callable[[Transaction], int]] = [
    send_due_mail,  # sign-in alerts from the outbox
]


def run_due(transaction: Transaction) -> int:
    """One round: each kind of due work in turn; returns how many items were handled."""
    return sum(work(transaction) for work in DUE_WORK)
