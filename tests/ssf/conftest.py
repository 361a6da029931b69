"""Fixtures of the Shared Signals tests: the portal with managed streams on, the test IdP's
client-credentials tokens of the two receivers, and the tests' own transmitter with the portal
set to receive from it."""

from __future__ import annotations

import pytest
from support.ssf_streams import ISSUER
from support.ssf_transmitter import PORTAL_AUDIENCE, RECEIVE_TOKEN, FakeTransmitter


@pytest.fixture
def streams_on(app_config, ssf_signing_key):
    """Receivers manage their own streams (request it before ``app``)."""
    app_config.update(
        SSF_STREAMS=True, SSF_ISSUER=ISSUER, SSF_SIGNING_KEY_FILE=str(ssf_signing_key)
    )


@pytest.fixture(scope="session")
def receiver_tokens(idp):
    """``token(client, scope)``: a client-credentials access token, fetched once per session
    (they live an hour at the IdP)."""
    made: dict[tuple[str, str], str] = {}

    def token(client_id: str = "ssf-receiver-1", scope: str = "ssf.manage ssf.read") -> str:
        if (client_id, scope) not in made:
            made[client_id, scope] = idp.client_token(client_id, scope=scope)
        return made[client_id, scope]

    return token


@pytest.fixture(scope="session")
def transmitter():
    """The test transmitter, for the whole session."""
    t = FakeTransmitter()
    yield t
    t.stop()


@pytest.fixture
def receiving(app_config, transmitter):
    """The portal receives from the test transmitter by push (request it before ``app``)."""
    transmitter.reset()
    app_config.update(
        SSF_RECEIVE_TOKEN=RECEIVE_TOKEN,
        SSF_RECEIVE_ISSUER=transmitter.issuer,
        SSF_RECEIVE_AUDIENCE=PORTAL_AUDIENCE,
    )
    return transmitter
