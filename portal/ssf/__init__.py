"""The portal as a Shared Signals (SSF 1.0) transmitter: its metadata at
``/.well-known/ssf-configuration`` and its public keys, so receivers can check the events the
worker pushes to them (``push``).

Two ways to have receivers: streams they manage themselves (``PORTAL_SSF_STREAMS``; the
management API is ``api.ssf_routes``, and the metadata names its endpoints as the CAEP
interoperability profile requires), or the one receiver of ``PORTAL_SSF_RECEIVER_URL``, set up
out of band (push and session-revoked only). Not found (404) with neither: then the portal
transmits nothing.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, url_for
from joserfc import jwt

from ..authz import public
from ..config import ConfigError
from ..extensions import db
from ..services.outbox import signals, stream_events
from ..services.streams import configuration as streams
from . import keys


class _TransmitterBlueprint(Blueprint):
    cookieless = True  # read by receivers, never by a signed-in browser


bp = _TransmitterBlueprint("ssf", __name__)
JWKS_PATH = "/ssf/jwks.json"


def signing_key() -> keys.SigningKey:
    """The app's signing key, read once per process (generated once in development)."""
    found = current_app.extensions.get("ssf_signing_key")
    if found is None:
        path = current_app.config["SSF_SIGNING_KEY_FILE"]
        found = (
            keys.read_signing_key(path) if path else keys.generated_key(current_app.instance_path)
        )
        current_app.extensions["ssf_signing_key"] = found
    return found


def sign(claims: dict) -> str:
    """The SET of these claims, signed with the portal's key (``typ: secevent+jwt``, its
    ``kid``): when it leaves, pushed (``push``) or handed to a poll."""
    key = signing_key()
    header = {"alg": key.alg, "kid": key.kid, "typ": "secevent+jwt"}
    return jwt.encode(header, claims, key.key, algorithms=[key.alg])


def previous_key() -> keys.SigningKey | None:
    """The rotated-out key still published (``PORTAL_SSF_PREVIOUS_KEY_FILE``), read once."""
    path = current_app.config.get("SSF_PREVIOUS_KEY_FILE")
    if not path:
        return None
    found = current_app.extensions.get("ssf_previous_key")
    if found is None:
        found = keys.read_previous_key(path)
        current_app.extensions["ssf_previous_key"] = found
    return found


def published_keys() -> list[dict]:
    """The JWKS's keys: the signing key first, then the one it replaced while that is kept."""
    current = signing_key()
    published = [current.public_jwk()]
    before = previous_key()
    if before is not None and before.kid != current.kid:
        published.append(before.public_jwk())
    return published


def _transmitter() -> signals.Transmitter:
    found = signals.Transmitter.from_config(current_app.config)
    if found is None:
        abort(404)
    return found


# The management API's endpoints (``api.ssf_routes``), by endpoint name.
_ENDPOINTS = {
    "configuration_endpoint": "api_ssf.create_stream",
    "status_endpoint": "api_ssf.read_status",
    "add_subject_endpoint": "api_ssf.add_subject",
    "remove_subject_endpoint": "api_ssf.remove_subject",
    "verification_endpoint": "api_ssf.verify",
}


def _managed_streams() -> dict:
    """The metadata when receivers manage their streams: every member the CAEP
    interoperability profile requires (section 2.3), the endpoints under the issuer."""
    issuer = current_app.config["SSF_ISSUER"]
    return {
        "spec_version": "1_0",
        "issuer": issuer,
        "jwks_uri": issuer + JWKS_PATH,
        "delivery_methods_supported": list(streams.DELIVERY_METHODS),
        **{name: issuer + url_for(endpoint) for name, endpoint in _ENDPOINTS.items()},
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
        "default_subjects": "ALL",
        "events_supported": list(streams.EVENTS_SUPPORTED),
    }


@bp.get("/.well-known/ssf-configuration")
@public
def configuration():
    """Transmitter configuration metadata (SSF 1.0 section 7.1). With managed streams, the
    management API's endpoints and both delivery methods; with only the receiver of the
    settings, none is advertised and push is the one delivery method."""
    if current_app.config.get("SSF_STREAMS"):
        return _managed_streams(), 200, {"Cache-Control": "public, max-age=300"}
    transmitter = _transmitter()
    return (
        {
            "spec_version": "1_0",
            "issuer": transmitter.issuer,
            "jwks_uri": transmitter.issuer + JWKS_PATH,
            "delivery_methods_supported": [signals.PUSH_DELIVERY],
            "events_supported": [signals.SESSION_REVOKED],
            "critical_subject_members": ["session"],
        },
        200,
        {"Cache-Control": "public, max-age=300"},
    )


@bp.get(JWKS_PATH)
@public
def jwks():
    """The public keys events are checked with: the signing key's and, during a rotation, the
    previous key's."""
    if not current_app.config.get("SSF_STREAMS"):
        _transmitter()
    return {"keys": published_keys()}, 200, {"Cache-Control": "public, max-age=300"}


def check_signing_key(config) -> None:
    """Read the signing key at start-up when there is a receiver to sign for, so a bad key
    file stops the portal (a ConfigError naming the variable) rather than the first send."""
    if not (config.get("SSF_RECEIVER_URL") or config.get("SSF_STREAMS")):
        return
    path = config.get("SSF_SIGNING_KEY_FILE")
    previous = config.get("SSF_PREVIOUS_KEY_FILE")
    try:
        if path:
            keys.read_signing_key(path)
    except keys.InvalidSigningKey as exc:
        raise ConfigError(f"PORTAL_SSF_SIGNING_KEY_FILE: {exc}") from None
    try:
        if previous:
            keys.read_previous_key(previous)
    except keys.InvalidSigningKey as exc:
        raise ConfigError(f"PORTAL_SSF_PREVIOUS_KEY_FILE: {exc}") from None


def init_app(app) -> None:
    from ..extensions import csrf
    from . import events

    check_signing_key(app.config)
    app.register_blueprint(bp)
    app.register_blueprint(events.bp)
    csrf.exempt(events.bp)  # a transmitter's bearer token is the authentication
    # The poll route (``api.ssf_poll_routes``) signs what it hands out with this, by name,
    # since the JSON layer does not import the transmitter.
    app.extensions["ssf_signer"] = sign
    with app.app_context():
        signals.use_transmitter(db.engine, signals.Transmitter.from_config(app.config))
        streams_issuer = app.config["SSF_ISSUER"] if app.config.get("SSF_STREAMS") else None
        stream_events.use_issuer(db.engine, streams_issuer)
