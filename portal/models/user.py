"""People and the permissions granted to them locally."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model
from .types import UTCDateTime, utcnow


def display_name(user: Named) -> str:
    """What pages call a person, from anything with a user's name columns (a ``User``, or a
    read row of one): the name, else the email, the subject, the SCIM userName, the id."""
    return user.name or user.email or user.subject or user.scim_user_name or str(user.id)


class Named(Protocol):
    """A ``User``, or a read row of its name columns."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def name(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def subject(self) -> str | None: ...
    @property
    def scim_user_name(self) -> str | None: ...


# The users SCIM sees: provisioned (or adopted) and not deleted over SCIM.
SCIM_VISIBLE = "scim_user_name_key IS NOT NULL AND scim_deleted_at IS NULL"


class User(Model):
    """A person, known by (issuer, subject) from the identity provider.

    A user provisioned over SCIM before their first sign-in has neither yet: that sign-in
    links them (by email, or by a subject equal to the SCIM ``externalId``) and fills both in.
    """

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("issuer", "subject", name="uq_users_issuer_subject"),
        Index("ix_users_last_seen_at", "last_seen_at"),
        Index("ix_users_scim_user_name_key", "scim_user_name_key", unique=True),
        Index("ix_users_scim_external_id", "scim_external_id"),
        # Two users SCIM sees never share an externalId or an email: the first sign-in links
        # to exactly one (``users.identity``).
        Index(
            "uq_users_scim_external_id",
            "scim_external_id",
            unique=True,
            sqlite_where=text(SCIM_VISIBLE),
            postgresql_where=text(SCIM_VISIBLE),
        ),
        Index(
            "uq_users_scim_email",
            "scim_email",
            unique=True,
            sqlite_where=text(SCIM_VISIBLE),
            postgresql_where=text(SCIM_VISIBLE),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    issuer: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Denormalised from the newest session so user lists need no per-row queries.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_ip: Mapped[str | None] = mapped_column(String(45))
    last_country_code: Mapped[str | None] = mapped_column(String(2))
    last_city: Mapped[str | None] = mapped_column(String(128))
    # Set whenever one of the user's sessions is ended by anything but that browser's own
    # sign-out: a sign-in whose IdP authentication (``auth_time``) is older must give
    # credentials again, so a revoked browser cannot ride the IdP's single sign-on back in.
    reauth_required_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set while the account is deactivated (by an admin, the CLI or SCIM): no session, token or
    # sign-in works until it is reactivated.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the identity provider's SCIM client knows this user as; None for users it never
    # provisioned. ``scim_user_name_key`` is the userName folded to lower case: SCIM compares
    # userName case-insensitively, and two users may not share it.
    scim_user_name: Mapped[str | None] = mapped_column(String(320))
    scim_user_name_key: Mapped[str | None] = mapped_column(String(320))
    scim_external_id: Mapped[str | None] = mapped_column(String(255))
    scim_modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The email SCIM gave the user (the primary one, lower case): unique among the users SCIM
    # sees, so a first sign-in by email links to one of them. ``email`` is the portal's own copy,
    # which sign-ins refresh from the ID token.
    scim_email: Mapped[str | None] = mapped_column(String(320))
    # The rest of the SCIM User resource as the IdP sent it (RFC 7643 4.1 and the enterprise
    # extension), kept to be returned as sent; userName, externalId and active live in their
    # columns, and never the password. None for users SCIM never wrote.
    scim_resource: Mapped[dict | None] = mapped_column(JSON)
    # A SCIM DELETE: the user is deactivated and no longer shown to SCIM (rows stay for history).
    scim_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Which sign-ins are mailed to the user (services.outbox.alerts.AlertMode); None: the instance's
    # default (PORTAL_ALERTS_DEFAULT).
    alert_mode: Mapped[str | None] = mapped_column(String(16))
    # Moves whenever anything the polled device and session lists show of this user changes
    # (``services.devices.versions``), so a poll can be answered 304 without reading the lists.
    device_set_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    grants: Mapped[list[Grant]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="select"
    )

    @property
    def display_name(self) -> str:
        """What pages call this person."""
        return display_name(self)

    @property
    def is_deactivated(self) -> bool:
        return self.deactivated_at is not None

    def __repr__(self) -> str:
        return f"<User {self.email or self.subject}>"


class Grant(Model):
    """A permission given to a user locally with the ``flask portal grant`` command."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("user_id", "permission", name="uq_grants_user_permission"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    permission: Mapped[str] = mapped_column(String(64))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_by: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship(back_populates="grants")
