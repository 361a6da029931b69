"""Checking a Security Event Token a transmitter sent, as strictly as a bearer token: the
signature against the transmitter's published keys (by ``kid``; asymmetric algorithms only,
never ``none`` or HMAC; keys fetched again once for an unknown ``kid``), ``typ``
``secevent+jwt``, ``iss``, ``aud``, ``iat`` neither in the future nor older than
``PORTAL_SSF_RECEIVE_MAX_AGE``, ``exp`` when present, and exactly one event. A refusal carries
RFC 8935's error code and words for the transmitter; a replay is the operation's to tell.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

from ..auth.tokens import ASYMMETRIC_ALGORITHMS, InvalidToken, JwksCache
from ..models.types import without_control_characters
from ..services.received.events import ReceivedEvent
from .transmitters import Transmitter, TransmitterUnavailable, jwks_url

SET_TYPES = ("secevent+jwt", "application/secevent+jwt")
# Clocks differ a little: an ``iat`` this far ahead is still now.
LEEWAY_SECONDS = 60

keys_cache = JwksCache()


class Refused(Exception):
    """The SET is not accepted: RFC 8935's ``err`` and a ``description``, and the status."""

    def __init__(self, err: str, description: str, status: int = 400):
        super().__init__(description)
        self.err, self.description, self.status = err, description, status

    def body(self) -> dict[str, str]:
        return {"err": self.err, "description": self.description}


def _header(raw: str) -> dict[str, Any]:
    if raw.count(".") != 2:
        raise Refused("invalid_request", "The body is not a signed SET (a compact JWS)")
    try:
        return jws.extract_compact(raw.encode()).headers()  # unverified: only to pick a key
    except (JoseError, ValueError, UnicodeError):
        raise Refused("invalid_request", "The body is not a signed SET (a compact JWS)") from None


def _verified_claims(raw: str, transmitter: Transmitter) -> dict[str, Any]:
    header = _header(raw)
    if str(header.get("typ", "")).lower() not in SET_TYPES:
        raise Refused("invalid_request", "The SET's typ is not secevent+jwt")
    alg = header.get("alg")
    if alg not in ASYMMETRIC_ALGORITHMS:
        raise Refused("invalid_key", f"The SET is signed with {str(alg)[:20]!r}, not accepted")
    try:
        keys, _ = keys_cache.get(jwks_url(transmitter), header.get("kid"))
    except (TransmitterUnavailable, InvalidToken):
        raise Refused(
            "invalid_key", "The transmitter's keys cannot be fetched now; try again later", 503
        ) from None
    if header.get("kid") is not None and not any(k.kid == header["kid"] for k in keys.keys):
        raise Refused("invalid_key", "The SET's kid is not one of the transmitter's keys")
    try:
        payload = jws.deserialize_compact(raw, keys, algorithms=[alg]).payload
    except (JoseError, ValueError):
        raise Refused("invalid_key", "The SET's signature does not verify") from None
    try:
        claims = json.loads(payload)
    except ValueError:
        claims = None
    if not isinstance(claims, dict):
        raise Refused("invalid_request", "The SET's payload is not a JSON object")
    return claims


def _time(value: Any) -> float | None:
    """A time claim as seconds, or None when it is not one."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 2**42:
        return float(value)
    return None


def check_set(
    raw: str, transmitter: Transmitter, *, max_age: int, now: float | None = None
) -> ReceivedEvent:
    """The verified SET as the operation takes it, or ``Refused``."""
    now = time.time() if now is None else now
    claims = _verified_claims(raw, transmitter)
    if claims.get("iss") != transmitter.issuer:
        raise Refused("invalid_issuer", "The SET's iss is not this transmitter's issuer")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if transmitter.audience not in audiences:
        raise Refused("invalid_audience", "The SET's aud is not this receiver")
    iat = _time(claims.get("iat"))
    if iat is None:
        raise Refused("invalid_request", "The SET has no iat")
    if iat > now + LEEWAY_SECONDS:
        raise Refused("invalid_request", "The SET's iat is in the future")
    if iat < now - max_age:
        raise Refused("invalid_request", "The SET is older than this receiver accepts")
    exp = claims.get("exp")
    if exp is not None and ((t := _time(exp)) is None or t <= now - LEEWAY_SECONDS):
        raise Refused("invalid_request", "The SET has expired")
    jti = claims.get("jti")
    if not (
        isinstance(jti, str) and 0 < len(jti) <= 255 and without_control_characters(jti) == jti
    ):
        raise Refused("invalid_request", "The SET's jti is not a string of 1 to 255 characters")
    events = claims.get("events")
    if not isinstance(events, dict) or len(events) != 1:
        raise Refused("invalid_request", "A SET must carry exactly one event")
    [(event_type, body)] = events.items()
    if not isinstance(body, dict):
        raise Refused("invalid_request", "The event's payload is not a JSON object")
    subject = claims.get("sub_id", body.get("subject"))
    if subject is not None and not isinstance(subject, dict):
        raise Refused("invalid_request", "The SET's sub_id is not a subject identifier")
    if not transmitter.may_send(event_type):
        raise Refused("access_denied", "This transmitter may not send this event", 403)
    return ReceivedEvent(
        transmitter=transmitter.issuer,
        jti=claims["jti"],
        issued_at=datetime.fromtimestamp(iat, UTC),
        event_type=event_type,
        body=body,
        subject=subject,
    )
