"""A sign-in on one device, or one bearer token; ended sessions are the login history."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    and_,
    text,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.orm.base import NO_VALUE

from ..extensions import Model
from .addresses import address_key
from .types import UTCDateTime, place_of, utcnow

if TYPE_CHECKING:
    from .device import Device
    from .user import User


class LoginMethod(enum.StrEnum):
    OIDC = "oidc"
    BEARER = "bearer"


class EndReason(enum.StrEnum):
    SIGNED_OUT = "signed_out"
    REVOKED = "revoked"  # by the user themself
    REVOKED_BY_ADMIN = "revoked_by_admin"
    EXPIRED = "expired"
    DEVICE_REMOVED = "device_removed"
    UNTRUSTED = "untrusted"
    IDP_LOGOUT = "idp_logout"  # the IdP's back-channel logout
    REPORTED = "reported"  # the owner said "This wasn't me"
    DEACTIVATED = "deactivated"  # the account was deactivated (admin, CLI or SCIM)

    @property
    def requires_reauth(self) -> bool:
        """Whether ending a session this way makes the user's next sign-ins give credentials.

        Only a browser's own sign-out and plain expiry do not: every other end means someone
        (the user elsewhere, an admin, the IdP) decided that session must not come back.
        """
        return self not in (EndReason.SIGNED_OUT, EndReason.EXPIRED)


END_REASON_LABELS = {
    EndReason.SIGNED_OUT: "Signed out",
    EndReason.REVOKED: "Revoked by you",
    EndReason.REVOKED_BY_ADMIN: "Revoked by an admin",
    EndReason.EXPIRED: "Expired",
    EndReason.DEVICE_REMOVED: "Device removed",
    EndReason.UNTRUSTED: "Device untrusted",
    EndReason.IDP_LOGOUT: "Signed out at the identity provider",
    EndReason.REPORTED: "Reported as not the user",
    EndReason.DEACTIVATED: "Account deactivated",
}


def _ip_key_default(context: DefaultExecutionContext) -> bytes | None:
    """The key of the address being inserted (ORM and Core inserts alike)."""
    return address_key(context.get_current_parameters().get("ip_address"))


class UserSession(Model):
    """A server-side session: the browser's Flask-Login id, or one bearer token's ``jti``."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_user_ended", "user_id", "ended_at"),
        Index("ix_sessions_device_created", "device_id", "created_at"),
        # A user's sign-in history, newest first (admin page, investigation flags).
        Index("ix_sessions_user_created", "user_id", "created_at"),
        # Open sessions (NULL) and ended ones by age, for the retention prune.
        Index("ix_sessions_ended", "ended_at"),
        # Sign-ins across all users (services.incidents.search): newest first, and each filter that
        # narrows the most answered from an index: an address or CIDR block as a key range,
        # a country, and each investigation flag (partial indexes: few sign-ins raise one).
        Index("ix_sessions_created", "created_at", "id"),
        Index("ix_sessions_ip_key_created", "ip_key", "created_at", "id"),
        Index("ix_sessions_country_created", "country_code", "created_at", "id"),
        Index(
            "ix_sessions_new_country_created",
            "created_at",
            "id",
            postgresql_where=text("(sign_in_flags & 1) != 0"),
            sqlite_where=text("(sign_in_flags & 1) != 0"),
        ),
        Index(
            "ix_sessions_impossible_travel_created",
            "created_at",
            "id",
            postgresql_where=text("(sign_in_flags & 2) != 0"),
            sqlite_where=text("(sign_in_flags & 2) != 0"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    login_method: Mapped[str] = mapped_column(String(16), default=LoginMethod.OIDC.value)
    token_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    # The IdP's session id (the ID token's ``sid``), so back-channel logout can end exactly it.
    idp_sid: Mapped[str | None] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    absolute_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    ended_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    ip_address: Mapped[str | None] = mapped_column(String(45))
    # ``ip_address`` as a sortable key (models.addresses), filled from it on every insert.
    ip_key: Mapped[bytes | None] = mapped_column(LargeBinary(16), default=_ip_key_default)
    country_code: Mapped[str | None] = mapped_column(String(2))
    country: Mapped[str | None] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(128))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # The investigation flags this sign-in raised when it opened (services.devices.flags's
    # SIGN_IN_FLAG_BITS), so lists count them rather than replay histories.
    sign_in_flags: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")

    device: Mapped[Device] = relationship("Device", back_populates="sessions")
    user: Mapped[User] = relationship("User", foreign_keys=[user_id])
    # Who ended it; read only where a query loaded it (``ended_how`` never loads it itself).
    ended_by: Mapped[User | None] = relationship("User", foreign_keys=[ended_by_id], lazy="raise")

    def is_active(self, now: datetime | None = None) -> bool:
        """Not ended and not past its expiry."""
        return self.ended_at is None and self.expires_at > (now or utcnow())

    @classmethod
    def active_at(cls, now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
        """``is_active`` as a SQL condition, for queries."""
        return and_(cls.ended_at.is_(None), cls.expires_at > now)

    @property
    def location(self) -> str | None:
        return place_of(self)

    @property
    def end_label(self) -> str | None:
        """How the session ended, in words; None while it is active."""
        return end_label(self.ended_at, self.end_reason, self.expires_at)

    def ended_how(self, viewer_id: uuid.UUID | None = None) -> str | None:
        """How the session ended, in words true for whoever reads them (``ended_how``); the
        admin's name only when the query loaded ``ended_by``."""
        by = sa_inspect(self).attrs.ended_by.loaded_value
        by_name = by.display_name if by is not NO_VALUE and by is not None else None
        return ended_how(
            self.ended_at, self.end_reason, self.expires_at, self.user_id, viewer_id, by_name
        )


def end_label(
    ended_at: datetime | None, end_reason: str | None, expires_at: datetime
) -> str | None:
    """How a session ended, in words; None while it is active (models and rows alike)."""
    if ended_at is None:
        return "Expired" if expires_at <= utcnow() else None
    if end_reason is None:
        raise ValueError("an ended session has no end reason")
    return END_REASON_LABELS.get(EndReason(end_reason), end_reason)


def ended_how(
    ended_at: datetime | None,
    end_reason: str | None,
    expires_at: datetime,
    owner_id: uuid.UUID,
    viewer_id: uuid.UUID | None,
    ended_by_name: str | None,
) -> str | None:
    """How a session ended, in words true for whoever reads them (``viewer_id``; None for an
    export): the owner reads "Revoked by you" for their own revokes, anyone else "Revoked by
    the user"; an admin's revoke is "Revoked by an admin", with the admin's name
    (``ended_by_name``, when the read has it) for readers other than the owner."""
    if ended_at is None or end_reason not in (EndReason.REVOKED, EndReason.REVOKED_BY_ADMIN):
        return end_label(ended_at, end_reason, expires_at)
    owner_reads = viewer_id is not None and viewer_id == owner_id
    if end_reason == EndReason.REVOKED:
        return "Revoked by you" if owner_reads else "Revoked by the user"
    if ended_by_name is not None and not owner_reads:
        return f"Revoked by an admin, {ended_by_name}"
    return "Revoked by an admin"
