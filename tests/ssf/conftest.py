"""Fixtures of the Shared Signals tests: the portal with managed streams on, and the test
IdP's client-credentials tokens of the two receivers."""

from __future__ import annotations

import pytest
from support.ssf_streams import ISSUER


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
