"""What a stream's status and subjects do to its events, and the verification event: a
paused stream holds its events (up to a limit) and delivers them when enabled again, a
disabled one keeps nothing, a removed subject's events stay home, verification is queued on
request and refused within ``min_verification_interval``. On SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from support.queries import count_queries
from support.ssf_streams import (
    ACCOUNT_DISABLED,
    ISSUER,
    POLL,
    SESSION_REVOKED,
    VERIFICATION,
    audit_events,
    bearer,
    create,
    set_status,
    stream_rows,
)

from portal.extensions import db
from portal.models import SsfStream, SsfStreamSubject, utcnow
from portal.services.streams import claims, fanout, reads, subjects


def _verify(client, token, stream_id, state="s1"):
    body = {"stream_id": stream_id}
    if state is not None:
        body["state"] = state
    return client.post("/ssf/verify", json=body, headers=bearer(token))


def _queue_revoked(app, email="alice@example.test", iss_sub=("https://idp.test", "alice")):
    """A session-revoked event about a user, queued as the delivery side queues one: to the
    streams ``reads.receiving`` names, one row each; returns how many rows."""
    with app.app_context():
        keys = subjects.user_keys(iss_sub[0], iss_sub[1], email)
        now = utcnow()
        sets = [
            (
                stream,
                claims.set_claims(
                    stream,
                    issuer=ISSUER,
                    event_type=SESSION_REVOKED,
                    event={"event_timestamp": int(now.timestamp())},
                    sub_id={"format": "email", "email": email},
                    now=now,
                ),
            )
            for stream in reads.receiving(SESSION_REVOKED, subject_keys=keys)
        ]
        written = fanout.queue_set(sets, now=now)
        db.session.commit()
        return written


def _age_verification(app, stream_id, seconds=31):
    with app.app_context():
        db.session.execute(
            update(SsfStream)
            .where(SsfStream.stream_id == stream_id)
            .values(last_verification_at=utcnow() - timedelta(seconds=seconds))
        )
        db.session.commit()


# -- verification ------------------------------------------------------------------------------


def test_verification_queues_a_set_carrying_the_state(streams_on, app, client, receiver_tokens):
    token = receiver_tokens()
    sid = create(client, token)["stream_id"]
    r = _verify(client, token, sid, state="VGhpcyBpcyBhIHN0YXRl")
    assert r.status_code == 204 and r.get_data() == b""
    [row] = stream_rows(app, sid)
    assert row.kind == "ssf_push" and row.status == "pending" and row.recipient == sid
    assert row.payload["stream_id"] == sid
    set_claims = row.payload["claims"]
    assert set_claims["jti"] == row.message_id
    assert set_claims["iss"] == ISSUER and set_claims["aud"] == "ssf-receiver-1"
    assert isinstance(set_claims["iat"], int)
    assert set_claims["sub_id"] == {"format": "opaque", "id": sid}  # SSF 8.1.4.1
    assert set_claims["events"] == {VERIFICATION: {"state": "VGhpcyBpcyBhIHN0YXRl"}}
    [event] = audit_events(app, "ssf_verification_requested")
    assert event.detail == {"stream_id": sid, "jti": row.message_id}


def test_verification_is_refused_429_within_the_interval(streams_on, app, client, receiver_tokens):
    token = receiver_tokens()
    sid = create(client, token)["stream_id"]
    assert _verify(client, token, sid).status_code == 204
    again = _verify(client, token, sid)
    assert again.status_code == 429
    assert "min_verification_interval" in again.get_json()["error_description"]
    assert len(stream_rows(app, sid)) == 1
    _age_verification(app, sid)
    assert _verify(client, token, sid, state=None).status_code == 204
    latest = stream_rows(app, sid)[-1]
    assert latest.payload["claims"]["events"] == {VERIFICATION: {}}


def test_a_poll_streams_verification_waits_to_be_polled(streams_on, app, client, receiver_tokens):
    token = receiver_tokens()
    sid = create(client, token, delivery={"method": POLL})["stream_id"]
    assert _verify(client, token, sid).status_code == 204
    [row] = stream_rows(app, sid)
    assert row.kind == "ssf_poll" and row.status == "pending"


def test_a_disabled_stream_is_not_verified(streams_on, app, client, receiver_tokens):
    token = receiver_tokens()
    sid = create(client, token)["stream_id"]
    assert set_status(client, token, sid, "disabled").status_code == 200
    r = _verify(client, token, sid)
    assert r.status_code == 409 and stream_rows(app, sid) == []
    assert client.post("/ssf/verify", json={}, headers=bearer(token)).status_code == 400


# -- paused, enabled, disabled -----------------------------------------------------------------


def test_a_paused_stream_holds_its_events_and_enabling_releases_them_in_order(
    streams_on, app, client, receiver_tokens
):
    token = receiver_tokens()
    sid = create(client, token)["stream_id"]
    assert set_status(client, token, sid, "paused", reason="maintenance").status_code == 200
    assert _verify(client, token, sid).status_code == 204
    assert _queue_revoked(app) == 1
    assert _queue_revoked(app, "bob@example.test", ("https://idp.test", "bob")) == 1
    held = stream_rows(app, sid)
    assert [r.status for r in held] == ["held", "held", "held"]

    assert set_status(client, token, sid, "enabled").status_code == 200
    released = stream_rows(app, sid)
    assert [r.status for r in released] == ["pending"] * 3
    assert [r.message_id for r in released] == [r.message_id for r in held]
    assert all(r.next_attempt_at == r.created_at for r in released)  # due in their order


def test_pausing_holds_what_was_not_yet_delivered(streams_on, app, client, receiver_tokens):
    token = receiver_tokens()
    sid = create(client, token)["stream_id"]
    assert _queue_revoked(app) == 1
    assert set_status(client, token, sid, "paused").status_code == 200
    assert [r.status for r in stream_rows(app, sid)] == ["held"]


def test_disabling_drops_held_events_and_keeps_none_after(streams_on, app, client, receiver_tokens):
    token = receiver_tokens()
    sid = create(client, token)["stream_id"]
    other = create(client, token)["stream_id"]
    assert set_status(client, token, sid, "paused").status_code == 200
    assert _queue_revoked(app) == 2  # held on the paused stream, pending on the other
    assert set_status(client, token, sid, "disabled").status_code == 200
    assert stream_rows(app, sid) == []
    assert _queue_revoked(app) == 1  # the other stream only
    assert stream_rows(app, sid) == []
    assert set_status(client, token, sid, "enabled").status_code == 200
    assert stream_rows(app, sid) == []  # nothing was kept to release
    assert [r.status for r in stream_rows(app, other)] == ["pending", "pending"]


def test_deleting_a_stream_drops_its_undelivered_events(streams_on, app, client, receiver_tokens):
    token = receiver_tokens()
    sid = create(client, token)["stream_id"]
    assert _queue_revoked(app) == 1
    assert client.delete(f"/ssf/streams?stream_id={sid}", headers=bearer(token)).status_code == 204
    assert stream_rows(app, sid) == []


def test_a_paused_stream_holds_at_most_the_limit_keeping_the_oldest(
    streams_on, app, client, receiver_tokens, monkeypatch
):
    monkeypatch.setattr(fanout, "HELD_LIMIT", 2)
    token = receiver_tokens()
    sid = create(client, token)["stream_id"]
    assert set_status(client, token, sid, "paused").status_code == 200
    assert _queue_revoked(app, "one@example.test") == 1
    assert _queue_revoked(app, "two@example.test") == 1
    assert _queue_revoked(app, "three@example.test") == 0
    kept = [r.payload["claims"]["sub_id"]["email"] for r in stream_rows(app, sid)]
    assert kept == ["one@example.test", "two@example.test"]


def test_a_new_delivery_method_takes_the_undelivered_events_along(
    streams_on, app, client, receiver_tokens
):
    token = receiver_tokens()
    sid = create(client, token)["stream_id"]
    assert _queue_revoked(app) == 1
    r = client.patch(
        "/ssf/streams",
        json={"stream_id": sid, "delivery": {"method": POLL}},
        headers=bearer(token),
    )
    assert r.status_code == 200
    assert [row.kind for row in stream_rows(app, sid)] == ["ssf_poll"]


# -- who receives an event ---------------------------------------------------------------------


def test_only_streams_that_asked_for_the_event_type_receive_it(
    streams_on, app, client, receiver_tokens
):
    token = receiver_tokens()
    revoked = create(client, token, events_requested=[SESSION_REVOKED])["stream_id"]
    disabled_only = create(client, token, events_requested=[ACCOUNT_DISABLED])["stream_id"]
    assert _queue_revoked(app) == 1
    assert len(stream_rows(app, revoked)) == 1 and stream_rows(app, disabled_only) == []


def test_a_removed_subject_receives_nothing_until_added_again(
    streams_on, app, client, auth, receiver_tokens
):
    auth.new_client("alice")  # alice is a user of the portal
    token = receiver_tokens()
    sid = create(client, token)["stream_id"]
    subject = {"format": "email", "email": "Alice@Example.TEST"}
    r = client.post(
        "/ssf/subjects:remove", json={"stream_id": sid, "subject": subject}, headers=bearer(token)
    )
    assert r.status_code == 204
    with app.app_context():
        [removed] = db.session.query(SsfStreamSubject).all()
        assert removed.subject_key == '{"email":"alice@example.test","format":"email"}'
        assert removed.user_id is not None  # the portal's alice, for the admin
    assert _queue_revoked(app) == 0
    assert _queue_revoked(app, "bob@example.test", ("https://idp.test", "bob")) == 1
    # a complex subject naming only the user is that user
    user = {"format": "email", "email": "alice@example.test"}
    complex_subject = {"format": "complex", "user": user}
    r = client.post(
        "/ssf/subjects:add",
        json={"stream_id": sid, "subject": complex_subject, "verified": True},
        headers=bearer(token),
    )
    assert r.status_code == 200 and r.get_data() == b""
    assert _queue_revoked(app) == 1
    removed_events = audit_events(app, "ssf_subject_removed")
    assert [e.target_user_id is not None for e in removed_events] == [True]
    assert len(audit_events(app, "ssf_subject_added")) == 1


@pytest.mark.parametrize(
    "subject",
    [
        "alice@example.test",
        {"email": "alice@example.test"},
        {"format": "email"},
        {"format": "iss_sub", "iss": "https://idp.test"},
        {"format": "opaque", "id": "x" * 2000},
    ],
)
def test_a_subject_that_is_no_subject_identifier_is_a_400(
    streams_on, client, receiver_tokens, subject
):
    token = receiver_tokens()
    sid = create(client, token)["stream_id"]
    for path in ("/ssf/subjects:remove", "/ssf/subjects:add"):
        r = client.post(path, json={"stream_id": sid, "subject": subject}, headers=bearer(token))
        assert r.status_code == 400, (path, r.get_json())
        assert r.get_json()["error"] == "invalid_request"


# -- cost --------------------------------------------------------------------------------------


def _statements(app, call, status=200) -> int:
    with app.app_context():
        engine = db.engine
    with count_queries(engine) as statements:
        response = call()
        assert response.status_code == status, response.get_data()
    return len(statements)


def test_requests_cost_the_same_however_many_streams_and_events(
    streams_on, app, client, receiver_tokens
):
    token = receiver_tokens()
    sid = create(client, token)["stream_id"]
    list_all = lambda: client.get("/ssf/streams", headers=bearer(token))  # noqa: E731
    read_one = lambda: client.get(f"/ssf/streams?stream_id={sid}", headers=bearer(token))  # noqa: E731
    pause = lambda: set_status(client, token, sid, "paused")  # noqa: E731
    enable = lambda: set_status(client, token, sid, "enabled")  # noqa: E731
    verify = lambda: _verify(client, token, sid)  # noqa: E731

    list_all()  # warm: the IdP's keys are fetched once
    few = [_statements(app, f) for f in (list_all, read_one, pause, enable)]
    few.append(_statements(app, verify, 204))
    for _ in range(6):
        create(client, token)
    for n in range(5):
        _queue_revoked(app, f"user{n}@example.test")
    _age_verification(app, sid)
    many = [_statements(app, f) for f in (list_all, read_one, pause, enable)]
    many.append(_statements(app, verify, 204))
    assert many == few, (few, many)
    # A read is one statement; a change locks the stream, moves its outbox rows or writes one,
    # updates the stream and appends its audit event.
    assert few == [1, 1, 4, 4, 4]


def test_an_event_for_many_streams_is_one_insert(streams_on, app, client, receiver_tokens):
    token = receiver_tokens()
    for _ in range(4):
        create(client, token)
    with app.app_context():
        engine = db.engine
    with count_queries(engine) as statements:
        assert _queue_revoked(app) == 4
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1


def test_an_admin_reads_every_streams_state_and_last_error(
    streams_on, app, client, receiver_tokens
):
    one = create(client, receiver_tokens("ssf-receiver-1"))["stream_id"]
    two = create(client, receiver_tokens("ssf-receiver-2"))["stream_id"]
    with app.app_context():
        fanout.note_error(two, "HTTP 400 invalid_audience: not ours")
        db.session.commit()
        seen = {row.stream_id: row for row in reads.all_streams()}
    assert seen[one].client_id == "ssf-receiver-1" and seen[one].last_error is None
    assert seen[two].client_id == "ssf-receiver-2"
    assert seen[two].last_error == "HTTP 400 invalid_audience: not ours"
