"""The receiver's settings: receiving is on with a push token or a poll URL, from the OIDC
issuer by default, and a transmitter the portal could not receive from stops start-up with a
message naming the variable."""

from __future__ import annotations

import pytest

from portal.config import ConfigError, read

TOKEN = "t" * 40
BASE = {"ENV": "testing", "OIDC_ISSUER": "https://idp.test", "OIDC_CLIENT_ID": "portal"}


def test_receiving_is_off_without_a_token_or_a_poll_url():
    assert read(BASE).transmitters() == []


def test_the_single_transmitter_is_the_oidc_issuer_with_the_portals_origin_as_audience():
    [one] = read(
        {**BASE, "SSF_RECEIVE_TOKEN": TOKEN, "SSF_ISSUER": "https://portal.test"}
    ).transmitters()

    assert one["issuer"] == "https://idp.test" and one["audience"] == "https://portal.test"
    assert one["token"] == TOKEN and one["jwks_url"] is None


def test_more_transmitters_come_after_the_single_one():
    settings = read(
        {
            **BASE,
            "SSF_RECEIVE_TOKEN": TOKEN,
            "SSF_RECEIVE_AUDIENCE": "https://portal.test",
            "SSF_RECEIVE_TRANSMITTERS": '[{"issuer": "https://tool.test/", "token": "'
            + "u" * 40
            + '", "events": ["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]}]',
        }
    )

    first, second = settings.transmitters()
    assert first["issuer"] == "https://idp.test"
    assert second["issuer"] == "https://tool.test" and second["audience"] == "https://portal.test"


@pytest.mark.parametrize(
    "given, says",
    [
        ({"SSF_RECEIVE_TOKEN": "short"}, "PORTAL_SSF_RECEIVE_TOKEN must be at least 32"),
        ({"SSF_RECEIVE_TOKEN": TOKEN}, "an audience is required"),
        (
            {"SSF_RECEIVE_TOKEN": TOKEN, "SSF_ISSUER": "https://p.test", "OIDC_ISSUER": None},
            "issuer is required",
        ),
        ({"SSF_RECEIVE_TRANSMITTERS": "[{"}, "PORTAL_SSF_RECEIVE_TRANSMITTERS is not valid JSON"),
        (
            {"SSF_RECEIVE_TRANSMITTERS": '[{"issuer": "https://a.test", "colour": 1}]'},
            "unknown fields ['colour']",
        ),
        (
            {
                "SSF_ISSUER": "https://p.test",
                "SSF_RECEIVE_TRANSMITTERS": '[{"issuer": "https://a.test"}]',
            },
            "a push token or a poll URL is required",
        ),
        (
            {
                "SSF_ISSUER": "https://p.test",
                "SSF_RECEIVE_TOKEN": TOKEN,
                "SSF_RECEIVE_TRANSMITTERS": f'[{{"issuer": "https://a.test", "token": "{TOKEN}"}}]',
            },
            "a push token of its own",
        ),
    ],
)
def test_a_transmitter_the_portal_cannot_receive_from_stops_start_up(given, says):
    with pytest.raises(ConfigError, match=None) as refused:
        read({**BASE, **given})

    assert says in str(refused.value)
