"""The Shared Signals settings that depend on each other: telling one configured receiver,
receivers managing their own streams, and the transmitters the portal receives from. Apart
from ``Settings`` so that the settings module stays readable; ``self`` is that object."""

from __future__ import annotations

from typing import Any


def check(self: Any, production: bool) -> None:
    """Refuse SSF settings that cannot work together (each error names the variable)."""
    if self.SSF_RECEIVER_URL:
        _check_transmitter(self, production)
    if self.SSF_STREAMS and not (self.SSF_ISSUER and self.API_AUDIENCE):
        raise ValueError(
            "PORTAL_SSF_STREAMS needs PORTAL_SSF_ISSUER (the portal's public origin, the "
            "events' iss) and PORTAL_API_AUDIENCE (the aud of the receivers' tokens)"
        )
    if self.SSF_STREAMS and production and not self.SSF_SIGNING_KEY_FILE:
        raise ValueError(
            "PORTAL_SSF_SIGNING_KEY_FILE (a private RSA key of 2048 bits or more, JWK or PEM) "
            "is required in production when PORTAL_SSF_STREAMS is on"
        )
    transmitters(self)  # refuses a transmitter it cannot receive from


def transmitters(self: Any) -> list[dict]:
    """Every transmitter the portal receives from, as one list (the single
    ``PORTAL_SSF_RECEIVE_*`` variables first): each with an issuer, an audience, a way
    in (a push token or a poll URL), and a push token of its own."""
    single = {
        "issuer": self.SSF_RECEIVE_ISSUER or self.OIDC_ISSUER,
        "token": self.SSF_RECEIVE_TOKEN,
        "audience": self.SSF_RECEIVE_AUDIENCE,
        "jwks_url": self.SSF_RECEIVE_JWKS_URL,
        "poll_url": self.SSF_RECEIVE_POLL_URL,
        "client_id": self.SSF_RECEIVE_CLIENT_ID,
        "client_secret": self.SSF_RECEIVE_CLIENT_SECRET,
        "token_url": self.SSF_RECEIVE_TOKEN_URL,
        "resource": self.SSF_RECEIVE_RESOURCE,
        "events": None,
    }
    given = [dict(one) for one in self.SSF_RECEIVE_TRANSMITTERS]
    if single["token"] or single["poll_url"]:
        given.insert(0, single)
    tokens: set[str] = set()
    for i, one in enumerate(given):
        where = "PORTAL_SSF_RECEIVE_*" if one is single else f"PORTAL_SSF_RECEIVE_TRANSMITTERS[{i}]"
        if not one["issuer"]:
            raise ValueError(f"{where}: the transmitter's issuer is required")
        if not (one["token"] or one["poll_url"]):
            raise ValueError(f"{where}: a push token or a poll URL is required")
        one["audience"] = one["audience"] or self.SSF_RECEIVE_AUDIENCE or self.SSF_ISSUER
        if not one["audience"]:
            raise ValueError(
                f"{where}: an audience is required (PORTAL_SSF_RECEIVE_AUDIENCE, or "
                "PORTAL_SSF_ISSUER, the portal's public origin)"
            )
        if one["token"] in tokens:
            raise ValueError(f"{where}: each transmitter needs a push token of its own")
        if one["token"]:
            tokens.add(one["token"])
    return given


def _check_transmitter(self: Any, production: bool) -> None:
    """Telling the IdP about ended sessions (``portal.ssf``) needs the portal's origin,
    an audience and, in production, a key. (``portal.ssf`` reads the key at start-up.)"""
    if not self.SSF_ISSUER:
        raise ValueError(
            "PORTAL_SSF_ISSUER (the portal's public origin, e.g. https://devices.example.com) "
            "is required when PORTAL_SSF_RECEIVER_URL is set"
        )
    self.SSF_AUDIENCE = self.SSF_AUDIENCE or self.OIDC_ISSUER
    if not self.SSF_AUDIENCE:
        raise ValueError("PORTAL_SSF_AUDIENCE is required when there is no PORTAL_OIDC_ISSUER")
    if not self.SSF_SIGNING_KEY_FILE and production:
        raise ValueError(
            "PORTAL_SSF_SIGNING_KEY_FILE (a private RSA key of 2048 bits or more, JWK or PEM) "
            "is required in production when PORTAL_SSF_RECEIVER_URL is set"
        )
