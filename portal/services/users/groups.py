"""Groups as the identity provider's SCIM client pushes them, and the groups a user's
permissions come from.

A group's ``displayName`` is the name ``PORTAL_GROUP_PERMISSIONS`` maps to permissions. Once
the IdP pushes groups (any group was ever created over SCIM), a user SCIM provisions takes
their groups from SCIM alone: their ID token's groups no longer count, so taking them out of
a group takes its permissions away on their next request, on every instance. Everybody else
(users SCIM never provisioned, or deleted) keeps the groups of their last ID token or access
token. Every request reads this with its caller in one statement (``scim_groups_column``).

Nothing here audits or commits (``operations`` does the one, the request the other).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import QueryableAttribute

from ...extensions import db
from ...models import ScimGroup, ScimGroupMember, User, utcnow
from ...models.types import bounded_length, fit, without_control_characters
from .. import common
from ..errors import Conflict, Invalid


def visible_user() -> ColumnElement[bool]:
    """The users SCIM sees (``users.provisioning.visible``, which this module cannot import:
    the caller's statement in ``sessions.policy`` reads this module's column)."""
    return (User.scim_user_name_key.is_not(None)) & (User.scim_deleted_at.is_(None))


# Group names joined into one column of the caller's row; a displayName holds no control
# character, so none can contain it.
SEPARATOR = "\n"


class InvalidGroup(Invalid):
    """A group the IdP sent that cannot be stored (a name too long, an unknown member...)."""


class GroupNameTaken(Conflict):
    """Another group SCIM sees has this displayName (compared case-insensitively)."""

    default_message = "Another group has this displayName"


@dataclass(frozen=True)
class GroupFields:
    """What the IdP says about a group: its name, externalId and members (user ids as sent);
    ``member_displays``, the ``display`` the IdP sent with each member id, if any."""

    display_name: str
    external_id: str | None
    member_ids: list[str]
    member_displays: dict[str, str | None] = field(default_factory=dict)


class Member(NamedTuple):
    """A member as a group's resource shows them."""

    user_id: uuid.UUID
    display: str | None


class Membership(NamedTuple):
    """A group as a user's ``groups`` attribute and the admin page show it."""

    group_id: uuid.UUID
    display_name: str


def name_key(display_name: str) -> str:
    return display_name.lower()


def _text(
    attribute: QueryableAttribute[Any], value: object, what: str, *, required: bool
) -> str | None:
    if value is None and not required:
        return None
    text = value.strip() if isinstance(value, str) else ""
    if (
        not text
        or len(text) > bounded_length(attribute)
        or without_control_characters(text) != text
    ):
        limit = bounded_length(attribute)
        raise InvalidGroup(f"{what} must be 1 to {limit} printable characters")
    return text


def _display(value: str | None) -> str | None:
    """A member's ``display`` as kept: printable, cut to its column (it only labels)."""
    if not value:
        return None
    return fit(ScimGroupMember.display, without_control_characters(value).strip()) or None


def _member_keys(fields: GroupFields) -> dict[uuid.UUID, str | None]:
    """The users the members name (each one SCIM sees) with the display sent for each;
    ``InvalidGroup`` names the first that is not a user SCIM sees (an unknown id, a group, a
    user SCIM deleted)."""
    member_ids = fields.member_ids
    keys: dict[uuid.UUID, str] = {}
    for raw in member_ids:
        key = common.parse_id(raw) if isinstance(raw, str) else None
        if key is None:
            raise InvalidGroup(f"members: {raw!r} is not the id of a user")
        keys[key] = raw
    if not keys:
        return {}
    known = set(
        db.session.execute(select(User.id).where(User.id.in_(keys), visible_user())).scalars()
    )
    for key, raw in keys.items():
        if key not in known:
            raise InvalidGroup(f"members: there is no user {raw!r}")
    return {key: _display(fields.member_displays.get(raw)) for key, raw in keys.items()}


def checked(fields: GroupFields) -> tuple[str, str | None, dict[uuid.UUID, str | None]]:
    """The name, externalId and member ids as stored, or ``InvalidGroup``."""
    name = _text(ScimGroup.display_name, fields.display_name, "displayName", required=True)
    external_id = _text(ScimGroup.external_id, fields.external_id, "externalId", required=False)
    assert name is not None
    return name, external_id, _member_keys(fields)


def visible() -> ColumnElement[bool]:
    """The groups SCIM sees: those not deleted."""
    return ScimGroup.deleted_at.is_(None)


def get_visible(group_id: str | uuid.UUID, *, lock: bool = False) -> ScimGroup | None:
    """A group SCIM sees, by id; None when unknown, malformed or deleted. With ``lock``, the
    group's row is locked until commit first (a no-op UPDATE: a row lock on PostgreSQL, the
    write lock on SQLite), so two changes of one group's members apply one after the other."""
    key = common.parse_id(group_id)
    if key is None:
        return None
    if lock:
        db.session.execute(
            update(ScimGroup)
            .where(ScimGroup.id == key)
            .values(modified_at=ScimGroup.modified_at)
            .execution_options(synchronize_session=False)
        )
    return db.session.execute(
        select(ScimGroup)
        .where(ScimGroup.id == key, visible())
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def search(
    condition: ColumnElement[bool], *, offset: int, limit: int
) -> tuple[int, list[ScimGroup]]:
    """The visible groups matching ``condition``: how many, and one page in creation order."""
    where = visible() & condition
    total = db.session.execute(
        select(func.count()).select_from(ScimGroup).where(where)
    ).scalar_one()
    if limit <= 0:
        return total, []
    page = db.session.execute(
        select(ScimGroup)
        .where(where)
        .order_by(ScimGroup.created_at, ScimGroup.id)
        .offset(offset)
        .limit(limit)
    ).scalars()
    return total, list(page)


def members_of(group_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Member]]:
    """The members SCIM sees of each group, in one statement; each one's display is the one
    the IdP sent, else the user's name."""
    ids = list(group_ids)
    found: dict[uuid.UUID, list[Member]] = {key: [] for key in ids}
    if not ids:
        return found
    rows = db.session.execute(
        select(
            ScimGroupMember.group_id,
            User.id,
            func.coalesce(ScimGroupMember.display, User.name, User.scim_user_name, User.email),
        )
        .join(User, User.id == ScimGroupMember.user_id)
        .where(ScimGroupMember.group_id.in_(ids), visible_user())
        .order_by(ScimGroupMember.group_id, User.id)
    )
    for group_id, user_id, display in rows:
        found[group_id].append(Member(user_id, display))
    return found


def groups_of(user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[Membership]]:
    """The groups SCIM put each user in, by name, in one statement."""
    ids = list(user_ids)
    found: dict[uuid.UUID, list[Membership]] = {key: [] for key in ids}
    if not ids:
        return found
    rows = db.session.execute(
        select(ScimGroupMember.user_id, ScimGroup.id, ScimGroup.display_name)
        .join(ScimGroup, ScimGroup.id == ScimGroupMember.group_id)
        .where(ScimGroupMember.user_id.in_(ids), visible())
        .order_by(ScimGroupMember.user_id, ScimGroup.display_name)
    )
    for user_id, group_id, name in rows:
        found[user_id].append(Membership(group_id, name))
    return found


def _flush_name(name: str) -> None:
    try:
        with db.session.begin_nested():  # a parallel request may take the name first
            db.session.flush()
    except IntegrityError:
        raise GroupNameTaken(f"Another group is called {name!r}") from None


def _set_members(
    group_id: uuid.UUID, wanted: dict[uuid.UUID, str | None], now: datetime
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Make the group's members exactly ``wanted`` (with their displays); the users added and
    those removed."""
    rows = db.session.execute(
        select(ScimGroupMember.user_id, ScimGroupMember.display).where(
            ScimGroupMember.group_id == group_id
        )
    )
    current = {user_id: display for user_id, display in rows}
    added = sorted(set(wanted) - set(current))
    removed = sorted(set(current) - set(wanted))
    for user_id in set(wanted) & set(current):
        if wanted[user_id] != current[user_id]:
            db.session.execute(
                update(ScimGroupMember)
                .where(ScimGroupMember.group_id == group_id, ScimGroupMember.user_id == user_id)
                .values(display=wanted[user_id])
            )
    if removed:
        db.session.execute(
            delete(ScimGroupMember).where(
                ScimGroupMember.group_id == group_id, ScimGroupMember.user_id.in_(removed)
            )
        )
    if added:
        db.session.execute(
            insert(ScimGroupMember),
            [
                {"group_id": group_id, "user_id": key, "display": wanted[key], "added_at": now}
                for key in added
            ],
        )
    return added, removed


def create(fields: GroupFields, now: datetime | None = None) -> tuple[ScimGroup, list[uuid.UUID]]:
    """A group SCIM creates, with its members; the group and the users added.
    ``GroupNameTaken`` when SCIM already sees a group of that name."""
    now = now or utcnow()
    name, external_id, members = checked(fields)
    group = ScimGroup(
        id=uuid.uuid4(),
        display_name=name,
        display_name_key=name_key(name),
        external_id=external_id,
        created_at=now,
        modified_at=now,
    )
    db.session.add(group)
    _flush_name(name)
    added, _ = _set_members(group.id, members, now)
    return group, added


def replace(
    group: ScimGroup, fields: GroupFields, now: datetime | None = None
) -> tuple[list[str], list[uuid.UUID], list[uuid.UUID]]:
    """Write a SCIM replacement (PUT, or a PATCH already applied) on the group: the
    attributes that changed (``displayName``, ``externalId``), the users added and those
    removed."""
    now = now or utcnow()
    name, external_id, members = checked(fields)
    changed = []
    if group.display_name != name:
        group.display_name, group.display_name_key = name, name_key(name)
        changed.append("displayName")
    if group.external_id != external_id:
        group.external_id = external_id
        changed.append("externalId")
    added, removed = _set_members(group.id, members, now)
    if changed or added or removed:
        group.modified_at = now
    _flush_name(name)
    return changed, added, removed


def delete_group(group: ScimGroup, now: datetime | None = None) -> list[uuid.UUID]:
    """A SCIM DELETE: the group's members leave it, SCIM no longer sees it and its name is
    free; the row stays (groups were pushed). Returns the users removed."""
    now = now or utcnow()
    _, removed = _set_members(group.id, {}, now)
    group.deleted_at = group.modified_at = now
    group.display_name_key = None
    db.session.flush()
    return removed


# -- the groups a caller's permissions come from -------------------------------------------

_member, _group, _user = (
    ScimGroupMember.__table__.alias("scim_member"),
    ScimGroup.__table__.alias("scim_group"),
    User.__table__.alias("scim_user"),
)
_any_group = ScimGroup.__table__.alias("any_scim_group")


def scim_groups_column(
    user_id: ColumnElement[uuid.UUID] | QueryableAttribute[uuid.UUID],
) -> ScalarSelect[str | None]:
    """One column of the caller's statement: NULL when the user's groups come from their
    tokens, else the names of the SCIM groups they are in, joined by ``SEPARATOR`` ('' for
    none). ``effective_groups`` reads it."""
    names = (
        select(func.aggregate_strings(_group.c.display_name, SEPARATOR))
        .select_from(_member.join(_group, _group.c.id == _member.c.group_id))
        .where(_member.c.user_id == _user.c.id, _group.c.deleted_at.is_(None))
        .correlate(_user)
        .scalar_subquery()
    )
    return (
        select(
            case((exists(select(_any_group.c.id)), func.coalesce(names, literal(""))), else_=None)
        )
        .select_from(_user)
        .where(
            _user.c.id == user_id,
            and_(_user.c.scim_user_name_key.is_not(None), _user.c.scim_deleted_at.is_(None)),
        )
        .scalar_subquery()
    )


def effective_groups(token_groups: list[str] | None, scim_groups: str | None) -> list[str]:
    """The groups permissions come from: SCIM's (``scim_groups_column``) when it manages the
    user, else the token's."""
    if scim_groups is None:
        return list(token_groups or [])
    return sorted(set(scim_groups.split(SEPARATOR))) if scim_groups else []


def scim_groups_of(user_id: uuid.UUID) -> str | None:
    """``scim_groups_column`` for one user, in a statement of its own (a sign-in, a token's
    first use: the user was just loaded as a model)."""
    return db.session.execute(select(scim_groups_column(literal(user_id)))).scalar()
