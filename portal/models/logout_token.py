"""Back-channel logout tokens already accepted, so a replayed one is refused."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model
from .types import UTCDateTime, utcnow


class SeenLogoutToken(Model):
    """One accepted logout token, by the SHA-256 of its issuer and ``jti``.

    The primary key makes a replay fail on insert, even when two copies race in parallel.
    Rows older than the token's acceptance window can be deleted: a token that old is refused
    by its ``iat`` anyway.
    """

    __tablename__ = "seen_logout_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
