"""Groups the identity provider pushes over SCIM: each change with its audit events, one for
the group and one for each member who joins or leaves it (whose permissions change on their
next request)."""

from __future__ import annotations

import uuid

from ...models import ScimGroup
from ..audit.record import Actions
from ..users import groups
from .actor import Actor


def _record_members(
    actor: Actor, group: ScimGroup, added: list[uuid.UUID], removed: list[uuid.UUID]
) -> None:
    for user_id in added:
        actor.record(
            Actions.SCIM_ADD_GROUP_MEMBER, user_id, group=group.display_name, group_id=str(group.id)
        )
    for user_id in removed:
        actor.record(
            Actions.SCIM_REMOVE_GROUP_MEMBER,
            user_id,
            group=group.display_name,
            group_id=str(group.id),
        )


def scim_create_group(actor: Actor, fields: groups.GroupFields) -> ScimGroup:
    """SCIM POST of a group, with its members. Raises ``users.groups.InvalidGroup`` or
    ``users.groups.GroupNameTaken``."""
    group, added = groups.create(fields)
    actor.record(
        Actions.SCIM_CREATE_GROUP,
        None,
        group=group.display_name,
        group_id=str(group.id),
        external_id=group.external_id,
        members=len(added),
    )
    _record_members(actor, group, added, [])
    return group


def scim_update_group(actor: Actor, group: ScimGroup, fields: groups.GroupFields) -> ScimGroup:
    """SCIM PUT or PATCH of a group (the PATCH already applied): its name, externalId and
    members. A renamed group's members have its new name's permissions on their next
    request."""
    was = group.display_name
    changed, added, removed = groups.replace(group, fields)
    if changed:
        renamed = {"renamed_from": was} if "displayName" in changed else {}
        actor.record(
            Actions.SCIM_UPDATE_GROUP,
            None,
            group=group.display_name,
            group_id=str(group.id),
            changed=changed,
            **renamed,
        )
    _record_members(actor, group, added, removed)
    return group


def scim_delete_group(actor: Actor, group: ScimGroup) -> None:
    """SCIM DELETE of a group: its members leave it (each audited), and SCIM no longer sees
    it."""
    removed = groups.delete_group(group)
    actor.record(Actions.SCIM_DELETE_GROUP, None, group=group.display_name, group_id=str(group.id))
    _record_members(actor, group, [], removed)
