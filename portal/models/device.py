"""A browser or API client of one user."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .types import UTCDateTime, place_of, utcnow

if TYPE_CHECKING:
    from .session import UserSession
    from .user import User


class TrustLevel(enum.StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    UNKNOWN = "UNKNOWN"


class Device(Model):
    """One browser (recognised by its device cookie) or one API client of a user.

    ``fingerprint`` is the SHA-256 of the device cookie's secret (or of the API client's
    identity); the secret itself is never stored.
    """

    __tablename__ = "devices"
    __table_args__ = (
        # One live device per fingerprint; removed devices keep theirs for the history, and
        # a later sign-in from that browser or client becomes a new device.
        Index(
            "uq_devices_user_fingerprint_live",
            "user_id",
            "fingerprint",
            unique=True,
            sqlite_where=text("removed_at IS NULL"),
            postgresql_where=text("removed_at IS NULL"),
        ),
        Index("ix_devices_user_last_seen", "user_id", "last_seen_at"),
        # The few reported devices, for the sign-in search's "reported" flag.
        Index(
            "ix_devices_reported",
            "reported_suspicious_at",
            sqlite_where=text("reported_suspicious_at IS NOT NULL"),
            postgresql_where=text("reported_suspicious_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    fingerprint: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="browser")  # browser | api_client
    name: Mapped[str] = mapped_column(String(64))
    device_type: Mapped[str] = mapped_column(String(16), default="DESKTOP")
    os_name: Mapped[str | None] = mapped_column(String(64))
    os_version: Mapped[str | None] = mapped_column(String(32))
    browser: Mapped[str | None] = mapped_column(String(64))
    browser_version: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(64))
    app_version: Mapped[str | None] = mapped_column(String(32))
    user_agent: Mapped[str | None] = mapped_column(Text)
    ip_address: Mapped[str | None] = mapped_column(String(45))
    country_code: Mapped[str | None] = mapped_column(String(2))
    country: Mapped[str | None] = mapped_column(String(64))
    city: Mapped[str | None] = mapped_column(String(128))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    is_trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    trust_level: Mapped[str] = mapped_column(String(16), default=TrustLevel.UNKNOWN.value)
    trust_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When its sessions were last ended by anything but its own sign-out: an API client's
    # token authenticated (``auth_time``) before this cannot open a new session.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the owner said "This wasn't me" about it.
    reported_suspicious_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship("User")
    sessions: Mapped[list[UserSession]] = relationship(
        "UserSession",
        back_populates="device",
        order_by="UserSession.created_at.desc()",
        lazy="select",
    )

    def trusted_now(self, now: datetime | None = None) -> bool:
        """Trusted and not past its expiry: expired trust shows and behaves as untrusted."""
        return trust_holds(self.is_trusted, self.trust_expires_at, now)

    def effective_trust_level(self, now: datetime | None = None) -> str:
        """The trust level, or UNKNOWN once trust has lapsed."""
        return shown_trust_level(self.trust_level, self.trusted_now(now))

    @property
    def location(self) -> str | None:
        """ "City, CC" or the country alone, as the pages and token rows show it."""
        return place_of(self)


def shown_trust_level(trust_level: str, trusted: bool) -> str:
    """The level a device shows: its own while trust holds, UNKNOWN once it has lapsed."""
    return trust_level if trusted else TrustLevel.UNKNOWN.value


def trust_holds(is_trusted: bool, expires_at: datetime | None, now: datetime | None = None) -> bool:
    """Whether trust given (``is_trusted``) until ``expires_at`` holds now; for models and for
    plain rows alike."""
    return bool(is_trusted) and (expires_at is None or expires_at > (now or utcnow()))
