"""Push delivery of streams' events (RFC 8935): the worker pushes each stream's SETs to that
stream's receiver (a small HTTP server here) with the ``authorization_header`` it gave,
RS256-signed, each SET once per stream; a 5xx or no answer is tried again with the same
``jti`` after the outbox's backoff; a 4xx is refused for good, with the receiver's ``err``
kept on the row and on the stream; a paused stream's events wait and arrive, once each,
when it is enabled again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import set_receiver
from support.account_helpers import sessions_of
from support.alert_helpers import run_worker
from support.set_checks import event_of, verified
from support.ssf_delivery import admin_revokes, make_due, stream_of
from support.ssf_streams import PUSH, SESSION_REVOKED, create, set_status, stream_rows

from portal.models import utcnow


@pytest.fixture
def receivers():
    started = [set_receiver.start(), set_receiver.start()]
    yield started
    for receiver in started:
        receiver.stop()


def push_stream(client, token, receiver, secret="Bearer receiver-secret", **body) -> dict:
    delivery = {"method": PUSH, "endpoint_url": receiver.url, "authorization_header": secret}
    return create(client, token, delivery=delivery, **body)


def test_each_push_stream_gets_the_set_once_with_its_header_and_subject_format(
    streams_on, app, client, auth, receiver_tokens, receivers
):
    first, second = receivers
    by_iss_sub = push_stream(client, receiver_tokens(), first, "Bearer first-secret")
    by_session = push_stream(
        client, receiver_tokens("ssf-receiver-2"), second, "Bearer second-secret", format="complex"
    )
    auth.new_client("alice")
    [session] = sessions_of(app, "alice")
    admin_revokes(app, auth, "alice")

    run_worker(app)
    run_worker(app)  # nothing is pushed twice

    jwks = client.get("/ssf/jwks.json").get_json()
    [one], [two] = first.received, second.received
    assert one.authorization == "Bearer first-secret"
    assert two.authorization == "Bearer second-secret"
    assert one.content_type == two.content_type == "application/secevent+jwt"
    a, b = verified(one.token, jwks), verified(two.token, jwks)
    assert a["iss"] == b["iss"] == app.config["SSF_ISSUER"]
    assert (a["aud"], b["aud"]) == ("ssf-receiver-1", "ssf-receiver-2")
    alice = {"format": "iss_sub", "iss": app.config["OIDC_ISSUER"], "sub": "alice"}
    assert a["sub_id"] == alice
    assert b["sub_id"] == {
        "format": "complex",
        "user": alice,
        "session": {"format": "opaque", "id": session.idp_sid},
    }
    assert a["jti"] != b["jti"] and a["txn"] == b["txn"]  # one end, one transaction
    for claims in (a, b):
        event_type, event = event_of(claims)
        assert event_type == SESSION_REVOKED
        assert event["initiating_entity"] == "admin"
        assert event["reason_admin"] == {"en": "Revoked by an admin in the device portal"}
        assert abs(event["event_timestamp"] - claims["iat"]) <= 1
    for stream in (by_iss_sub, by_session):
        [row] = stream_rows(app, stream["stream_id"])
        assert row.kind == "ssf_push" and row.status == "sent" and row.attempts == 1


def test_a_receiver_answering_503_gets_the_same_jti_again_after_the_backoff(
    streams_on, app, client, auth, receiver_tokens, receivers
):
    receiver = receivers[0]
    stream = push_stream(client, receiver_tokens(), receiver)
    auth.new_client("alice")
    admin_revokes(app, auth, "alice")
    receiver.answer_next(503)

    run_worker(app)
    [row] = stream_rows(app, stream["stream_id"])
    assert row.status == "pending" and row.attempts == 1 and "HTTP 503" in row.last_error
    assert row.next_attempt_at > utcnow() + timedelta(seconds=20)
    run_worker(app)  # not due yet
    assert len(receiver.received) == 1

    make_due(app)
    run_worker(app)
    [row] = stream_rows(app, stream["stream_id"])
    assert row.status == "sent" and row.attempts == 2
    jwks = client.get("/ssf/jwks.json").get_json()
    jtis = [verified(r.token, jwks)["jti"] for r in receiver.received]
    assert jtis == [row.message_id, row.message_id]


def test_a_receiver_that_does_not_answer_is_tried_again_later(
    streams_on, app, client, auth, receiver_tokens, receivers
):
    receiver = receivers[0]
    stream = push_stream(client, receiver_tokens(), receiver)
    receiver.stop()  # nothing listens there any more
    auth.new_client("alice")
    admin_revokes(app, auth, "alice")
    run_worker(app)
    [row] = stream_rows(app, stream["stream_id"])
    assert row.status == "pending" and row.attempts == 1
    assert "ConnectionError" in row.last_error
    receivers.remove(receiver)


def test_a_4xx_is_refused_for_good_and_the_receivers_err_stays_on_the_stream(
    streams_on, app, client, auth, receiver_tokens, receivers
):
    receiver = receivers[0]
    stream = push_stream(client, receiver_tokens(), receiver)
    auth.new_client("alice")
    admin_revokes(app, auth, "alice")
    receiver.answer_next(400, {"err": "invalid_audience", "description": "not for us"})

    run_worker(app)
    make_due(app)
    run_worker(app)

    assert len(receiver.received) == 1
    [row] = stream_rows(app, stream["stream_id"])
    assert row.status == "failed" and row.attempts == 1
    assert row.last_error == "HTTP 400 invalid_audience: not for us"
    assert stream_of(app, stream["stream_id"]).last_error == row.last_error


def test_a_paused_stream_holds_its_events_and_delivers_each_once_when_enabled(
    streams_on, app, client, auth, receiver_tokens, receivers
):
    receiver = receivers[0]
    token = receiver_tokens()
    stream = push_stream(client, token, receiver)
    assert set_status(client, token, stream["stream_id"], "paused").status_code == 200
    auth.new_client("alice")
    auth.new_client("bob")
    admin_revokes(app, auth, "alice")
    admin_revokes(app, auth, "bob")

    run_worker(app)
    assert receiver.received == []
    assert {r.status for r in stream_rows(app, stream["stream_id"])} == {"held"}

    assert set_status(client, token, stream["stream_id"], "enabled").status_code == 200
    run_worker(app)
    run_worker(app)

    jwks = client.get("/ssf/jwks.json").get_json()
    subjects = [verified(r.token, jwks)["sub_id"]["sub"] for r in receiver.received]
    assert subjects == ["alice", "bob"]  # each once, in the order they happened
    assert {r.status for r in stream_rows(app, stream["stream_id"])} == {"sent"}


def test_a_disabled_stream_gets_nothing(streams_on, app, client, auth, receiver_tokens, receivers):
    receiver = receivers[0]
    token = receiver_tokens()
    stream = push_stream(client, token, receiver)
    assert set_status(client, token, stream["stream_id"], "disabled").status_code == 200
    auth.new_client("alice")
    admin_revokes(app, auth, "alice")
    run_worker(app)
    assert receiver.received == [] and stream_rows(app, stream["stream_id"]) == []
