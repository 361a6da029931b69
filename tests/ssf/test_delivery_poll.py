"""Poll delivery of a stream's events (RFC 8936) at ``POST /ssf/poll/<stream_id>``, as a
receiver polls: with its client-credentials token, ``maxEvents``, ``returnImmediately`` (false:
the request is held a bounded while, answered early when an event arrives), ``ack`` (the
events become delivered, and acknowledging again changes nothing), ``setErrs`` (kept as failed
with the receiver's error); each SET handed out until acknowledged, then never again."""

from __future__ import annotations

import threading
import time

import pytest
from support.account_helpers import sessions_of
from support.alert_helpers import run_worker
from support.set_checks import event_of, verified
from support.ssf_delivery import admin_revokes, stream_of
from support.ssf_streams import POLL, SESSION_REVOKED, bearer, create, set_status, stream_rows

from portal.extensions import db
from portal.models import User
from portal.services import operations

WAIT = 2.0  # PORTAL_SSF_POLL_WAIT in these tests


@pytest.fixture
def polling(streams_on, app_config):
    app_config["SSF_POLL_WAIT"] = WAIT


def poll(client, token, stream_id, **body):
    r = client.post(f"/ssf/poll/{stream_id}", json=body, headers=bearer(token))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert r.headers["Cache-Control"] == "no-store"
    return r.get_json()


def poll_stream(client, token, **body) -> dict:
    stream = create(client, token, delivery={"method": POLL}, **body)
    assert stream["delivery"]["endpoint_url"] == (
        f"https://portal.test/ssf/poll/{stream['stream_id']}"
    )
    return stream


def two_events(app, auth) -> None:
    auth.new_client("alice")
    auth.new_client("bob")
    admin_revokes(app, auth, "alice")
    admin_revokes(app, auth, "bob")


def test_a_receiver_polls_acknowledges_and_gets_each_set_once(
    polling, app, client, auth, receiver_tokens
):
    token = receiver_tokens()
    stream = poll_stream(client, token)
    sid = stream["stream_id"]
    two_events(app, auth)
    run_worker(app)  # the worker pushes nothing of a poll stream
    assert {r.status for r in stream_rows(app, sid)} == {"pending"}
    jwks = client.get("/ssf/jwks.json").get_json()

    first = poll(client, token, sid, maxEvents=1, returnImmediately=True)
    assert first["moreAvailable"] is True
    [(jti, token_a)] = first["sets"].items()
    claims = verified(token_a, jwks)
    assert claims["jti"] == jti and claims["aud"] == "ssf-receiver-1"
    assert claims["sub_id"]["sub"] == "alice"
    assert event_of(claims)[0] == SESSION_REVOKED

    again = poll(client, token, sid, maxEvents=1, returnImmediately=True)
    assert list(again["sets"]) == [jti]  # not acknowledged: handed out again, same jti

    second = poll(client, token, sid, ack=[jti], maxEvents=10, returnImmediately=True)
    [(jti_b, token_b)] = second["sets"].items()
    assert second["moreAvailable"] is False and jti_b != jti
    assert verified(token_b, jwks)["sub_id"]["sub"] == "bob"

    done = poll(client, token, sid, ack=[jti_b, jti], returnImmediately=True)
    assert done == {"sets": {}, "moreAvailable": False}
    rows = {r.message_id: r for r in stream_rows(app, sid)}
    assert {r.status for r in rows.values()} == {"sent"} and set(rows) == {jti, jti_b}
    sent_at = rows[jti].sent_at
    assert poll(client, token, sid, ack=[jti], returnImmediately=True)["sets"] == {}
    assert stream_rows(app, sid)[0].sent_at == sent_at  # a repeated ack changes nothing


def test_max_events_zero_only_acknowledges(polling, app, client, auth, receiver_tokens):
    token = receiver_tokens()
    sid = poll_stream(client, token)["stream_id"]
    two_events(app, auth)
    first = poll(client, token, sid, returnImmediately=True)
    assert len(first["sets"]) == 2 and first["moreAvailable"] is False
    jti = next(iter(first["sets"]))
    answer = poll(client, token, sid, ack=[jti], maxEvents=0)  # answered at once, no SET
    assert answer == {"sets": {}, "moreAvailable": False}
    assert sorted(r.status for r in stream_rows(app, sid)) == ["pending", "sent"]


def test_set_errs_are_kept_as_failed_with_the_receivers_error(
    polling, app, client, auth, receiver_tokens
):
    token = receiver_tokens()
    sid = poll_stream(client, token)["stream_id"]
    two_events(app, auth)
    first = poll(client, token, sid, returnImmediately=True)
    bad, good = list(first["sets"])
    answer = poll(
        client,
        token,
        sid,
        ack=[good],
        setErrs={bad: {"err": "invalid_key", "description": "unknown kid"}},
        returnImmediately=True,
    )
    assert answer["sets"] == {}  # the refused one is not handed out again
    rows = {r.message_id: r for r in stream_rows(app, sid)}
    assert rows[bad].status == "failed" and rows[bad].last_error == "invalid_key: unknown kid"
    assert rows[good].status == "sent"
    assert stream_of(app, sid).last_error == "invalid_key: unknown kid"


def test_without_return_immediately_an_empty_poll_waits_a_bounded_time(
    polling, app, client, receiver_tokens
):
    token = receiver_tokens()
    sid = poll_stream(client, token)["stream_id"]
    started = time.monotonic()
    assert poll(client, token, sid, returnImmediately=False) == {"sets": {}, "moreAvailable": False}
    assert WAIT <= time.monotonic() - started < WAIT + 1.5
    started = time.monotonic()
    poll(client, token, sid, returnImmediately=True)
    assert time.monotonic() - started < 1


def test_a_waiting_poll_answers_as_soon_as_an_event_arrives(
    polling, app, live_server, receiver_tokens, idp
):
    token = receiver_tokens()
    client = app.test_client()
    sid = poll_stream(client, token)["stream_id"]
    with app.app_context():
        from support.admin_helpers import make_user

        make_user("carol")
        db.session.commit()

    def revoke_later():
        time.sleep(0.6)
        with app.app_context():
            from sqlalchemy import select

            from portal.services.sessions import opening
            from portal.services.sessions.policy import SessionPolicy

            user = db.session.execute(select(User).where(User.subject == "carol")).scalar_one()
            opening.record_sign_in(
                user,
                device_secret=None,
                client=opening.ClientInfo("81.2.69.142", "Mozilla/5.0"),
                policy=SessionPolicy.from_config(app.config),
                geoip_database=None,
                idp_sid="sid-carol",
            )
            operations.revoke_all_sessions(
                operations.Actor(None, None, "127.0.0.1", via="cli", label="cli"),
                user,
                include_current=True,
            )
            db.session.commit()

    import requests

    later = threading.Thread(target=revoke_later)
    started = time.monotonic()
    later.start()
    r = requests.post(
        f"{live_server.url}/ssf/poll/{sid}",
        json={"returnImmediately": False},
        headers=bearer(token),
        timeout=10,
    )
    later.join()
    assert r.status_code == 200 and len(r.json()["sets"]) == 1
    assert time.monotonic() - started < WAIT


def test_another_clients_stream_and_a_push_stream_are_not_found(
    polling, app, client, receiver_tokens
):
    mine = poll_stream(client, receiver_tokens())["stream_id"]
    other = receiver_tokens("ssf-receiver-2")
    r = client.post(f"/ssf/poll/{mine}", json={"returnImmediately": True}, headers=bearer(other))
    assert r.status_code == 404
    push = create(client, receiver_tokens())["stream_id"]
    r = client.post(
        f"/ssf/poll/{push}", json={"returnImmediately": True}, headers=bearer(receiver_tokens())
    )
    assert r.status_code == 404
    assert client.post(f"/ssf/poll/{mine}", json={}).status_code == 401


def test_a_malformed_poll_is_a_400_in_rfc_8935s_shape(polling, client, receiver_tokens):
    token = receiver_tokens()
    sid = poll_stream(client, token)["stream_id"]
    for body in ({"maxEvents": -1}, {"maxEvents": "3"}, {"ack": "jti"}, [1], {"setErrs": {"j": 1}}):
        r = client.post(f"/ssf/poll/{sid}", json=body, headers=bearer(token))
        assert r.status_code == 400, body
        assert r.get_json()["err"] == "invalid_request" and r.get_json()["description"]


def test_a_paused_poll_stream_hands_out_nothing_until_enabled(
    polling, app, client, auth, receiver_tokens
):
    token = receiver_tokens()
    sid = poll_stream(client, token)["stream_id"]
    assert set_status(client, token, sid, "paused").status_code == 200
    two_events(app, auth)
    assert poll(client, token, sid, returnImmediately=True)["sets"] == {}
    assert set_status(client, token, sid, "enabled").status_code == 200
    answer = poll(client, token, sid, returnImmediately=True)
    jwks = client.get("/ssf/jwks.json").get_json()
    subjects = [verified(t, jwks)["sub_id"]["sub"] for t in answer["sets"].values()]
    assert subjects == ["alice", "bob"]
    poll(client, token, sid, ack=list(answer["sets"]), returnImmediately=True)
    assert poll(client, token, sid, returnImmediately=True)["sets"] == {}
    assert sessions_of(app, "alice")[0].ended_at is not None


def test_a_set_handed_out_before_a_pause_can_be_acknowledged_during_it(
    polling, app, client, auth, receiver_tokens
):
    token = receiver_tokens()
    sid = poll_stream(client, token)["stream_id"]
    two_events(app, auth)
    taken = poll(client, token, sid, maxEvents=1, returnImmediately=True)["sets"]
    assert set_status(client, token, sid, "paused").status_code == 200
    assert poll(client, token, sid, ack=list(taken), returnImmediately=True)["sets"] == {}
    assert set_status(client, token, sid, "enabled").status_code == 200
    rest = poll(client, token, sid, returnImmediately=True)["sets"]
    assert len(rest) == 1 and not set(rest) & set(taken)  # the acknowledged one never again
