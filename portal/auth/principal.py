"""Who is calling: one resolver for the browser's session cookie and for bearer tokens alike.

Both paths read the session's standing with its user's groups and grants as one plain row,
build permissions one way (the groups SCIM put a provisioned user in once the IdP pushes
groups, else those of the user's latest sign-in or token; plus local grants),
and return a ``Principal`` whose ``actor`` the operations take. Only a session with something
to write (its once-a-minute activity stamp, its expiry) is loaded as models.
Nothing here commits; what the resolver changes (a session's once-a-minute activity stamp, a
token's first session, a known user's refreshed profile) is committed with the request.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import current_app, request

from ..extensions import db
from ..models import User, UserSession, utcnow
from ..redis import redis_client
from ..services import operations
from ..services.devices import versions
from ..services.outbox.alerts import AlertPolicy
from ..services.sessions import ending, opening
from ..services.sessions import policy as sessions
from ..services.sessions.opening import ClientInfo
from ..services.sessions.policy import SessionPolicy
from ..services.users import groups as scim_groups
from ..services.users import identity
from .token_cache import TokenCache, VerifiedToken


class Principal:
    """The caller: a user, the session they act through, and what they may do.

    Flask-Login keeps ``get_id()`` (the session id) in the browser's cookie, so ending the
    session row signs that browser out on its next request. A principal resolved from a plain
    row (``_standing_principal``, for browsers and known tokens alike) carries ids and names
    only, and loads its user and session models when something asks for them: a read route or
    page never does.
    """

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(
        self,
        user: User | uuid.UUID,
        session: UserSession | uuid.UUID | None,
        permissions: frozenset[str],
        method: str,  # "browser" or "bearer"
        scopes: frozenset[str] = frozenset(),
        ip_address: str | None = None,
        device_id: uuid.UUID | None = None,
        name: str | None = None,
        display_name: str | None = None,
        device_set_version: int | None = None,
        list_horizon: tuple[str, datetime | None] | None = None,
    ):
        self._user = user if isinstance(user, User) else None
        self.user_id: uuid.UUID = user.id if isinstance(user, User) else user
        self._session = session if isinstance(session, UserSession) else None
        self.session_id = session.id if isinstance(session, UserSession) else session
        self.device_id = session.device_id if isinstance(session, UserSession) else device_id
        self.permissions = permissions
        self.method = method
        self.scopes = scopes
        self.ip_address = ip_address
        # What the audit log calls the caller (email, else subject).
        self.name = (user.email or user.subject) if isinstance(user, User) else name
        # What pages call the caller (``User.display_name``).
        self.display_name = user.display_name if isinstance(user, User) else display_name
        # The version of the user's device set as the caller's row was read (with the
        # ``Standing``, or the user's model); None while this request moves it (an activity
        # stamp not flushed yet): the polled lists then read it after the flush.
        if isinstance(user, User) and device_set_version is None:
            loaded = user.__dict__.get("device_set_version")  # a pending move is a SQL expression
            device_set_version = loaded if isinstance(loaded, int) else None
        self.device_set_version = device_set_version
        # (kind, horizon) of the polled list this request answers, read with the caller's row
        # when the route asked for it (``bearer`` of a ``polled`` route); else None.
        self.list_horizon = list_horizon

    @property
    def user(self) -> User:
        if self._user is None:  # the row the principal was read from: users are never deleted
            self._user = db.session.get_one(User, self.user_id)
        return self._user

    @property
    def session(self) -> UserSession | None:
        if self._session is None and self.session_id is not None:
            self._session = db.session.get(UserSession, self.session_id)
        return self._session

    def get_id(self) -> str | None:
        return str(self.session_id) if self.session_id else None

    @property
    def id(self):
        return self.user_id

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def has_any_permission(self) -> bool:
        return bool(self.permissions)

    @property
    def actor(self) -> operations.Actor:
        """The caller as the operations see it: page for browsers, api for tokens."""
        via = "page" if self.method == "browser" else "api"
        return operations.Actor(None, None, self.ip_address, via=via, caller=self)


def session_policy() -> SessionPolicy:
    """How long sessions live, built once per app from its configuration."""
    policy = current_app.extensions.get("portal_session_policy")
    if policy is None:
        policy = current_app.extensions["portal_session_policy"] = SessionPolicy.from_config(
            current_app.config
        )
    return policy


def alert_policy() -> AlertPolicy:
    """The instance's alert settings, with this request's origin for the mail's links."""
    return AlertPolicy.from_config(current_app.config, request.host_url)


def client_info() -> ClientInfo:
    """The client's address (ProxyFix has applied PORTAL_TRUSTED_PROXIES) and User-Agent."""
    return ClientInfo(
        ip_address=request.remote_addr,
        user_agent=(request.headers.get("User-Agent") or "")[:1024] or None,
    )


def _principal(
    row: UserSession,
    grants: list[str],
    method: str,
    scopes: frozenset[str] = frozenset(),
    *,
    groups: list[str],
) -> Principal:
    """``groups``: those the user's permissions come from (``users.groups.effective_groups``)."""
    user = row.user
    permissions = identity.permissions_for(
        user, groups, current_app.config["GROUP_PERMISSIONS"], grants
    )
    return Principal(user, row, permissions, method, scopes, request.remote_addr)


def _groups_of(user: User) -> list[str]:
    """The groups a user just loaded as a model takes permissions from: SCIM's or the
    token's."""
    return scim_groups.effective_groups(user.groups, scim_groups.scim_groups_of(user.id))


def principal_for_session(row: UserSession) -> Principal:
    """A browser principal for a session row just opened (its grants read from the user)."""
    grants = [g.permission for g in row.user.grants]
    return _principal(row, grants, "browser", groups=_groups_of(row.user))


def browser_principal(session_id: str) -> Principal | None:
    """The browser's principal from its session id, in one statement (a second loads the
    session's models once a minute, to stamp its activity); None when the session is over.
    The session row decides: ended or expired means signed out at once.
    """
    standing = sessions.session_standing(session_id)
    if standing is None or standing.user_deactivated_at is not None:
        return None
    policy = session_policy()
    if standing.quiet(policy, utcnow()):  # nearly every request: nothing to write
        return _standing_principal(standing, "browser")
    found = sessions.load_session(session_id=session_id)
    if found is None or found[0].user.is_deactivated:
        return None
    if not ending.check_and_touch(found[0], policy):
        return None
    return _principal(found[0], found[1], "browser", groups=found[2])


def _standing_principal(
    standing: sessions.Standing, method: str, scopes: frozenset[str] = frozenset()
) -> Principal:
    """The principal of a session read as a plain row that needs nothing written."""
    permissions = identity.mapped_permissions(
        standing.groups, current_app.config["GROUP_PERMISSIONS"], standing.grants
    )
    return Principal(
        standing.user_id,
        standing.session_id,
        permissions,
        method,
        scopes,
        request.remote_addr,
        device_id=standing.device_id,
        name=standing.user_name,
        display_name=standing.user_full_name or standing.user_name,
        device_set_version=standing.device_set_version,
        list_horizon=((standing.horizon_kind, standing.horizon) if standing.horizon_kind else None),
    )


class TokenRefused(Exception):
    """A verified token that still cannot act: its session was revoked, or its client was."""


class AccountDeactivated(TokenRefused):
    """A token of a deactivated account: refused on every request until it is reactivated."""

    def __init__(self) -> None:
        super().__init__("The account is deactivated")


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


def token_cache() -> TokenCache:
    cache = current_app.extensions.get("portal_token_cache")
    if cache is None:
        cache = current_app.extensions["portal_token_cache"] = TokenCache(shared=redis_client())
    return cache


def cached_bearer_principal(raw: str, horizon: versions.Kind | None = None) -> Principal | None:
    """The principal of a token verified before, from one read of its session; None when the
    token is not in the cache (the caller verifies it and calls ``bearer_principal``). With
    ``horizon``, the same read brings that polled list's horizon."""
    seen = token_cache().get(raw)
    if seen is None:
        return None
    standing = sessions.session_standing(seen.session_id, horizon=horizon)
    if standing is None:
        # The request that opened the token's session failed and rolled it back: start over.
        return None
    if standing.user_deactivated_at is not None:
        raise AccountDeactivated()
    policy = session_policy()
    if standing.quiet(policy, utcnow()):  # nearly every request: nothing to write
        return _standing_principal(standing, "bearer", seen.scopes)
    found = sessions.load_session(session_id=seen.session_id)
    if found is not None and found[0].user.is_deactivated:
        raise AccountDeactivated()
    if found is None or not ending.check_and_touch(found[0], policy):
        raise TokenRefused("The access token has been revoked")
    return _principal(found[0], found[1], "bearer", seen.scopes, groups=found[2])


def bearer_principal(raw: str, claims: dict[str, Any], scopes: frozenset[str]) -> Principal:
    """The principal of a token just verified (its first request in this worker).

    The user is found or made from the token's issuer and subject, and a known user's email,
    name and groups are refreshed from its claims. The token stands for a session of its API
    client's device, opened on first use. Raises ``TokenRefused`` when that session was
    revoked, or when the client was revoked in the second the token was issued or
    authenticated, or later. Remembers the token, so its next requests take
    ``cached_bearer_principal``. A deactivated account's token raises ``AccountDeactivated``.
    """
    cfg = current_app.config
    user = identity.upsert_user(claims["iss"], claims, cfg["OIDC_GROUPS_CLAIM"])
    if user.is_deactivated:  # before any session is opened for the token
        raise AccountDeactivated()
    try:
        row = operations.sign_in_with_token(
            user,
            client_id=str(claims.get("client_id") or claims.get("azp") or "api"),
            token_id=f"{claims['iss']}#{claims['jti']}",
            token_expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
            auth_time=_timestamp(claims.get("auth_time")),
            issued_at=datetime.fromtimestamp(claims["iat"], UTC),
            client=client_info(),
            policy=session_policy(),
            geoip_database=cfg.get("GEOIP_DATABASE"),
            alert_policy=alert_policy(),
        )
    except opening.ClientRevoked:
        raise TokenRefused(
            "This API client was signed out after the token's sign-in; sign in again"
        ) from None
    if row is None or not ending.check_and_touch(row, session_policy()):
        raise TokenRefused("The access token has been revoked")
    token_cache().put(raw, VerifiedToken(claims, scopes, row.id))
    grants = [g.permission for g in user.grants]
    return _principal(row, grants, "bearer", scopes, groups=_groups_of(user))
