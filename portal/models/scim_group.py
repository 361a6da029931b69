"""Groups the identity provider pushes over SCIM, and who is in them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model
from .types import UTCDateTime, utcnow


class ScimGroup(Model):
    """A group as the IdP's SCIM client made it (Okta's "Push Groups", Entra's group
    provisioning). Its ``display_name`` is the name ``PORTAL_GROUP_PERMISSIONS`` maps to
    permissions.

    A SCIM DELETE keeps the row (``deleted_at`` set, its members gone, its name free for
    another group): that groups were ever pushed stays known, so deleting the last group never
    hands its former members back the groups of their last ID token.
    """

    __tablename__ = "scim_groups"
    __table_args__ = (
        # displayName folded to lower case, unique among the groups SCIM sees; None once
        # deleted, so a new group may take the name.
        Index("ix_scim_groups_display_name_key", "display_name_key", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    display_name: Mapped[str] = mapped_column(String(255))
    display_name_key: Mapped[str | None] = mapped_column(String(255))
    external_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScimGroupMember(Model):
    """One user in one SCIM group."""

    __tablename__ = "scim_group_members"
    __table_args__ = (Index("ix_scim_group_members_user_id", "user_id"),)

    group_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("scim_groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # The member's ``display`` as the IdP sent it (Okta sends the login); None: the user's name.
    display: Mapped[str | None] = mapped_column(String(255))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
