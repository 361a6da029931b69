"""What an admin typed into a page's query string: the page number, and a search text."""

from __future__ import annotations

from flask import flash, request

from ..models.types import without_control_characters


def page_number() -> int:
    """The page asked for (``?page=``), the first when absent, not a number or 0."""
    return request.args.get("page", 1, type=int) or 1


def text_arg(name: str, what: str) -> str:
    """A text the user typed, trimmed. No name, email or subject holds a control character
    (NUL...), so a text with one matches nothing (the services see to it); the page says why."""
    value = request.args.get(name, "").strip()
    if without_control_characters(value) != value:
        flash(
            f"The {what} has control characters, which no name, email or subject contains: "
            "nothing matches it.",
            "error",
        )
    return value
