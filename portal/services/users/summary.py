"""Users as every read shows them: one user's summary (``UserSummary``), whether a user
exists, and the model for a change.

A user is read as one typed row, ``UserSummary``, built by one Core statement
(``summary_select``): the search page's lines (``users.search``), the user page's header,
whoever shows a user; a row that names a user (an audit event's actor) holds a ``UserRef``
(``ref_columns``). The ``User`` model is for changes (``get_user``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, FromClause, Label, Row, Select, bindparam, select

from ...extensions import db
from ...models import User
from ...models.types import place_name
from ...models.user import display_name
from ..common import parse_id
from .groups import effective_groups, scim_groups_column


def like_pattern(text: str) -> str:
    """A case-insensitive substring pattern with LIKE's wildcards escaped (escape char ``\\``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# -- one user, as every read shows them ------------------------------------------------------

USERS = User.__table__

SUMMARY_COLUMNS = (
    USERS.c.id,
    USERS.c.issuer,
    USERS.c.subject,
    USERS.c.email,
    USERS.c.name,
    USERS.c.groups,
    USERS.c.created_at,
    USERS.c.last_seen_at,
    USERS.c.last_ip,
    USERS.c.last_country_code,
    USERS.c.last_city,
    USERS.c.deactivated_at,
    USERS.c.scim_user_name,
    USERS.c.scim_external_id,
    USERS.c.scim_deleted_at,
)
_WIDTH = len(SUMMARY_COLUMNS)


ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@dataclass(frozen=True, slots=True)
class ProvisionedProfile:
    """Who the IdP says a provisioned person is at work, from the SCIM resource it sent: what
    an investigating admin reads beside the devices."""

    title: str | None = None
    department: str | None = None
    division: str | None = None
    organization: str | None = None
    employee_number: str | None = None
    cost_center: str | None = None
    manager: str | None = None  # the manager's name when the portal knows them, else their id

    @classmethod
    def of(cls, resource: Mapping[str, Any] | None) -> ProvisionedProfile | None:
        """From the resource as kept (``User.scim_resource``); None when it says none of it."""
        if not resource:
            return None
        work = resource.get(ENTERPRISE_SCHEMA)
        work = work if isinstance(work, Mapping) else {}
        manager = work.get("manager")
        if isinstance(manager, Mapping):
            manager = manager.get("displayName") or manager.get("value")

        def text(value: object) -> str | None:
            return value if isinstance(value, str) and value.strip() else None

        profile = cls(
            title=text(resource.get("title")),
            department=text(work.get("department")),
            division=text(work.get("division")),
            organization=text(work.get("organization")),
            employee_number=text(work.get("employeeNumber")),
            cost_center=text(work.get("costCenter")),
            manager=text(manager),
        )
        return profile if profile != cls() else None


@dataclass(frozen=True, slots=True)
class UserSummary:
    """A user as pages and JSON routes read them: who (and how the IdP and SCIM know them),
    their groups at the last sign-in, when and where they were last seen, whether the account
    is deactivated. Read by ``summary_select``; never a model.

    ``scim_groups``: the groups SCIM put them in when SCIM decides their groups
    (``users.groups``), else None; ``provisioned``: who the IdP says they are at work (SCIM's
    title and enterprise attributes), else None; both read by ``user_summary`` alone (one
    user's page).
    """

    id: uuid.UUID
    issuer: str | None
    subject: str | None
    email: str | None
    name: str | None
    groups: list[str] | None
    created_at: datetime | None
    last_seen_at: datetime | None
    last_ip: str | None
    last_country_code: str | None
    last_city: str | None
    deactivated_at: datetime | None
    scim_user_name: str | None
    scim_external_id: str | None
    scim_deleted_at: datetime | None
    scim_groups: list[str] | None = None
    provisioned: ProvisionedProfile | None = None

    @classmethod
    def of(cls, row: Row[Any]) -> UserSummary:
        """From a row of ``summary_select`` (its first columns)."""
        return cls(*row[:_WIDTH])

    @property
    def permission_groups(self) -> list[str]:
        """The groups their permissions come from: SCIM's when it decides, else the token's."""
        return self.scim_groups if self.scim_groups is not None else list(self.groups or [])

    @property
    def display_name(self) -> str:
        """What pages call this person (as ``User.display_name``)."""
        return display_name(self)

    @property
    def is_deactivated(self) -> bool:
        return self.deactivated_at is not None

    @property
    def last_location(self) -> str | None:
        return place_name(self.last_city, self.last_country_code)


def summary_select(*more: ColumnElement[Any]) -> Select[Any]:
    """The one statement users are read with: ``SUMMARY_COLUMNS`` (then ``more``), from the
    users table; callers add their joins, conditions and order."""
    return select(*SUMMARY_COLUMNS, *more).select_from(USERS)


@dataclass(frozen=True, slots=True)
class UserRef:
    """A user as another row names them (an audit event's actor or target): the id, and what
    to call them now. ``UserSummary`` is the user's own row."""

    id: uuid.UUID
    email: str | None
    name: str | None
    subject: str | None
    scim_user_name: str | None

    @property
    def display_name(self) -> str:
        """What pages call this person (as ``User.display_name``)."""
        return display_name(self)


def ref_columns(users: FromClause, prefix: str) -> tuple[Label[Any], ...]:
    """The columns of a ``UserRef`` from ``users`` (the table or an alias of it), labelled
    with ``prefix`` apart from the naming row's own."""
    return (
        users.c.id.label(f"{prefix}_id"),
        users.c.email.label(f"{prefix}_email"),
        users.c.name.label(f"{prefix}_name"),
        users.c.subject.label(f"{prefix}_subject"),
        users.c.scim_user_name.label(f"{prefix}_scim_user_name"),
    )


_SUMMARY_BY_ID = summary_select(scim_groups_column(USERS.c.id), USERS.c.scim_resource).where(
    USERS.c.id == bindparam("user_id")
)


def user_summary(user_id: str | uuid.UUID) -> UserSummary | None:
    """The user with that id, with the groups SCIM gave them, or None (also for a malformed
    id): one indexed Core read."""
    uid = parse_id(user_id)
    if uid is None:
        return None
    row = db.session.connection().execute(_SUMMARY_BY_ID, {"user_id": uid}).first()
    if row is None:
        return None
    scim, resource = row[_WIDTH], row[_WIDTH + 1]
    scim_groups = effective_groups([], scim) if scim is not None else None
    return replace(
        UserSummary.of(row), scim_groups=scim_groups, provisioned=ProvisionedProfile.of(resource)
    )


_USER_EXISTS = select(USERS.c.id).where(USERS.c.id == bindparam("user_id"))


def user_exists(user_id: uuid.UUID) -> bool:
    """Whether anybody has that id: one indexed read, no model (the API's read routes need
    no more of the user they name)."""
    found = db.session.connection().execute(_USER_EXISTS, {"user_id": user_id}).first()
    return found is not None


def get_user(user_id: str | uuid.UUID) -> User | None:
    """The user with that id, or None (also for a malformed id)."""
    uid = parse_id(user_id)
    return db.session.get(User, uid) if uid else None
