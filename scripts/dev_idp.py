"""``make run``'s identity provider: oidc-provider-mock, with two additions so that a local run
shows the portal's Shared Signals end to end.

- Its ID tokens carry a ``sid`` (OIDC Front-/Back-Channel Logout), one per sign-in: the mock
  keeps no single sign-on session, so each authorization code stands for one. The portal only
  tells the IdP about sessions it knows the IdP's ``sid`` of.
- ``POST /ssf/events`` is a Shared Signals push receiver (RFC 8935) that checks each SET
  against the portal's JWKS and prints it to the terminal, as the mail catcher prints mail.

The ``sid`` comes from a subclass of the mock's OpenID Connect grant extension, put in place
while the mock's app is built (the mock offers no hook for extra ID token claims);
``tests/platform/test_dev_idp.py`` fails if a new version of the mock stops taking it.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import flask
import oidc_provider_mock
import requests
import werkzeug.serving
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from oidc_provider_mock import _app as mock_internals


class _SessionIdCode(mock_internals.OpenIDCode):
    """The mock's OpenID grant extension, adding a ``sid`` to each ID token."""

    def get_authorization_code_claims(self, authorization_code):
        claims = super().get_authorization_code_claims(authorization_code)
        claims["sid"] = session_id(authorization_code.code)
        return claims


def session_id(code: str) -> str:
    """The IdP session id of the sign-in that got ``code``: derived, so nothing is stored."""
    return "dev-" + hashlib.sha256(code.encode()).hexdigest()[:32]


def _answer(status: int, err: str | None = None, description: str = "") -> flask.Response:
    if err is None:
        return flask.Response(status=status)
    return flask.Response(
        json.dumps({"err": err, "description": description}),
        status=status,
        mimetype="application/json",
    )


def receive_set(transmitter_jwks_url: str) -> flask.Response:
    """One pushed SET: checked with the transmitter's current keys, printed, 202 (RFC 8935)."""
    token = flask.request.get_data(as_text=True).strip()
    try:
        keyset = KeySet.import_key_set(requests.get(transmitter_jwks_url, timeout=5).json())
        decoded = jwt.decode(token, keyset, algorithms=["RS256", "ES256"])
    except (JoseError, ValueError, requests.RequestException) as exc:
        print(f"  SET refused: {type(exc).__name__}: {exc}", flush=True)
        return _answer(400, "invalid_key", f"{type(exc).__name__}")
    rule = "-" * 72
    body = json.dumps(decoded.claims, indent=2)
    print(f"\n{rule}\n  Shared Signals event (kid {decoded.header.get('kid')}):\n{body}\n{rule}")
    sys.stdout.flush()
    return _answer(202)


def build(
    users: Sequence[oidc_provider_mock.User], *, transmitter_jwks_url: str | None
) -> flask.Flask:
    """The development IdP's app; a receiver at ``/ssf/events`` when a transmitter is named."""
    original = mock_internals.OpenIDCode
    mock_internals.OpenIDCode = _SessionIdCode  # type: ignore[misc]
    try:
        app = oidc_provider_mock.app(require_nonce=True, user_claims=users)
    finally:
        mock_internals.OpenIDCode = original  # type: ignore[misc]
    if transmitter_jwks_url:
        app.add_url_rule(
            "/ssf/events",
            "ssf_events",
            lambda: receive_set(transmitter_jwks_url),
            methods=["POST"],
        )
    return app


@contextmanager
def serve_in_thread(
    port: int,
    users: Sequence[oidc_provider_mock.User],
    *,
    transmitter_jwks_url: str | None = None,
) -> Iterator[werkzeug.serving.BaseWSGIServer]:
    """The development IdP on 127.0.0.1:``port`` in a thread, stopped when the block ends."""
    server = werkzeug.serving.make_server(
        "127.0.0.1", port, build(users, transmitter_jwks_url=transmitter_jwks_url), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(2)
        server.server_close()
