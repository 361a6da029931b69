"""A page's size and cursor as query parameters (``GET /audit/events``, ``GET /sign-ins``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from ...services.audit import feed
from ...services.incidents import search
from .base import refuse


def _whole_number(name: str, largest: int) -> Callable[[Any], int]:
    """A query parameter that must be a whole number from 1 to ``largest``."""

    def check(text: Any) -> int:
        try:
            number = int(text) if isinstance(text, str) and text.isdigit() else 0
        except ValueError:  # a digit to str.isdigit that int() does not read ("²")
            number = 0
        if not 1 <= number <= largest:
            raise refuse(f"invalid_{name}", f"{name} must be a whole number from 1 to {largest}")
        return number

    return check


def _cursor(decode: Callable[[str], Any], keep: bool) -> Callable[[Any], Any]:
    """A cursor this API handed out: decoded (or, with ``keep``, checked and kept as given)."""

    def check(text: Any) -> Any:
        try:
            decoded = decode(text)
        except (feed.BadCursor, search.BadCursor, TypeError):
            raise refuse(
                "invalid_cursor", "cursor is not one this API handed out (follow the Link header)"
            ) from None
        return text if keep else decoded

    return check


# Each gives the metadata of a field's ``Annotated`` type, unpacked where the field is declared:
# ``limit: Annotated[int, *page_limit(...)] = 100``. The type itself is written there, where the
# type checker can read it (an annotation that is a call is no type to it).


def page_limit(name: str, largest: int, what: str) -> tuple[object, ...]:
    """A page's size (an ``int``): a whole number from 1 to ``largest`` (100 when not given)."""
    return (
        BeforeValidator(_whole_number(name, largest)),
        WithJsonSchema(
            {"type": "integer", "minimum": 1, "maximum": largest},
            mode="validation",
        ),
        Field(description=f"{what} per page (default 100)."),
    )


def opaque_cursor(decode: Callable[[str], Any], pattern: str, keep: bool) -> tuple[object, ...]:
    """The next page's cursor, as the previous answer's ``Link`` header gave it: decoded
    (``tuple[int, int] | None``), or with ``keep`` checked and kept as given (``str | None``)."""
    return (
        BeforeValidator(_cursor(decode, keep)),
        WithJsonSchema({"type": "string", "pattern": pattern}, mode="validation"),
        Field(description="Opaque: pass back what the previous answer's Link header gave."),
    )
