"""The SETs already taken, by issuer and ``jti``: a replayed one is taken once."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ...extensions import db
from ...models import ReceivedSet
from .events import ReceivedEvent


def set_hash(issuer: str, jti: str) -> str:
    return hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()


def remember(event: ReceivedEvent, now: datetime) -> bool:
    """Record the SET as taken; False when it was taken before (a replay). In a savepoint, so a
    replay leaves the caller's transaction as it was."""
    try:
        with db.session.begin_nested():
            db.session.add(
                ReceivedSet(
                    set_hash=set_hash(event.transmitter, event.jti),
                    issuer=event.transmitter[:2048],
                    jti=event.jti,
                    event_type=event.event_type[:255],
                    state=event.state,
                    issued_at=event.issued_at,
                    received_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def seen(issuer: str, jti: str) -> bool:
    """Whether this SET was taken before (a poll acknowledges it again without applying it)."""
    found = db.session.get(ReceivedSet, set_hash(issuer, jti))
    return found is not None


def forget_before(when: datetime) -> None:
    """Drop the records of SETs issued before ``when``: one that old is refused by its ``iat``."""
    db.session.execute(delete(ReceivedSet).where(ReceivedSet.issued_at < when))


def verified(issuer: str, state: str) -> bool:
    """Whether a verification event carrying ``state`` came from ``issuer``."""
    return (
        db.session.execute(
            select(ReceivedSet.set_hash).where(
                ReceivedSet.issuer == issuer, ReceivedSet.state == state
            )
        ).first()
        is not None
    )
