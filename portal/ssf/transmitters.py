"""The transmitters the portal receives Security Event Tokens from (``PORTAL_SSF_RECEIVE_*``,
``PORTAL_SSF_RECEIVE_TRANSMITTERS``): which one a push's bearer token is, where each one's keys
and endpoints are (its SSF metadata, or the OIDC issuer's discovery when the transmitter is
the IdP and publishes none), and an OAuth access token for its poll and stream endpoints.
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import current_app

from ..auth.idp import SignInFailed, idp_metadata
from ..services.received.events import UNDERSTOOD

METADATA_MAX_AGE_SECONDS = 3600
# The scope every stream management and poll request is made with (CAEP interop 1.0).
MANAGE_SCOPE = "ssf.manage"


class TransmitterUnavailable(Exception):
    """A transmitter's metadata, keys or token endpoint cannot be reached or read now."""


@dataclass(frozen=True)
class Transmitter:
    """One transmitter, as its settings say (``config.SSF_RECEIVE_FROM``)."""

    issuer: str
    audience: str
    token: str | None = None
    jwks_url: str | None = None
    poll_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    resource: str | None = None
    events: tuple[str, ...] | None = None

    @classmethod
    def of(cls, given: dict[str, Any]) -> Transmitter:
        events = given.get("events")
        return cls(**{**given, "events": tuple(events) if events is not None else None})

    def may_send(self, event_type: str) -> bool:
        """Whether this transmitter is allowed the event (an unknown type always is: it
        changes nothing)."""
        return self.events is None or event_type in self.events or event_type not in UNDERSTOOD


def configured(config: Any = None) -> list[Transmitter]:
    """Every transmitter the app receives from, the single ``PORTAL_SSF_RECEIVE_*`` one first."""
    config = config if config is not None else current_app.config
    return [Transmitter.of(t) for t in config.get("SSF_RECEIVE_FROM") or []]


def by_push_token(presented: str) -> Transmitter | None:
    """The transmitter whose push token this is. Every configured token is compared, each in
    constant time, so the answer's timing says nothing about any of them."""
    found = None
    for transmitter in configured():
        if transmitter.token and hmac.compare_digest(
            transmitter.token.encode(), presented.encode()
        ):
            found = transmitter
    return found


def well_known_url(issuer: str) -> str:
    """SSF 1.0 section 7.2: ``/.well-known/ssf-configuration`` inserted between the issuer's
    host and its path."""
    parts = urlsplit(issuer)
    path = "/.well-known/ssf-configuration" + parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


_metadata: dict[str, tuple[dict, float]] = {}
_metadata_lock = threading.Lock()


def metadata(issuer: str, *, refresh: bool = False) -> dict:
    """The transmitter's SSF configuration metadata ({} when it publishes none), cached."""
    with _metadata_lock:
        cached = _metadata.get(issuer)
        if cached and not refresh and time.monotonic() - cached[1] < METADATA_MAX_AGE_SECONDS:
            return cached[0]
    try:
        response = requests.get(
            well_known_url(issuer), timeout=current_app.config["SSF_TIMEOUT"], allow_redirects=False
        )
    except requests.RequestException as exc:
        raise TransmitterUnavailable(f"SSF metadata of {issuer}: {exc}") from None
    if response.status_code == 404:
        found: dict = {}
    elif response.status_code != 200:
        raise TransmitterUnavailable(f"SSF metadata of {issuer}: HTTP {response.status_code}")
    else:
        try:
            found = response.json()
        except ValueError:
            raise TransmitterUnavailable(f"SSF metadata of {issuer} is not JSON") from None
        if not isinstance(found, dict) or str(found.get("issuer", "")).rstrip("/") != issuer:
            raise TransmitterUnavailable(f"SSF metadata of {issuer} names another issuer")
    with _metadata_lock:
        _metadata[issuer] = (found, time.monotonic())
    return found


def _oidc_metadata(issuer: str) -> dict:
    """The OIDC issuer's discovery document, when the transmitter is the portal's IdP."""
    if issuer != current_app.config.get("OIDC_ISSUER"):
        return {}
    try:
        return idp_metadata()
    except (SignInFailed, requests.RequestException, ValueError) as exc:
        raise TransmitterUnavailable(f"OIDC discovery of {issuer}: {exc}") from None


def jwks_url(transmitter: Transmitter) -> str:
    """Where the transmitter's keys are: as configured, else its SSF metadata's ``jwks_uri``,
    else (the IdP without SSF metadata) its OIDC ``jwks_uri``."""
    if transmitter.jwks_url:
        return transmitter.jwks_url
    found = metadata(transmitter.issuer).get("jwks_uri") or _oidc_metadata(transmitter.issuer).get(
        "jwks_uri"
    )
    if not isinstance(found, str) or not found:
        raise TransmitterUnavailable(f"no jwks_uri for {transmitter.issuer}")
    return found


_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def access_token(transmitter: Transmitter) -> str | None:
    """An access token for the transmitter's poll and stream endpoints (client credentials,
    scope ``ssf.manage``), cached until shortly before it expires; None without a client."""
    if not (transmitter.client_id and transmitter.client_secret):
        return None
    url = transmitter.token_url or _oidc_metadata(current_app.config.get("OIDC_ISSUER") or "").get(
        "token_endpoint"
    )
    if not url:
        raise TransmitterUnavailable("no token endpoint (PORTAL_SSF_RECEIVE_TOKEN_URL)")
    key = (url, transmitter.client_id)
    with _tokens_lock:
        cached = _tokens.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
    form = {"grant_type": "client_credentials", "scope": MANAGE_SCOPE}
    if transmitter.resource:
        form["resource"] = transmitter.resource
    try:
        response = requests.post(
            url,
            data=form,
            auth=(transmitter.client_id, transmitter.client_secret),
            timeout=current_app.config["SSF_TIMEOUT"],
        )
        body = response.json()
        token, lifetime = body["access_token"], float(body.get("expires_in", 300))
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise TransmitterUnavailable(f"no access token from {url}: {type(exc).__name__}") from None
    with _tokens_lock:
        _tokens[key] = (token, time.monotonic() + max(lifetime - 30, 0))
    return token
