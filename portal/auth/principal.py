"""Who is calling: resolved once per request from the browser session or a bearer token."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, request

from ..models import User, UserSession
from ..services import identity
from ..services.sessions import ClientInfo, SessionPolicy


@dataclass
class Principal:
    """The caller: a user, the session they act through, and what they may do.

    Flask-Login keeps ``get_id()`` (the session id) in the browser's cookie, so ending the
    session row signs that browser out on its next request.
    """

    user: User
    session: UserSession | None
    permissions: frozenset[str]
    method: str  # "browser" or "bearer"
    scopes: frozenset[str] = field(default_factory=frozenset)

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str | None:
        return str(self.session.id) if self.session else None

    @property
    def id(self):
        return self.user.id

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def has_any_permission(self) -> bool:
        return bool(self.permissions)


def session_policy() -> SessionPolicy:
    return SessionPolicy.from_config(current_app.config)


def client_info() -> ClientInfo:
    """The client's address (ProxyFix has applied PORTAL_TRUSTED_PROXIES) and User-Agent."""
    return ClientInfo(
        ip_address=request.remote_addr,
        user_agent=(request.headers.get("User-Agent") or "")[:1024] or None,
    )


def principal_for_session(session: UserSession, groups: list[str] | None = None) -> Principal:
    """A browser principal for a session row, with permissions from groups and grants."""
    user = session.user
    perms = identity.permissions_for(
        user, user.groups if groups is None else groups, current_app.config["GROUP_PERMISSIONS"]
    )
    return Principal(user=user, session=session, permissions=perms, method="browser")
