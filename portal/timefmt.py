"""Times as the JSON routes (ISO 8601 with Z) and the pages (humanised) show them."""

from __future__ import annotations

from datetime import UTC, datetime

from .models import utcnow
from .services.common import exact_time


def iso_z(value: datetime | None) -> str | None:
    """``2026-11-25T18:00:00Z``; None stays None."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat, not strftime: it formats without parsing a pattern, and every listed row
    # sends two or three.
    return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def humanize(value: datetime | None, now: datetime | None = None) -> str:
    """ "just now", "5 minutes ago", "in 3 days", ... for pages."""
    if value is None:
        return "never"
    now = now or utcnow()
    seconds = (now - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        return "just now" if not future else "in under a minute"
    for unit, size in (
        ("year", 31536000),
        ("month", 2592000),
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if seconds >= size:
            n = int(seconds // size)
            text = f"{n} {unit}{'s' if n != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"


def exact(value: datetime | None) -> str:
    """The exact UTC time for a title attribute."""
    return exact_time(value) if value else ""
