"""Bearer-token authentication for the JSON routes; cookies are never consulted here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import current_app, g, request

from ..auth.idp import SignInFailed, idp_metadata
from ..auth.personal_tokens import is_personal_token, personal_token_principal
from ..auth.principal import (
    Principal,
    TokenRefused,
    bearer_principal,
    cached_bearer_principal,
)
from ..auth.tokens import InvalidToken, jwks_cache, scopes_of, validate_access_token
from ..authz import access_rule
from ..services.devices.versions import Kind
from ..services.operations import Actor
from .errors import ApiError


def _unauthorized(message: str) -> ApiError:
    safe = message.replace('"', "'")
    return ApiError(
        401,
        message,
        headers={
            "WWW-Authenticate": f'Bearer realm="device-portal", error="invalid_token", '
            f'error_description="{safe}"'
        },
    )


def _bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    if not header:
        raise ApiError(
            401,
            "Authentication required: send an Authorization: Bearer <token> header",
            headers={"WWW-Authenticate": 'Bearer realm="device-portal"'},
        )
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        raise _unauthorized("The Authorization header must be 'Bearer <token>'")
    return value


def _idp_claims(raw: str) -> dict[str, Any]:
    """The claims of the IdP's access token ``raw``, checked as RFC 9068 asks (signature by the
    IdP's keys, issuer, the API's audience, lifetime); raises ApiError(401) otherwise."""
    try:
        metadata = idp_metadata()
        return validate_access_token(
            raw,
            issuer=metadata["issuer"],
            audience=current_app.config["API_AUDIENCE"],
            jwks_uri=metadata["jwks_uri"],
            published_algorithms=metadata.get("id_token_signing_alg_values_supported", []),
            cache=jwks_cache,
        )
    except InvalidToken as exc:
        raise _unauthorized(str(exc)) from None
    except (SignInFailed, KeyError, OSError) as exc:
        current_app.logger.warning("cannot verify bearer tokens: %r", exc)
        raise _unauthorized("The token issuer cannot be reached to verify the token") from None


def authenticate(horizon: Kind | None = None) -> Principal:
    """Verify the bearer token and resolve the caller; raises ApiError(401) when it can't.
    ``horizon``: the polled list (``api.conditional``) whose horizon to read with the caller."""
    raw = _bearer_token()
    if is_personal_token(raw):  # the portal's own tokens: no IdP involved (auth.personal_tokens)
        try:
            return personal_token_principal(raw)
        except TokenRefused as exc:
            raise _unauthorized(str(exc)) from None
    cfg = current_app.config
    if not cfg.get("API_AUDIENCE") or not cfg.get("OIDC_ISSUER"):
        raise _unauthorized("Bearer tokens are not accepted: no API audience is configured")
    try:
        known = cached_bearer_principal(raw, horizon)
    except TokenRefused as exc:
        raise _unauthorized(str(exc)) from None
    if known is not None:
        return known
    claims = _idp_claims(raw)

    if not str(claims.get("jti") or ""):
        raise _unauthorized("The access token has no jti claim")
    try:
        return bearer_principal(raw, claims, scopes_of(claims))
    except TokenRefused as exc:
        raise _unauthorized(str(exc)) from None


def bearer(scope: str, permission: str | None = None) -> Callable:
    """JSON routes: a valid bearer token with ``scope``, and ``permission`` when given."""

    def decorator(view: Callable) -> Callable:
        horizon = getattr(view, POLLED_LIST_ATTR, None)

        @wraps(view)
        def wrapped(*args, **kwargs):
            principal = authenticate(horizon)
            if scope not in principal.scopes:
                raise ApiError(
                    403,
                    f"The access token lacks the {scope} scope",
                    headers={
                        "WWW-Authenticate": f'Bearer realm="device-portal", '
                        f'error="insufficient_scope", scope="{scope}"'
                    },
                )
            if permission and not principal.can(permission):
                raise ApiError(403, f"Missing permission {permission}")
            g.principal = principal
            return view(principal, *args, **kwargs)

        rule = f"bearer:{scope}" + (f"+permission:{permission}" if permission else "")
        setattr(wrapped, _REQUIREMENT_ATTR, (scope, permission))
        return access_rule(rule)(wrapped)

    return decorator


_REQUIREMENT_ATTR = "_api_bearer_requirement"
# Set by ``conditional.polled`` on its view: which list's horizon the caller's read brings.
POLLED_LIST_ATTR = "_api_polled_list"


def bearer_requirement(view: Callable) -> tuple[str, str | None] | None:
    """The (scope, permission) ``bearer`` demands of ``view``'s callers; the OpenAPI document
    reads them here, so it says what the route checks."""
    return getattr(view, _REQUIREMENT_ATTR, None)


@dataclass(frozen=True)
class ClientCaller:
    """A machine client calling with the IdP's access token (a Shared Signals receiver): no
    user, no session; ``client_id`` owns what it makes."""

    client_id: str
    scopes: frozenset[str]
    ip_address: str | None

    @property
    def actor(self) -> Actor:
        return Actor(None, ip_address=self.ip_address, via="ssf", label=f"client {self.client_id}")


def _insufficient_scope(scopes: tuple[str, ...]) -> ApiError:
    wanted = " ".join(scopes)
    return ApiError(
        403,
        f"The access token lacks the scope: {' or '.join(scopes)}",
        headers={
            "WWW-Authenticate": f'Bearer realm="device-portal", error="insufficient_scope", '
            f'scope="{wanted}"'
        },
    )


def authenticate_client() -> tuple[str, frozenset[str]]:
    """The client and scopes of the IdP's access token in the Authorization header (never a
    query parameter nor a form field, RFC 6750 2.1 alone); raises ApiError(401) otherwise. A
    personal token is no client's."""
    raw = _bearer_token()
    if is_personal_token(raw):
        raise _unauthorized("This API takes the identity provider's access tokens only")
    cfg = current_app.config
    if not cfg.get("API_AUDIENCE") or not cfg.get("OIDC_ISSUER"):
        raise _unauthorized("Bearer tokens are not accepted: no API audience is configured")
    claims = _idp_claims(raw)
    client_id = claims.get("client_id") or claims.get("azp")
    if not client_id:
        raise _unauthorized("The access token names no client (client_id)")
    return str(client_id), scopes_of(claims)


def client_bearer(*scopes: str, enabled: str | None = None) -> Callable:
    """JSON routes of machine clients: the IdP's access token with one of ``scopes``; the view
    gets a ``ClientCaller``. ``enabled``: the setting without which the routes are not there
    (404)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if enabled and not current_app.config.get(enabled):
                raise ApiError(404, "Not found")
            client_id, granted = authenticate_client()
            if not granted & set(scopes):
                raise _insufficient_scope(scopes)
            return view(ClientCaller(client_id, granted, request.remote_addr), *args, **kwargs)

        setattr(wrapped, _REQUIREMENT_ATTR, (scopes[0], None))
        return access_rule("bearer:" + "|".join(scopes))(wrapped)

    return decorator
