"""``flask --app wsgi ssf subscribe`` creates the portal's push stream at a transmitter with a
configuration endpoint and waits for the verification event, which the transmitter pushes to
the live portal over HTTP."""

from __future__ import annotations

import pytest
from support.ssf_transmitter import RECEIVE_TOKEN, SESSION_REVOKED

from portal.extensions import db
from portal.models import ReceivedSet


def _subscribe(app, *args: str):
    return app.test_cli_runner().invoke(args=["ssf", "subscribe", *args])


@pytest.fixture
def managing(receiving, app_config):
    """The portal has an OAuth client at the transmitter to manage its stream with."""
    app_config.update(
        SSF_RECEIVE_CLIENT_ID="portal-receiver",
        SSF_RECEIVE_CLIENT_SECRET="portal-receiver-secret",
        SSF_RECEIVE_TOKEN_URL=receiving.issuer + "/token",
    )
    return receiving


def test_subscribe_creates_a_push_stream_and_waits_for_its_verification_event(
    managing, app, live_server
):
    receiving = managing

    result = _subscribe(app, "--endpoint-url", live_server.url + "/ssf/events", "--timeout", "10")

    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "verified" in result.output
    [stream] = receiving.streams
    assert stream["delivery"] == {
        "method": "urn:ietf:rfc:8935",
        "endpoint_url": live_server.url + "/ssf/events",
        "authorization_header": f"Bearer {RECEIVE_TOKEN}",
    }
    assert SESSION_REVOKED in stream["events_requested"]
    [asked] = receiving.verifications
    assert asked["stream_id"] == stream["stream_id"] and asked["state"]
    with app.app_context():
        [row] = db.session.query(ReceivedSet).all()
    assert row.state == asked["state"] and row.issuer == receiving.issuer


def test_subscribe_without_a_client_to_manage_streams_with_says_so(receiving, app):
    result = _subscribe(app, "--endpoint-url", "http://127.0.0.1:9/ssf/events")

    assert result.exit_code != 0
    assert "PORTAL_SSF_RECEIVE_CLIENT_ID" in result.output
    assert receiving.streams == []


def test_subscribe_with_poll_creates_a_poll_stream_and_polls_for_its_verification_event(
    managing, app
):
    receiving = managing

    result = _subscribe(app, "--poll", "--timeout", "10")

    assert result.exit_code == 0, result.output + repr(result.exception)
    assert f"poll endpoint: {receiving.issuer}/poll" in result.output
    assert "verified" in result.output
    [stream] = receiving.streams
    assert stream["delivery"]["method"] == "urn:ietf:rfc:8936"
    [asked] = receiving.verifications
    assert receiving.acked and receiving.queue == {}  # polled and acknowledged
    with app.app_context():
        [row] = db.session.query(ReceivedSet).all()
    assert row.state == asked["state"]
