"""The outbox: messages written in the transaction that caused them, claimed and sent by workers.

Two kinds share it: sign-in alert mail (``outbox.alerts.KIND``, sent over SMTP by
``alerts.mail``) and the IdP's session-revoked events (``outbox.signals.KIND``, pushed by
``ssf.push``); each sender claims only its own kind, by the same rules.

A worker claims due rows in a short transaction of its own, moving each row's
``next_attempt_at`` forward by a lease (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so parallel
workers claim different rows; SQLite: the claim takes the database's write lock first, one
writer at a time). It sends after that transaction committed and records the outcome in
another. A worker that dies half-way only delays its rows until the lease runs out; a row is
never left "being sent" for ever.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from ... import metrics
from ...extensions import db
from ...models import OutboxMessage, OutboxStatus, utcnow

# A claimed row is left alone this long; longer than any one send may take (SMTP timeouts).
LEASE = timedelta(minutes=5)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
# Attempts before a mail that never got through is given up (about a day of retries).
MAX_ATTEMPTS = 30


@dataclass(frozen=True)
class Claimed:
    """A claimed message, as plain values the sender reads outside the transaction."""

    id: uuid.UUID
    message_id: str
    kind: str
    recipient: str
    payload: dict
    attempts: int


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt: doubling, at most an hour."""
    return min(FIRST_RETRY * 2 ** max(0, attempts - 1), LONGEST_WAIT)


def _take_write_lock() -> None:
    """SQLite: claim as the one writer (a write that changes nothing takes the lock now)."""
    table = OutboxMessage.__table__
    db.session.execute(update(table).where(table.c.id.is_(None)).values(id=table.c.id))


def claim_due(
    limit: int = 20,
    now: datetime | None = None,
    lease: timedelta = LEASE,
    *,
    kinds: tuple[str, ...],
) -> list[Claimed]:
    """Claim up to ``limit`` due messages of ``kinds`` for this worker; the caller commits
    the claim."""
    now = now or utcnow()
    if db.session.get_bind().dialect.name == "sqlite":
        _take_write_lock()
    rows = list(
        db.session.execute(
            select(OutboxMessage)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.next_attempt_at <= now,
                OutboxMessage.kind.in_(kinds),
            )
            .order_by(OutboxMessage.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    claimed: list[Claimed] = []
    for row in rows:
        row.attempts += 1
        row.next_attempt_at = now + lease
        claimed.append(
            Claimed(
                row.id, row.message_id, row.kind, row.recipient, dict(row.payload), row.attempts
            )
        )
    db.session.flush()
    return claimed


def _settle(message_id: uuid.UUID, attempts: int, **values: Any) -> bool:
    """Record an attempt's outcome, unless another worker claimed the row since (a lease that
    ran out): then that worker's attempt decides."""
    # An UPDATE's result is a cursor result (with its row count); execute() does not say so.
    result = cast(
        CursorResult[Any],
        db.session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.attempts == attempts,
                OutboxMessage.status == OutboxStatus.PENDING.value,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    )
    return bool(result.rowcount)


def mark_sent(claimed: Claimed, subject: str, now: datetime | None = None) -> bool:
    return _settle(
        claimed.id,
        claimed.attempts,
        status=OutboxStatus.SENT.value,
        subject=subject,
        sent_at=now or utcnow(),
        last_error=None,
    )


def mark_failed(claimed: Claimed, error: str, now: datetime | None = None) -> bool:
    """A permanent failure (a mail server's 5xx, an event receiver's 4xx): kept with its
    answer, not retried."""
    settled = _settle(
        claimed.id,
        claimed.attempts,
        status=OutboxStatus.FAILED.value,
        last_error=error[:2000],
        next_attempt_at=now or utcnow(),
    )
    if settled:
        metrics.outbox_given_up(claimed.kind)
    return settled


def retry_later(claimed: Claimed, error: str, now: datetime | None = None) -> bool:
    """A failure that may pass (server down, timeout, a mail server's 4xx, a receiver's 5xx):
    try again after the backoff, or give up after ``MAX_ATTEMPTS``."""
    now = now or utcnow()
    if claimed.attempts >= MAX_ATTEMPTS:
        return mark_failed(claimed, f"gave up after {claimed.attempts} attempts: {error}", now)
    return _settle(
        claimed.id,
        claimed.attempts,
        last_error=error[:2000],
        next_attempt_at=now + backoff(claimed.attempts),
    )
