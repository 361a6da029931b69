"""SCIM filters as SQL conditions, for every resource type the service stores: ``eq``
comparisons joined with ``and``/``or``, and value paths one level deep (``emails[value eq
...]``). What a type may be filtered on is its own (``FilterToSql.equals``); anything else is an
``invalidFilter`` (400), never a scan that pretends to filter."""

from __future__ import annotations

from typing import Any

from scim2_models import InvalidFilterException
from scim2_models.path.expressions import (
    AttrPath,
    CompareOperator,
    Comparison,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from scim2_models.path.visitor import FilterVisitor
from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement


class FilterToSql(FilterVisitor[ColumnElement[bool]]):
    """The SQL condition of a SCIM filter over one resource type; a subclass says which
    comparisons the type answers (``equals``) and names them when refusing another."""

    schema: str  # the resource's core schema: the only URN a filter may name
    refused: str  # the refusal of an attribute ``equals`` does not know, with ``{spelled}``

    def __init__(self, within: str | None = None):
        self.within = within  # the multi-valued attribute a value path filters

    def equals(self, name: str, sub: str, value: Any, path: AttrPath) -> ColumnElement[bool]:
        """``name.sub eq value`` (both lower-cased) as SQL; LookupError when not served."""
        raise NotImplementedError

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        path = node.attr_path
        if path.uri and path.uri.lower() != self.schema.lower():
            raise InvalidFilterException(detail=f"The filter cannot use {path.uri}")
        if self.within:
            name, sub = self.within, path.attr.lower()
        else:
            name, sub = path.attr.lower(), (path.sub_attr or "").lower()
        if node.op != CompareOperator.eq:
            raise InvalidFilterException(detail="Only the eq operator is supported")
        try:
            return self.equals(name, sub, node.value, path)
        except LookupError:
            spelled = ".".join(p for p in (self.within, path.attr, path.sub_attr) if p)
            raise InvalidFilterException(detail=self.refused.format(spelled=spelled)) from None

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        if self.within or node.sub_attr:
            raise InvalidFilterException(detail="Nested value paths are not supported")
        return type(self)(within=node.attr_path.attr.lower()).visit(node.val_filter)

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        raise InvalidFilterException(detail="The not operator is not supported")

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        raise InvalidFilterException(detail="The pr operator is not supported")

    @classmethod
    def condition(cls, scim_filter: Any) -> ColumnElement[bool]:
        """The SQL condition of a parsed filter (``SearchRequest.filter``); all rows without
        one."""
        if scim_filter is None:
            return and_(True)
        return cls().visit(scim_filter.ast)
