"""Checking IdP-issued JWT access tokens (RFC 9068) against the issuer's published keys."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from ..models.types import without_control_characters

log = logging.getLogger(__name__)

# Never "none", never an HMAC algorithm (which would let a public key act as a shared secret).
ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
JWKS_MIN_REFRESH_SECONDS = 10
JWKS_MAX_AGE_SECONDS = 3600
# A time claim at or past the end of 9999 is no time a datetime (or a session) can hold.
TIMESTAMP_LIMIT = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
# OIDC Core 2 caps ``sub`` at 255 ASCII characters; ``jti`` and the client's id get as much.
IDENTIFIER_LIMIT = 255


class InvalidToken(Exception):
    """The token cannot be accepted; the message is safe to show to the caller."""


def _refresh_due(cached: tuple[KeySet, float, list[str]], kid: str | None, now: float) -> bool:
    """Whether keys fetched before are fetched again: once they are stale, or sooner for a
    ``kid`` they lack (rate-limited to once in ``JWKS_MIN_REFRESH_SECONDS``)."""
    keys, fetched_at, _ = cached
    age = now - fetched_at
    unknown_kid = kid is not None and not any(k.kid == kid for k in keys.keys)
    return age > JWKS_MAX_AGE_SECONDS or (unknown_kid and age > JWKS_MIN_REFRESH_SECONDS)


class JwksCache:
    """The issuer's key set, fetched once and refreshed on an unknown ``kid`` (rate-limited)."""

    def __init__(self, timeout: float = 10):
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[KeySet, float, list[str]]] = {}
        self.timeout = timeout

    def _fetch(self, jwks_uri: str) -> tuple[KeySet, float, list[str]]:
        response = requests.get(jwks_uri, timeout=self.timeout)
        response.raise_for_status()
        data = response.json()
        # Only signing keys of asymmetric types can verify our tokens.
        keys = [
            k
            for k in data.get("keys", [])
            if k.get("kty") in ("RSA", "EC", "OKP") and k.get("use", "sig") == "sig"
        ]
        algs = sorted({k["alg"] for k in keys if k.get("alg") in ASYMMETRIC_ALGORITHMS})
        return KeySet.import_key_set({"keys": keys}), time.monotonic(), algs

    def get(self, jwks_uri: str, kid: str | None) -> tuple[KeySet, list[str]]:
        with self._lock:
            cached = self._keys.get(jwks_uri)
            if cached is None or _refresh_due(cached, kid, time.monotonic()):
                try:
                    cached = self._fetch(jwks_uri)
                    self._keys[jwks_uri] = cached
                except (requests.RequestException, ValueError, JoseError) as exc:
                    log.warning("could not fetch JWKS from %s: %s", jwks_uri, exc)
                    if cached is None:
                        raise InvalidToken("The token issuer's keys are unavailable") from None
            return cached[0], cached[2]


def validate_access_token(
    raw: str,
    *,
    issuer: str,
    audience: str,
    jwks_uri: str,
    published_algorithms: list[str],
    cache: JwksCache,
    leeway: int = 30,
) -> dict[str, Any]:
    """The verified claims of an RFC 9068 access token, or InvalidToken saying what is wrong."""
    if raw.count(".") != 2:
        raise InvalidToken("The access token is malformed")
    try:
        header = extract_compact(raw.encode()).headers()  # unverified: only to pick a key
    except (JoseError, ValueError):
        raise InvalidToken("The access token is malformed") from None
    typ = str(header.get("typ", "")).lower()
    if typ not in ("at+jwt", "application/at+jwt"):
        raise InvalidToken("The token is not a JWT access token (typ must be at+jwt)")
    keys, key_algs = cache.get(jwks_uri, header.get("kid"))
    allowed = [
        a for a in (key_algs or published_algorithms or ["RS256"]) if a in ASYMMETRIC_ALGORITHMS
    ]
    if header.get("alg") not in allowed:
        raise InvalidToken("The access token is signed with an algorithm that is not accepted")
    try:
        token = jwt.decode(raw, keys, algorithms=allowed)
    except JoseError:
        raise InvalidToken("The access token signature is invalid") from None
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        iat={"essential": True},  # RFC 9068 2.2; a revoked client's tokens are told by it
        sub={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        name = getattr(exc, "claim", None) or ""
        if "expired" in str(exc).lower() or exc.error == "expired_token":
            raise InvalidToken("The access token has expired") from None
        if name == "aud" or "aud" in str(exc):
            raise InvalidToken("The access token is not meant for this API (audience)") from None
        if name == "iss" or "iss" in str(exc):
            raise InvalidToken("The access token was issued by an unknown issuer") from None
        raise InvalidToken(f"The access token's claims are invalid ({exc.error})") from None
    _check_claim_shapes(claims)
    return claims


def _is_time(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value < TIMESTAMP_LIMIT
    )


def _is_identifier(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= IDENTIFIER_LIMIT
        and without_control_characters(value) == value
    )


def _check_claim_shapes(claims: dict[str, Any]) -> None:
    """Claims the portal uses, of the type and size it can use them at: a validly signed token
    may still say what no IdP would (an ``exp`` in the year 33658, a numeric ``scope``, a
    5,000-character ``sub``), and is then refused like any other bad token."""
    for name in ("exp", "iat", "auth_time"):
        if name in claims and not _is_time(claims[name]):
            raise InvalidToken(f"The access token's {name} claim is not a time")
    if not _is_identifier(claims["sub"]):
        raise InvalidToken("The access token's sub claim is not a string of 1 to 255 characters")
    for name in ("jti", "client_id", "azp"):
        if claims.get(name) is not None and not _is_identifier(claims[name]):
            raise InvalidToken(
                f"The access token's {name} claim is not a string of 1 to 255 characters"
            )
    scope, scp = claims.get("scope"), claims.get("scp")
    if scope is not None and not isinstance(scope, str):
        raise InvalidToken("The access token's scope claim is not a space-separated string")
    if scp is not None and not (
        isinstance(scp, str) or (isinstance(scp, list) and all(isinstance(s, str) for s in scp))
    ):
        raise InvalidToken("The access token's scp claim is not a list of strings")


def scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    """Scopes from ``scope`` (a space-separated string) or ``scp`` (a list, or a string)."""
    value = claims.get("scope")
    if value is None:
        value = claims.get("scp")
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"

# One key cache per process for everything the issuer signs (access and logout tokens).
jwks_cache = JwksCache()


def validate_logout_token(
    raw: str,
    *,
    issuer: str,
    client_id: str,
    jwks_uri: str,
    published_algorithms: list[str],
    cache: JwksCache,
    max_age: int,
    leeway: int = 30,
) -> dict[str, Any]:
    """The verified claims of an OIDC Back-Channel Logout 1.0 logout token (section 2.6).

    Checks the signature against the issuer's keys (asymmetric algorithms only), ``iss``,
    ``aud`` (the portal's client id), ``iat`` (no older than ``max_age`` seconds), ``exp`` when
    present, the back-channel logout event, ``sid`` and/or ``sub``, and that there is no
    ``nonce``. Replay (``jti`` seen before) is the caller's to check, against the database.
    """
    if raw.count(".") != 2:
        raise InvalidToken("The logout token is malformed")
    try:
        header = extract_compact(raw.encode()).headers()
    except (JoseError, ValueError):
        raise InvalidToken("The logout token is malformed") from None
    typ = str(header.get("typ", "")).lower()
    if typ and typ not in ("jwt", "logout+jwt", "application/logout+jwt"):
        raise InvalidToken("The token is not a logout token (typ)")
    keys, key_algs = cache.get(jwks_uri, header.get("kid"))
    allowed = [
        a for a in (key_algs or published_algorithms or ["RS256"]) if a in ASYMMETRIC_ALGORITHMS
    ]
    if header.get("alg") not in allowed:
        raise InvalidToken("The logout token is signed with an algorithm that is not accepted")
    try:
        claims = jwt.decode(raw, keys, algorithms=allowed).claims
    except JoseError:
        raise InvalidToken("The logout token signature is invalid") from None
    registry = jwt.JWTClaimsRegistry(
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        iat={"essential": True},
        jti={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise InvalidToken(f"The logout token's claims are invalid ({exc.error})") from None
    iat = claims["iat"]
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise InvalidToken("The logout token's iat is not a number")
    if iat < time.time() - max_age - leeway:
        raise InvalidToken("The logout token is too old (iat)")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise InvalidToken("The logout token has no back-channel logout event")
    if "nonce" in claims:
        raise InvalidToken("A logout token must not carry a nonce")
    sid, sub = claims.get("sid"), claims.get("sub")
    if not (isinstance(sid, str) and sid) and not (isinstance(sub, str) and sub):
        raise InvalidToken("The logout token names neither a session (sid) nor a user (sub)")
    if not isinstance(claims["jti"], str) or not claims["jti"]:
        raise InvalidToken("The logout token's jti is not a string")
    return claims
