"""Receivers manage their own Shared Signals streams (SSF 1.0 section 8, CAEP
interoperability profile 1.0 section 2.3) with the test IdP's client-credentials tokens:
the metadata, create, read, update, replace, delete, status, subjects and verification, each
change audited, and every refusal in RFC 6750's words."""

from __future__ import annotations

import pytest
from support.ssf_streams import (
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    ISSUER,
    POLL,
    PUSH,
    RECEIVER_URL,
    SESSION_REVOKED,
    audit_events,
    bearer,
    create,
    set_status,
)

from portal.extensions import db
from portal.models import SsfStream

SUPPORTED = [SESSION_REVOKED, ACCOUNT_DISABLED, ACCOUNT_ENABLED]
ENDPOINTS = {
    "configuration_endpoint": "/ssf/streams",
    "status_endpoint": "/ssf/status",
    "add_subject_endpoint": "/ssf/subjects:add",
    "remove_subject_endpoint": "/ssf/subjects:remove",
    "verification_endpoint": "/ssf/verify",
}


# -- the transmitter's metadata ----------------------------------------------------------------


def test_the_metadata_names_every_endpoint_the_profile_requires(streams_on, client):
    r = client.get("/.well-known/ssf-configuration")
    assert r.status_code == 200 and r.mimetype == "application/json"
    body = r.get_json()
    assert body["spec_version"] == "1_0"  # profile 2.3.1
    assert body["issuer"] == ISSUER
    assert body["delivery_methods_supported"] == [PUSH, POLL]  # 2.3.2, 2.3.7.1
    assert body["jwks_uri"] == ISSUER + "/ssf/jwks.json"  # 2.3.3
    for name, path in ENDPOINTS.items():  # 2.3.4 to 2.3.6, and the subjects'
        assert body[name] == ISSUER + path, name
    assert body["authorization_schemes"] == [{"spec_urn": "urn:ietf:rfc:6749"}]  # 2.3.7
    assert body["default_subjects"] == "ALL"  # receivers assume every subject (2.4.2)
    keys = client.get("/ssf/jwks.json")
    assert keys.status_code == 200 and keys.get_json()["keys"]


def test_without_the_setting_there_is_no_management_api(app, client, receiver_tokens):
    token = receiver_tokens()
    assert client.get("/.well-known/ssf-configuration").status_code == 404
    r = client.post("/ssf/streams", json={}, headers=bearer(token))
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    assert app.config["SSF_STREAMS"] is False


# -- create and read ---------------------------------------------------------------------------


def test_a_receiver_creates_a_push_stream_and_gets_its_configuration(
    streams_on, app, client, receiver_tokens
):
    token = receiver_tokens()
    r = client.post(
        "/ssf/streams",
        json={
            "delivery": {
                "method": PUSH,
                "endpoint_url": RECEIVER_URL,
                "authorization_header": "Bearer receiver-secret",
            },
            "events_requested": [SESSION_REVOKED, "urn:example:unknown"],
            "description": "Okta ITP",
        },
        headers=bearer(token),
    )
    assert r.status_code == 201
    assert r.headers["Cache-Control"] == "no-store"
    stream = r.get_json()
    assert stream == {
        "stream_id": stream["stream_id"],
        "iss": ISSUER,
        "aud": ["ssf-receiver-1"],
        "delivery": {"method": PUSH, "endpoint_url": RECEIVER_URL},
        "events_supported": SUPPORTED,
        "events_requested": [SESSION_REVOKED, "urn:example:unknown"],
        "events_delivered": [SESSION_REVOKED],  # an unknown type is ignored (SSF 8.1.1)
        "min_verification_interval": 30,
        "description": "Okta ITP",
        "format": "iss_sub",  # the subject format by default (docs/ssf.md, "Delivery")
    }
    assert "receiver-secret" not in r.get_data(as_text=True)
    with app.app_context():
        saved = db.session.get(SsfStream, stream["stream_id"])
        assert saved.client_id == "ssf-receiver-1" and saved.status == "enabled"
        assert saved.authorization_header == "Bearer receiver-secret"
    [event] = audit_events(app, "ssf_stream_created")
    assert event.actor_label == "client ssf-receiver-1" and event.via == "ssf"
    assert event.detail["stream_id"] == stream["stream_id"]
    assert event.detail["authorization_header"] == "set"
    assert "receiver-secret" not in str(event.detail)


def test_a_stream_without_delivery_is_polled_at_the_portal(streams_on, client, receiver_tokens):
    token = receiver_tokens()
    r = client.post("/ssf/streams", json={}, headers=bearer(token))
    assert r.status_code == 201
    stream = r.get_json()
    assert stream["delivery"] == {
        "method": POLL,
        "endpoint_url": f"{ISSUER}/ssf/poll/{stream['stream_id']}",
    }
    assert stream["events_requested"] == SUPPORTED == stream["events_delivered"]
    assert "description" not in stream


def test_a_receiver_reads_one_stream_or_all_of_its_own(streams_on, client, receiver_tokens):
    one, two = receiver_tokens("ssf-receiver-1"), receiver_tokens("ssf-receiver-2")
    first = create(client, one, description="first")
    second = create(client, one, delivery={"method": POLL})
    theirs = create(client, two)

    listed = client.get("/ssf/streams", headers=bearer(one))
    assert listed.status_code == 200
    assert [s["stream_id"] for s in listed.get_json()] == [first["stream_id"], second["stream_id"]]
    read = client.get(f"/ssf/streams?stream_id={first['stream_id']}", headers=bearer(one))
    assert read.status_code == 200 and read.get_json() == first
    # ssf.read alone reads (profile 2.5.4.2)
    reader = receiver_tokens("ssf-receiver-2", "ssf.read")
    theirs_read = client.get("/ssf/streams", headers=bearer(reader)).get_json()
    assert [s["stream_id"] for s in theirs_read] == [theirs["stream_id"]]
    # another client's stream is not found, whether read, changed or deleted
    other = client.get(f"/ssf/streams?stream_id={theirs['stream_id']}", headers=bearer(one))
    assert other.status_code == 404
    assert other.get_json() == {"error": "not_found", "error_description": "Stream not found"}
    sid = theirs["stream_id"]
    named = {"stream_id": sid}
    assert client.patch("/ssf/streams", json=named, headers=bearer(one)).status_code == 404
    assert client.put("/ssf/streams", json=named, headers=bearer(one)).status_code == 404
    assert client.delete(f"/ssf/streams?stream_id={sid}", headers=bearer(one)).status_code == 404
    assert client.get(f"/ssf/status?stream_id={sid}", headers=bearer(one)).status_code == 404
    assert set_status(client, one, sid, "paused").status_code == 404
    body = {"stream_id": sid, "subject": {"format": "email", "email": "a@example.test"}}
    assert client.post("/ssf/subjects:remove", json=body, headers=bearer(one)).status_code == 404
    assert client.post("/ssf/subjects:add", json=body, headers=bearer(one)).status_code == 404
    assert client.post("/ssf/verify", json=named, headers=bearer(one)).status_code == 404
    assert client.get("/ssf/streams?stream_id=nope", headers=bearer(one)).status_code == 404


def test_a_client_without_streams_reads_an_empty_list(streams_on, client, receiver_tokens):
    r = client.get("/ssf/streams", headers=bearer(receiver_tokens("ssf-receiver-2")))
    assert r.status_code == 200 and r.get_json() == []


# -- update, replace, delete -------------------------------------------------------------------


def test_patch_changes_only_what_it_names(streams_on, app, client, receiver_tokens):
    token = receiver_tokens()
    stream = create(client, token, description="before", events_requested=[SESSION_REVOKED])
    r = client.patch(
        "/ssf/streams",
        json={
            "stream_id": stream["stream_id"],
            "events_requested": [ACCOUNT_DISABLED, SESSION_REVOKED],
            "iss": ISSUER,  # transmitter-supplied values may be repeated as they are
            "aud": "ssf-receiver-1",
            "events_delivered": [SESSION_REVOKED],  # the value before the change
        },
        headers=bearer(token),
    )
    assert r.status_code == 200, r.get_json()
    after = r.get_json()
    assert after["description"] == "before"
    assert after["delivery"] == stream["delivery"]
    assert after["events_delivered"] == [SESSION_REVOKED, ACCOUNT_DISABLED]
    [event] = audit_events(app, "ssf_stream_updated")
    assert event.detail["replaced"] is False


def test_patch_refuses_to_change_a_transmitter_supplied_value(streams_on, client, receiver_tokens):
    token = receiver_tokens()
    stream = create(client, token)
    for member, value in (
        ("iss", "https://other.example"),
        ("aud", ["someone-else"]),
        ("min_verification_interval", 1),
        ("events_supported", [SESSION_REVOKED]),
    ):
        r = client.patch(
            "/ssf/streams",
            json={"stream_id": stream["stream_id"], member: value},
            headers=bearer(token),
        )
        assert r.status_code == 400, member
        assert r.get_json() == {
            "error": "invalid_request",
            "error_description": f"{member} is set by the portal and cannot be changed",
        }


def test_put_replaces_the_configuration_and_resets_what_it_lacks(
    streams_on, client, receiver_tokens
):
    token = receiver_tokens()
    stream = create(client, token, description="old", events_requested=[ACCOUNT_ENABLED])
    r = client.put(
        "/ssf/streams",
        json={"stream_id": stream["stream_id"], "delivery": {"method": POLL}},
        headers=bearer(token),
    )
    assert r.status_code == 200, r.get_json()
    after = r.get_json()
    assert "description" not in after
    assert after["events_requested"] == SUPPORTED
    assert after["delivery"]["method"] == POLL
    assert after["delivery"]["endpoint_url"].endswith("/ssf/poll/" + stream["stream_id"])
    assert client.put("/ssf/streams", json={}, headers=bearer(token)).status_code == 400


def test_delete_answers_204_and_the_stream_is_gone(streams_on, app, client, receiver_tokens):
    token = receiver_tokens()
    stream = create(client, token)
    sid = stream["stream_id"]
    r = client.delete(f"/ssf/streams?stream_id={sid}", headers=bearer(token))
    assert r.status_code == 204 and r.get_data() == b""
    assert client.get(f"/ssf/streams?stream_id={sid}", headers=bearer(token)).status_code == 404
    assert client.delete("/ssf/streams", headers=bearer(token)).status_code == 400
    [event] = audit_events(app, "ssf_stream_deleted")
    assert event.detail == {"stream_id": sid}


# -- status ------------------------------------------------------------------------------------


def test_status_is_read_and_set_with_a_reason(streams_on, app, client, receiver_tokens):
    token = receiver_tokens()
    sid = create(client, token)["stream_id"]
    r = client.get(f"/ssf/status?stream_id={sid}", headers=bearer(token))
    assert r.status_code == 200 and r.get_json() == {"stream_id": sid, "status": "enabled"}
    for status in ("paused", "disabled", "enabled"):
        r = set_status(client, token, sid, status, reason=f"now {status}")
        assert r.status_code == 200
        assert r.get_json() == {"stream_id": sid, "status": status, "reason": f"now {status}"}
        read = client.get(f"/ssf/status?stream_id={sid}", headers=bearer(token)).get_json()
        assert read["status"] == status
    assert set_status(client, token, sid, "stopped").status_code == 400
    assert client.get("/ssf/status", headers=bearer(token)).status_code == 400
    events = audit_events(app, "ssf_stream_status")
    assert [(e.detail["previous"], e.detail["status"]) for e in events] == [
        ("enabled", "paused"),
        ("paused", "disabled"),
        ("disabled", "enabled"),
    ]


# -- refusals ----------------------------------------------------------------------------------


def test_no_token_is_a_401_with_a_bearer_challenge(streams_on, client, receiver_tokens):
    r = client.get("/ssf/streams")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="device-portal"'  # no error code
    assert r.get_json()["error"] == "unauthorized"
    # a token in the query string or in a form is not read (profile 2.7.3)
    token = receiver_tokens()
    assert client.get(f"/ssf/streams?access_token={token}").status_code == 401
    assert client.post("/ssf/streams", data={"access_token": token}).status_code == 401


def test_a_bad_token_is_a_401_invalid_token(streams_on, client):
    r = client.get("/ssf/streams", headers=bearer("not.a.token"))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert r.get_json()["error"] == "invalid_token"


def test_a_token_without_the_scope_is_a_403_insufficient_scope(
    streams_on, client, receiver_tokens, auth
):
    reader = receiver_tokens("ssf-receiver-1", "ssf.read")
    r = client.post("/ssf/streams", json={}, headers=bearer(reader))
    assert r.status_code == 403
    assert r.get_json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    assert 'scope="ssf.manage"' in r.headers["WWW-Authenticate"]
    # a user's API token (devices:read) neither reads nor changes streams
    user = auth.bearer("alice")
    assert client.get("/ssf/streams", headers=user).status_code == 403
    assert client.post("/ssf/streams", json={}, headers=user).status_code == 403


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("{not json", "The request body must be a JSON object"),
        ("[1, 2]", "The request body must be a JSON object"),
        ('{"delivery": {"method": "urn:example:carrier-pigeon"}}', "delivery.method must be"),
        ('{"delivery": {"method": "urn:ietf:rfc:8935"}}', "a push stream needs"),
        (
            '{"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "ftp://x.example/e"}}',
            "delivery.endpoint_url must be an https URL",
        ),
        (
            '{"delivery": {"method": "urn:ietf:rfc:8936", "endpoint_url": "https://x.example"}}',
            "the portal supplies a poll stream's endpoint_url",
        ),
        ('{"events_requested": "all"}', "events_requested"),
        ('{"events_requested": ["urn:example:unknown"]}', "none of events_requested"),
        ('{"description": 5}', "description"),
        (
            '{"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "https://x.example",'
            ' "authorization_header": "Bearer a\\r\\nX-Injected: 1"}}',
            "authorization_header must be one line",
        ),
    ],
)
def test_bad_input_is_a_400_saying_what_is_wrong(
    streams_on, app, client, receiver_tokens, body, says
):
    r = client.post(
        "/ssf/streams",
        data=body,
        content_type="application/json",
        headers=bearer(receiver_tokens()),
    )
    assert r.status_code == 400
    answer = r.get_json()
    assert answer["error"] == "invalid_request"
    assert says in answer["error_description"]
    with app.app_context():
        assert db.session.query(SsfStream).count() == 0
    assert audit_events(app, "ssf_stream_created") == []


def test_a_receiver_has_at_most_ten_streams(streams_on, client, receiver_tokens):
    token = receiver_tokens()
    for _ in range(10):
        create(client, token)
    r = client.post("/ssf/streams", json={}, headers=bearer(token))
    assert r.status_code == 409 and "at most 10 streams" in r.get_json()["error_description"]


def test_a_method_an_endpoint_lacks_is_a_405_in_the_same_shape(streams_on, client):
    r = client.get("/ssf/verify")
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
    assert r.get_json()["error"] == "method_not_allowed"
