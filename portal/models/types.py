"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol, cast, overload

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import ColumnProperty, QueryableAttribute
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no time zones and would hand back naive datetimes; this keeps both databases alike.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def place_name(
    city: str | None, country_code: str | None, country: str | None = None
) -> str | None:
    """ "City, CC", or the country alone by its name: how pages, exports and token rows name a
    place (a code alone, as a user's last place keeps it, is named like a session's country)."""
    if city and country_code:
        return f"{city}, {country_code}"
    if country_code:
        from .countries import COUNTRY_NAMES

        return COUNTRY_NAMES.get(country_code.upper()) or country or country_code
    return country


class HasPlace(Protocol):
    """A device, a session, or a plain row of their place columns."""

    @property
    def city(self) -> str | None: ...
    @property
    def country_code(self) -> str | None: ...
    @property
    def country(self) -> str | None: ...


def place_of(row: HasPlace) -> str | None:
    """``place_name`` of anything with ``city``, ``country_code`` and ``country``: a device or
    session model, or a plain row of their columns."""
    return place_name(row.city, row.country_code, row.country)


# Control characters (C0, DEL, C1): PostgreSQL refuses NUL in text, and none of them belongs in
# a name, a version or an address.
_CONTROL_CHARACTERS = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])


def without_control_characters(value: str) -> str:
    return value.translate(_CONTROL_CHARACTERS)


def column_length(attribute: QueryableAttribute[Any]) -> int | None:
    """The length of the string column behind a model attribute (``Device.browser``), if any."""
    column_property = cast(ColumnProperty[Any], attribute.property)
    return getattr(column_property.columns[0].type, "length", None)


def bounded_length(attribute: QueryableAttribute[Any]) -> int:
    """The length of the bounded string column behind a model attribute (``User.email``);
    TypeError for a column without one."""
    length = column_length(attribute)
    if length is None:
        raise TypeError(f"{attribute} has no length")
    return length


@overload
def fit(attribute: QueryableAttribute[Any], value: None) -> None: ...
@overload
def fit(attribute: QueryableAttribute[Any], value: str) -> str: ...
@overload
def fit(attribute: QueryableAttribute[Any], value: object) -> str | None: ...
def fit(attribute: QueryableAttribute[Any], value: object) -> str | None:
    """``value`` as text the column behind ``attribute`` can hold: without control characters
    and cut to the column's length. For what requests say (headers, claims, addresses), which
    must describe a device or a person, never fail to be stored; None stays None."""
    if value is None:
        return None
    text = without_control_characters(str(value))
    length = column_length(attribute)
    return text[:length] if length else text
