"""A personal API token: a secret a user made on the tokens page, kept only as its hash."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .types import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .session import UserSession
    from .user import User


class PersonalToken(Model):
    """One personal token and the session it stands for.

    The token is that session (of its own "API client" device): ending the session anywhere
    (the tokens page, a revoke through the API, an admin) ends the token. Only the SHA-256 of
    the secret is kept; the secret carries 256 bits of randomness, so a fast hash is enough.
    """

    __tablename__ = "personal_tokens"
    __table_args__ = (
        # Two tokens of a user that have not ended never share a name (a revoked or expired
        # one's name may be used again once it ended: ``services.tokens.name_taken``).
        Index(
            "ux_personal_tokens_user_name_open",
            "user_id",
            "name",
            unique=True,
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(64))
    # Hex SHA-256 of the whole secret (``dpt_...``): each request finds its token by it.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The secret's first characters, so its owner can tell tokens apart.
    hint: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_ip: Mapped[str | None] = mapped_column(String(45))
    last_used_user_agent: Mapped[str | None] = mapped_column(Text)
    # When its session ended (revoked, expired, its device removed...): a copy of
    # ``sessions.ended_at`` that the database's trigger ``personal_tokens_ended`` (migration
    # 0016) writes whenever that changes, however it ended, for the index on open names.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Addresses it was used from (bounded), so a use from a new one is audited once.
    seen_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)

    session: Mapped[UserSession] = relationship("UserSession")
    user: Mapped[User] = relationship("User")
