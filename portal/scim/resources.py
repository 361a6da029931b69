"""Portal users as SCIM 2.0 ``User`` resources (RFC 7643, with the enterprise extension), and
SCIM filters as SQL.

The scim2-models classes do the parsing and the serialising. What the portal itself uses
(userName, externalId, the primary email, the name, active) goes to its columns; every other
attribute the schema lists is kept as sent (``User.scim_resource``) and returned as is, so the
resource round-trips what ``/Schemas`` advertises. The password is never kept.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from scim2_models import (
    Context,
    Email,
    InvalidFilterException,
    Meta,
    Mutability,
    Name,
    Reference,
    Required,
)
from scim2_models import EnterpriseUser as ScimEnterpriseUser
from scim2_models import User as ScimUser
from scim2_models.path.expressions import AttrPath
from scim2_models.resources.enterprise_user import Manager as ScimManager
from sqlalchemy import false
from sqlalchemy.sql.elements import ColumnElement

from ..models import User
from ..services.common import parse_id
from ..services.users import provisioning
from .filters import FilterToSql

USER_SCHEMA = ScimUser.__schema__


class Manager(ScimManager):
    """The enterprise extension's manager, with ``$ref`` optional: Microsoft Entra sends the
    manager's id alone. ``displayName`` stays read-only: the portal fills it in from the user
    the id names, when SCIM sees one."""

    # "User" names the resource type it refers to, not a model of this module.
    ref: Annotated[Reference["User"] | None, Required.false] = Field(  # type: ignore[assignment]  # noqa: UP037
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    display_name: Annotated[str | None, Mutability.read_only] = None


class EnterpriseUser(ScimEnterpriseUser):
    """``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`` (RFC 7643 4.3)."""

    manager: Manager | None = None


EXTENSION_SCHEMA = str(EnterpriseUser.__schema__)


# The User resource the portal serves: the core schema and the enterprise extension (the
# model the provider builds for the User resource type, ``ScimProvider.model_for``).
PortalUser = ScimUser[EnterpriseUser]


# What the kept resource leaves out: the columns' attributes, what the server sets, and the
# password (write-only, never kept).
NOT_KEPT = ("schemas", "id", "meta", "userName", "externalId", "groups", "password")


def version_of(user: User) -> str:
    """The resource's version (``meta.version``): when SCIM last saw it change."""
    when = user.scim_modified_at or user.created_at
    return f'W/"{int(when.timestamp() * 1_000_000)}"'


def _from_columns(user: User) -> dict[str, Any]:
    """A user SCIM has not written since the resource was kept (or adopted, not yet written):
    shown from the columns, as the portal knows them."""
    shown: dict[str, Any] = {"active": True}
    if user.name:
        shown["displayName"] = user.name
        shown["name"] = Name(formatted=user.name)
    if user.email:
        shown["emails"] = [Email(value=user.email, primary=True, type=Email.Type.work)]
    return shown


def to_resource(user: User) -> ScimUser:
    """The user as SCIM shows them."""
    shown = dict(user.scim_resource) if user.scim_resource is not None else _from_columns(user)
    # The column decides: an account deactivated by an admin is inactive, whatever SCIM said;
    # an ``active`` SCIM never sent (or removed) is not shown while the account is active.
    if user.deactivated_at is not None:
        shown["active"] = False
    elif "active" in shown:
        shown["active"] = True
    schemas = [USER_SCHEMA] + ([EXTENSION_SCHEMA] if EXTENSION_SCHEMA in shown else [])
    resource = PortalUser.model_validate({**shown, "schemas": schemas})
    resource.id = str(user.id)
    resource.user_name = user.scim_user_name
    resource.external_id = user.scim_external_id
    resource.meta = Meta(
        resource_type="User",
        created=user.created_at,
        last_modified=user.scim_modified_at or user.created_at,
        version=version_of(user),
    )
    return resource


def kept_attributes(resource: ScimUser) -> dict[str, Any]:
    """The attributes of a resource the portal keeps as sent (``User.scim_resource``): all
    but the columns' and the server's, and never the password (its dump leaves it out: it is
    ``returned: never``). The manager's ``displayName`` is the portal's to fill in."""
    kept = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
    for name in NOT_KEPT:
        kept.pop(name, None)
    extension = kept.get(EXTENSION_SCHEMA)
    if isinstance(extension, dict):
        manager = extension.get("manager")
        if isinstance(manager, dict):
            manager.pop("displayName", None)
            shown = provisioning.display_name_of(manager.get("value"))
            if shown:
                manager["displayName"] = shown
    return kept


def _name_of(resource: ScimUser) -> str | None:
    if resource.display_name:
        return resource.display_name
    name = resource.name
    if name is None:
        return None
    if name.formatted:
        return name.formatted
    parts = [name.given_name, name.family_name]
    return " ".join(p for p in parts if p) or None


def _email_of(resource: ScimUser) -> str | None:
    emails = [e for e in resource.emails or [] if e.value]
    primary = [e for e in emails if e.primary]
    chosen = next(iter(primary or emails), None)
    return str(chosen.value) if chosen is not None else None


def fields_of(resource: ScimUser) -> provisioning.Provisioned:
    """What the portal keeps of a User resource; ``active`` is true unless it says false."""
    return provisioning.Provisioned(
        user_name=resource.user_name or "",
        external_id=resource.external_id or None,
        email=_email_of(resource),
        name=_name_of(resource),
        active=resource.active is not False,
        resource=kept_attributes(resource),
    )


class _UserFilter(FilterToSql):
    """A SCIM filter over Users as a SQL condition: ``eq`` on userName (any case), externalId,
    emails.value (or ``emails[value eq ...]``), id and active, joined with ``and``/``or``."""

    schema = USER_SCHEMA
    refused = (
        "Filtering on {spelled} is not supported: use userName, externalId, emails.value, id "
        "or active"
    )

    def equals(self, name: str, sub: str, value: Any, path: AttrPath) -> ColumnElement[bool]:
        text = value if isinstance(value, str) else None
        if (name, sub) == ("username", ""):
            if text is None:
                raise InvalidFilterException(detail="userName is compared with a string")
            return User.scim_user_name_key == provisioning.user_name_key(text)
        if (name, sub) == ("externalid", ""):
            if text is None:
                raise InvalidFilterException(detail="externalId is compared with a string")
            return User.scim_external_id == text
        if name == "emails" and sub in ("", "value"):
            if text is None:
                raise InvalidFilterException(detail="emails.value is compared with a string")
            return User.email == text.strip().lower()
        if (name, sub) == ("id", ""):
            key = parse_id(text) if text is not None else None
            return User.id == key if key is not None else false()
        if (name, sub) == ("active", ""):
            if not isinstance(value, bool):
                raise InvalidFilterException(detail="active is compared with true or false")
            return User.deactivated_at.is_(None) if value else User.deactivated_at.is_not(None)
        raise LookupError(name)


filter_condition = _UserFilter.condition
