"""Page arithmetic shared by every paginated list."""

from __future__ import annotations


def page_count(total: int, per_page: int) -> int:
    """How many pages ``total`` rows fill, ``per_page`` at a time (at least one, even empty)."""
    return max(1, -(-total // max(1, per_page)))


def clamp_page(page: int, total: int, per_page: int) -> int:
    """``page`` moved into 1..page_count, so a stale or hand-typed number still shows rows."""
    return min(max(1, page), page_count(total, per_page))


# No list has more pages than this; a bigger number (hand-typed, 10**30) is taken as the last
# page rather than sent to the database as an OFFSET past what a 64-bit integer holds.
MOST_PAGES = 10**9


def plausible_page(page: int) -> int:
    """``page`` within 1..MOST_PAGES, for a list whose length is not known yet."""
    return min(max(1, page), MOST_PAGES)
