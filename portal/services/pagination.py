"""Page arithmetic shared by every paginated list."""

from __future__ import annotations


def page_count(total: int, per_page: int) -> int:
    """How many pages ``total`` rows fill, ``per_page`` at a time (at least one, even empty)."""
    return max(1, -(-total // max(1, per_page)))


def clamp_page(page: int, total: int, per_page: int) -> int:
    """``page`` moved into 1..page_count, so a stale or hand-typed number still shows rows."""
    return min(max(1, page), page_count(total, per_page))
