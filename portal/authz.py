"""Permissions and the decorators that demand them; every route names what it needs."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, g, request
from flask_login import current_user

from .config import PERMISSIONS

VIEW_USER_DEVICES, MANAGE_USER_DEVICES, VIEW_AUDIT_LOG = PERMISSIONS

# Routes mark themselves so a test can prove that none was left without a rule.
ACCESS_RULE_ATTR = "_portal_access_rule"


def access_rule(rule: str) -> Callable:
    """Record on a view which rule guards it (for the deny-by-default test)."""

    def mark(view: Callable) -> Callable:
        setattr(view, ACCESS_RULE_ATTR, rule)
        return view

    return mark


def public(view: Callable) -> Callable:
    """A page anyone may open, signed in or not."""
    return access_rule("public")(view)


def has_permission(principal, permission: str) -> bool:
    return bool(principal and getattr(principal, "is_authenticated", False)) and (
        permission in principal.permissions
    )


def require_permission(permission: str) -> Callable:
    """Pages: sign-in required, then 403 without ``permission`` (checked on every request)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                from .extensions import login_manager

                return login_manager.unauthorized()
            if not has_permission(current_user, permission):
                g.denied_permission = permission
                abort(403)
            return view(*args, **kwargs)

        return access_rule(f"permission:{permission}")(wrapped)

    return decorator


def signed_in(view: Callable) -> Callable:
    """Pages: any signed-in user (Flask-Login's login_required, marked for the rule test)."""
    from flask_login import login_required

    return access_rule("signed_in")(login_required(view))


def is_api_request() -> bool:
    """Whether this request is for a JSON route (so errors must be JSON)."""
    bp = request.blueprint or ""
    return bp.startswith("api")
