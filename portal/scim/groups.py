"""SCIM 2.0 ``Group`` resources (RFC 7643 4.2): the groups Okta ("Push Groups") and Microsoft
Entra (group provisioning) push, whose ``displayName`` is the name ``PORTAL_GROUP_PERMISSIONS``
maps to permissions.

The storage reads from ``services.users.groups`` and makes every change through one operation
of ``services.operations`` (each member who joins or leaves audited). scim2-models applies a
PATCH to the group as read; the storage then writes the whole group back, so a PATCH of three
operations is one change or none.
"""

from __future__ import annotations

import json
from typing import Any, cast

from flask import request
from scim2_models import (
    Group,
    GroupMember,
    GroupMembership,
    InvalidFilterException,
    Meta,
    NotFoundException,
    NotImplementedException,
    Reference,
    Resource,
    ResourceType,
)
from scim2_models.path.expressions import AttrPath
from scim2_server.storage import ScimStorage, SearchPage
from sqlalchemy import exists, false, select
from sqlalchemy.sql.elements import ColumnElement

from ..models import ScimGroup, ScimGroupMember
from ..services import operations
from ..services.common import parse_id
from ..services.users import groups
from .filters import FilterToSql

GROUP_SCHEMA = Group.__schema__
MAX_RESULTS = 200


def version_of(group: ScimGroup) -> str:
    return f'W/"{int(group.modified_at.timestamp() * 1_000_000)}"'


def to_group(group: ScimGroup, members: list[groups.Member]) -> Group:
    """The group as SCIM shows it, members and all."""
    return Group(
        id=str(group.id),
        display_name=group.display_name,
        external_id=group.external_id,
        members=[
            GroupMember(
                value=str(m.user_id),
                display=m.display,
                type="User",
                ref=Reference(f"Users/{m.user_id}"),
            )
            for m in members
        ],
        meta=Meta(
            resource_type="Group",
            created=group.created_at,
            last_modified=group.modified_at,
            version=version_of(group),
        ),
    )


def memberships(found: list[groups.Membership]) -> list[GroupMembership] | None:
    """A user's ``groups`` attribute (read-only: SCIM changes it through the groups)."""
    return [
        GroupMembership(
            value=str(m.group_id),
            display=m.display_name,
            type="direct",
            ref=Reference(f"Groups/{m.group_id}"),
        )
        for m in found
    ] or None


def fields_of(resource: Group) -> groups.GroupFields:
    members = resource.members or []
    return groups.GroupFields(
        display_name=resource.display_name or "",
        external_id=resource.external_id or None,
        member_ids=[m.value or "" for m in members],
        member_displays={m.value: m.display for m in members if m.value},
    )


def _group(resource: Resource[Any]) -> Group:
    return cast(Group, resource)


def _one(group: ScimGroup) -> Group:
    return to_group(group, groups.members_of([group.id])[group.id])


class PortalGroups(ScimStorage):
    """SCIM's groups: reads from ``services.users.groups``, every change one operation."""

    def get(self, resource_type: ResourceType, resource_id: str, *, response_parameters=None):
        # A PUT, PATCH or DELETE reads the group first and writes it back whole: locked from
        # that read on, so two changes of its members apply one after the other, never lost.
        changing = request.method in ("PUT", "PATCH", "DELETE")
        group = groups.get_visible(resource_id, lock=changing)
        if group is None:
            raise NotFoundException(detail=f"No group {resource_id!r}")
        return _one(group)

    def search(self, resource_types, search_request, *, position: Any = None) -> SearchPage:
        condition = filter_condition(search_request.filter)
        start = max(search_request.start_index or 1, 1)
        count = search_request.count if search_request.count is not None else MAX_RESULTS
        total, found = groups.search(condition, offset=start - 1, limit=count)
        members = groups.members_of(g.id for g in found)
        return SearchPage(total=total, resources=[to_group(g, members[g.id]) for g in found])

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Group:
        actor = operations.scim_actor(request.remote_addr)
        return _one(operations.scim_create_group(actor, fields_of(_group(resource))))

    def update(
        self, resource_type: ResourceType, resource: Resource[Any], *, expected_version=None
    ):
        group = groups.get_visible(resource.id or "")
        if group is None:
            raise NotFoundException(detail=f"No group {resource.id!r}")
        actor = operations.scim_actor(request.remote_addr)
        operations.scim_update_group(actor, group, fields_of(_group(resource)))
        return _one(group)

    def delete(self, resource_type: ResourceType, resource_id: str, *, expected_version=None):
        group = groups.get_visible(resource_id)
        if group is None:
            raise NotFoundException(detail=f"No group {resource_id!r}")
        operations.scim_delete_group(operations.scim_actor(request.remote_addr), group)


class WithGroups(ScimStorage):
    """The users' storage, with each User's read-only ``groups`` filled in (one statement
    for a whole page)."""

    def __init__(self, users: ScimStorage):
        self.users = users

    @staticmethod
    def _filled(resources: list[Any]) -> list[Any]:
        ids = [key for r in resources if (key := parse_id(r.id or "")) is not None]
        found = groups.groups_of(ids)
        for resource in resources:
            key = parse_id(resource.id or "")
            resource.groups = memberships(found.get(key, [])) if key is not None else None
        return resources

    def get(self, resource_type: ResourceType, resource_id: str, *, response_parameters=None):
        found = self.users.get(resource_type, resource_id, response_parameters=response_parameters)
        return self._filled([found])[0]

    def search(self, resource_types, search_request, *, position: Any = None) -> SearchPage:
        page = self.users.search(resource_types, search_request, position=position)
        self._filled(page.resources)
        return page

    def create(self, resource_type: ResourceType, resource: Resource[Any]):
        return self._filled([self.users.create(resource_type, resource)])[0]

    def update(
        self, resource_type: ResourceType, resource: Resource[Any], *, expected_version=None
    ):
        updated = self.users.update(resource_type, resource, expected_version=expected_version)
        return self._filled([updated])[0]

    def delete(self, resource_type: ResourceType, resource_id: str, *, expected_version=None):
        self.users.delete(resource_type, resource_id, expected_version=expected_version)


class ByResourceType(ScimStorage):
    """One storage per resource type (``User``, ``Group``), as scim2-server asks one storage."""

    def __init__(self, storages: dict[str, ScimStorage]):
        self.storages = storages

    def _of(self, resource_type: ResourceType) -> ScimStorage:
        return self.storages[resource_type.name or ""]

    def get(self, resource_type: ResourceType, resource_id: str, *, response_parameters=None):
        storage = self._of(resource_type)
        return storage.get(resource_type, resource_id, response_parameters=response_parameters)

    def search(self, resource_types, search_request, *, position: Any = None) -> SearchPage:
        if len(resource_types) != 1:  # a search at the root, over every type
            raise NotImplementedException(
                detail="Searching several resource types at once is not supported: search "
                "/Users or /Groups"
            )
        storage = self._of(resource_types[0])
        return storage.search(resource_types, search_request, position=position)

    def create(self, resource_type: ResourceType, resource: Resource[Any]):
        return self._of(resource_type).create(resource_type, resource)

    def update(
        self, resource_type: ResourceType, resource: Resource[Any], *, expected_version=None
    ):
        storage = self._of(resource_type)
        return storage.update(resource_type, resource, expected_version=expected_version)

    def delete(self, resource_type: ResourceType, resource_id: str, *, expected_version=None):
        storage = self._of(resource_type)
        storage.delete(resource_type, resource_id, expected_version=expected_version)


def entra_member_removals(body: bytes) -> bytes:
    """Entra's removal of members, ``{"op": "Remove", "path": "members", "value": [{"value":
    id}, ...]}``, as RFC 7644 3.5.2.2 spells it: one ``members[value eq "id"]`` removal per
    member (scim2-models refuses a remove that carries a value). Anything else is kept as
    sent, and a body that is no JSON object is left for the server to refuse."""
    try:
        patch = json.loads(body)
    except ValueError:
        return body
    operations_ = patch.get("Operations") if isinstance(patch, dict) else None
    if not isinstance(operations_, list):
        return body
    rewritten: list[Any] = []
    for op in operations_:
        value = op.get("value") if isinstance(op, dict) else None
        if (
            isinstance(op, dict)
            and str(op.get("op", "")).lower() == "remove"
            and str(op.get("path", "")).lower() == "members"
            and isinstance(value, list)
            and value
            and all(isinstance(v, dict) and isinstance(v.get("value"), str) for v in value)
        ):
            for member in value:
                quoted = json.dumps(member["value"])
                rewritten.append({"op": "remove", "path": f"members[value eq {quoted}]"})
        else:
            rewritten.append(op)
    patch["Operations"] = rewritten
    return json.dumps(patch).encode()


class _GroupFilter(FilterToSql):
    """A SCIM filter over Groups as a SQL condition: ``eq`` on displayName (any case),
    externalId, id and members.value (``members[value eq ...]``), with ``and``/``or``."""

    schema = GROUP_SCHEMA
    refused = (
        "Filtering groups on {spelled} is not supported: use displayName, externalId, id or "
        "members.value"
    )

    def equals(self, name: str, sub: str, value: Any, path: AttrPath) -> ColumnElement[bool]:
        if not isinstance(value, str):
            raise InvalidFilterException(detail=f"{path.attr} is compared with a string")
        if (name, sub) == ("displayname", ""):
            return ScimGroup.display_name_key == groups.name_key(value)
        if (name, sub) == ("externalid", ""):
            return ScimGroup.external_id == value
        if (name, sub) == ("id", ""):
            key = parse_id(value)
            return ScimGroup.id == key if key is not None else false()
        if name == "members" and sub in ("", "value"):
            key = parse_id(value)
            if key is None:
                return false()
            return exists(
                select(ScimGroupMember.user_id).where(
                    ScimGroupMember.group_id == ScimGroup.id, ScimGroupMember.user_id == key
                )
            )
        raise LookupError(name)


filter_condition = _GroupFilter.condition
