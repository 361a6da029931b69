"""Admin views (filled in by the admin issue)."""

from __future__ import annotations

from flask import abort
from flask_login import current_user

from ..authz import signed_in
from . import bp


@bp.get("/")
@signed_in
def index():
    """Entry point of the admin area."""
    if not current_user.has_any_permission:
        abort(403)
    return "Admin"
