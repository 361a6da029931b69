"""Fixtures of the receiver's tests: the tests' own Shared Signals transmitter, and the portal
set to receive from it."""

from __future__ import annotations

import pytest
from support.ssf_transmitter import PORTAL_AUDIENCE, RECEIVE_TOKEN, FakeTransmitter


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
