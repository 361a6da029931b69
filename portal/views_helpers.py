"""Template filters and globals shared by every page."""

from __future__ import annotations

from .timefmt import exact, humanize, iso_z


def init_app(app) -> None:
    app.jinja_env.filters["humanize"] = humanize
    app.jinja_env.filters["exact"] = exact
    app.jinja_env.filters["iso"] = iso_z
