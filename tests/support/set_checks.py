"""Checking a Security Event Token as a receiver would, with two JOSE libraries: joserfc (the
portal signs with it) and authlib's jose (which the portal does not use), against the
portal's published JWKS; and what SSF 1.0 section 4 asks of every SET."""

from __future__ import annotations

from authlib.jose import JsonWebKey
from authlib.jose import jwt as authlib_jwt
from joserfc import jwt
from joserfc.jwk import KeySet


def verified(token: str, jwks: dict) -> dict:
    """The SET's claims, once both libraries verified it with ``jwks`` (RS256 only)."""
    first = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert first.header["alg"] == "RS256" and first.header["typ"] == "secevent+jwt"
    assert first.header["kid"] in {key["kid"] for key in jwks["keys"]}
    second = authlib_jwt.decode(token, JsonWebKey.import_key_set(jwks))
    second.validate()
    assert second.header["alg"] == "RS256"
    assert dict(second) == first.claims
    claims = first.claims
    assert "sub" not in claims and "exp" not in claims  # SSF 1.0 sections 4.1.2, 4.1.5
    assert len(claims["events"]) == 1  # the profile's "events" claim: one event
    assert isinstance(claims["iat"], int) and claims["jti"]
    return claims


def event_of(claims: dict) -> tuple[str, dict]:
    [(event_type, event)] = claims["events"].items()
    return event_type, event
