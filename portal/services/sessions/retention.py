"""Retention: end the sessions that ran out unseen, delete login history older than the policy.

``flask --app wsgi portal prune`` calls these from cron, on any instance, while the portal
serves. Each call handles one batch and flushes; the command commits after every batch, so no
transaction holds many rows for long. The rows of a batch are held while it runs: on
PostgreSQL with ``FOR UPDATE SKIP LOCKED`` (a session a request is changing right now is left
for the next batch or run, and the prune never waits on a request nor a request long on the
prune; two prunes at once share the work), on SQLite by taking its one write lock first.

Kept: the audit log (its rows name sessions by plain id, without a foreign key, so they outlive
them), devices and users. A device is the browser or API client itself: its name, its trust,
its removal and its revocation mark must outlive its history, or a removed device could come
back; it stays listed, with no sessions, and a devices row is small.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, delete, or_, select, update

from ... import metrics
from ...extensions import db
from ...models import EndReason, LoginMethod, User, UserSession
from ..devices import versions
from .policy import SessionPolicy

BATCH_SIZE = 1000

_sessions = UserSession.__table__


def _held(query: Select) -> Select:
    """``query``'s rows, held until the transaction ends (see the module's docstring)."""
    if db.session.get_bind().dialect.name == "sqlite":
        # A write that changes nothing: SQLite's write lock, so what is read next stays true.
        db.session.execute(
            update(_sessions).where(_sessions.c.id.is_(None)).values(id=_sessions.c.id)
        )
        return query
    return query.with_for_update(skip_locked=True)


def history_cutoff(now: datetime, days: int) -> datetime:
    """Sessions that ended before this are past the history the portal keeps."""
    return now - timedelta(days=days)


def expire_sessions(policy: SessionPolicy, *, now: datetime, limit: int = BATCH_SIZE) -> int:
    """End up to ``limit`` sessions that are over but still open, as ``expired``; how many.

    Over means what ``sessions.ending.check_and_touch`` decides on a session's next use: past its
    expiry, or a browser's idle past the idle timeout. Ending it needs no re-authentication
    (as on its next use). It ends at the moment it ran out, not at the time of the prune, so
    its history reads true and its retention counts from then.

    A browser session ended for idleness before its expiry was still listed as active, so its
    user's device set changes (``devices.versions``): that user's row is taken too, without waiting
    (``SKIP LOCKED``: the prune already holds session rows, and a request holding the user's
    row may be waiting for one of them), and a session whose user is busy is left for the next
    run. A session past its expiry was listed nowhere any more: it just ends.
    """
    idle_since = now - policy.idle_timeout
    browser = LoginMethod.OIDC.value
    rows = db.session.execute(
        _held(
            select(
                _sessions.c.id,
                _sessions.c.user_id,
                _sessions.c.login_method,
                _sessions.c.expires_at,
                _sessions.c.last_used_at,
            )
            .where(
                _sessions.c.ended_at.is_(None),
                or_(
                    _sessions.c.expires_at <= now,
                    (_sessions.c.login_method == browser)
                    & (_sessions.c.last_used_at <= idle_since),
                ),
            )
            .order_by(_sessions.c.expires_at)
            .limit(limit)
        )
    ).all()
    if not rows:
        return 0
    listed = {row.user_id for row in rows if row.expires_at > now}  # ended while idle
    held = _users_held(listed)
    ended = []
    for row in rows:
        if row.expires_at > now and row.user_id not in held:
            continue
        ran_out = row.expires_at
        if row.login_method == browser:
            ran_out = min(ran_out, row.last_used_at + policy.idle_timeout)
        ended.append({"_id": row.id, "_ended_at": ran_out})
    if not ended:
        return 0
    versions.bump(held)
    db.session.execute(
        update(_sessions)
        .where(_sessions.c.id == bindparam("_id"), _sessions.c.ended_at.is_(None))
        .values(ended_at=bindparam("_ended_at"), end_reason=EndReason.EXPIRED.value),
        ended,
    )
    db.session.flush()
    metrics.sessions_ended(EndReason.EXPIRED.value, len(ended))
    return len(ended)


def _users_held(user_ids: set) -> set:
    """Of these users, those whose rows this transaction now holds (all of them on SQLite,
    whose write lock the batch holds already)."""
    if not user_ids or db.session.get_bind().dialect.name == "sqlite":
        return user_ids
    users = User.__table__
    return set(
        db.session.execute(
            select(users.c.id)
            .where(users.c.id.in_(sorted(user_ids)))
            .order_by(users.c.id)
            .with_for_update(skip_locked=True)
        ).scalars()
    )


def delete_ended_sessions(*, before: datetime, limit: int = BATCH_SIZE) -> int:
    """Delete up to ``limit`` sessions that ended before ``before``, oldest first; how many."""
    ids = list(
        db.session.execute(
            _held(
                select(_sessions.c.id)
                .where(_sessions.c.ended_at < before)
                .order_by(_sessions.c.ended_at)
                .limit(limit)
            )
        ).scalars()
    )
    if ids:
        # A personal token is its session: its foreign key takes it along (both databases
        # enforce foreign keys).
        db.session.execute(delete(_sessions).where(_sessions.c.id.in_(ids)))
        db.session.flush()
    return len(ids)
