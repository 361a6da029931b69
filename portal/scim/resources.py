"""Portal users as SCIM 2.0 ``User`` resources (RFC 7643), and SCIM filters as SQL.

The scim2-models classes do the parsing and the serialising; this module only maps their
attributes to the columns the portal keeps (userName, externalId, one email, the name, active).
"""

from __future__ import annotations

from typing import Any

from scim2_models import Email, InvalidFilterException, Meta, Name
from scim2_models import User as ScimUser
from scim2_models.path.expressions import (
    CompareOperator,
    Comparison,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from scim2_models.path.visitor import FilterVisitor
from sqlalchemy import and_, false, or_
from sqlalchemy.sql.elements import ColumnElement

from ..models import User
from ..services.common import parse_id
from ..services.users import provisioning

USER_SCHEMA = ScimUser.__schema__


def version_of(user: User) -> str:
    """The resource's version (``meta.version``): when SCIM last saw it change."""
    when = user.scim_modified_at or user.created_at
    return f'W/"{int(when.timestamp() * 1_000_000)}"'


def to_resource(user: User) -> ScimUser:
    """The user as SCIM shows them."""
    return ScimUser(
        id=str(user.id),
        user_name=user.scim_user_name,
        external_id=user.scim_external_id,
        display_name=user.name,
        name=Name(formatted=user.name) if user.name else None,
        emails=[Email(value=user.email, primary=True, type=Email.Type.work)]
        if user.email
        else None,
        active=user.deactivated_at is None,
        meta=Meta(
            resource_type="User",
            created=user.created_at,
            last_modified=user.scim_modified_at or user.created_at,
            version=version_of(user),
        ),
    )


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
    )


class _FilterToSql(FilterVisitor[ColumnElement[bool]]):
    """A SCIM filter over Users as a SQL condition: ``eq`` on userName (any case), externalId,
    emails.value (or ``emails[value eq ...]``), id and active, joined with ``and``/``or``.
    Anything else is an ``invalidFilter`` (400), never a scan that pretends to filter."""

    def __init__(self, within: str | None = None):
        self.within = within  # the multi-valued attribute a value path filters

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        path = node.attr_path
        if path.uri and path.uri.lower() != USER_SCHEMA.lower():
            raise InvalidFilterException(detail=f"The filter cannot use {path.uri}")
        name = path.attr.lower()
        if self.within:
            name, sub = self.within, path.attr.lower()
        else:
            sub = (path.sub_attr or "").lower()
        if node.op != CompareOperator.eq:
            raise InvalidFilterException(detail="Only the eq operator is supported")
        try:
            return self._equals(name, sub, node.value)
        except InvalidFilterException:
            raise
        except LookupError:
            spelled = ".".join(p for p in (self.within, path.attr, path.sub_attr) if p)
            raise InvalidFilterException(
                detail=f"Filtering on {spelled} is not supported: use userName, externalId, "
                "emails.value, id or active"
            ) from None

    @staticmethod
    def _equals(name: str, sub: str, value: Any) -> ColumnElement[bool]:
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

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        if self.within or node.sub_attr:
            raise InvalidFilterException(detail="Nested value paths are not supported")
        return _FilterToSql(within=node.attr_path.attr.lower()).visit(node.val_filter)

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        raise InvalidFilterException(detail="The not operator is not supported")

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        raise InvalidFilterException(detail="The pr operator is not supported")


def filter_condition(scim_filter: Any) -> ColumnElement[bool]:
    """The SQL condition of a parsed filter (``SearchRequest.filter``); all users without one."""
    if scim_filter is None:
        return and_(True)
    return _FilterToSql().visit(scim_filter.ast)
