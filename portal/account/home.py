"""The home page ``/``: what the portal is when signed out, My devices when signed in.

It belongs to the account package because, signed in, it is the account's own page: it renders
it with the function ``/account/`` renders with, not by calling that view through the app.
"""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from ..authz import public
from .views import my_devices_page

bp = Blueprint("home", __name__)


@bp.get("/")
@public
def index():
    """Signed out: the welcome. Signed in: My devices."""
    if not current_user.is_authenticated:
        return render_template("main/landing.html")
    return my_devices_page()
