"""Flask-Login's hooks: the loader every browser request goes through, and where a signed-out
browser is sent."""

from __future__ import annotations

from flask import redirect, request, url_for

from ..extensions import login_manager
from .principal import Principal, browser_principal


@login_manager.user_loader
def load_principal(session_id: str) -> Principal | None:
    """Every browser request: the session row decides; ended or expired means signed out."""
    return browser_principal(session_id)


@login_manager.unauthorized_handler
def _to_sign_in():
    """Send a signed-out browser to sign-in, remembering where it was going (a local path)."""
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("auth.login", next=target))


def init_app(app) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = None  # the server-side session row is the authority
