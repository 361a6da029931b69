"""Issue 31's journeys driven through an independent partner (tests/idp/ssf_partner.mjs), a
Shared Signals transmitter and receiver written from SSF 1.0, CAEP 1.0, RISC 1.0, the CAEP
Interoperability Profile 1.0 and RFC 8417 / 8935 / 8936 / 9493 alone, never from the portal's
code, started as a real process. Everything the partner does goes over HTTP to the live portal
through its published contract; every SET the portal sends is verified by the partner's own code.

- The partner as a RECEIVER: discovers the portal, gets client-credentials tokens from the IdP,
  creates, reads, updates, pauses, re-enables and deletes streams, asks for verification, and
  receives session-revoked by push (RFC 8935) and by poll (RFC 8936).
- The partner as a TRANSMITTER: pushes every event kind and every bad SET to the portal's
  POST /ssf/events, and serves the polls of the portal's worker.
"""

from __future__ import annotations

import time

import pytest
from support.ssf_partner import (
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    POLL,
    PUSH,
    SESSION_REVOKED,
    VERIFICATION,
    idp_sids,
    wait_for,
)

# The partner's fixtures: ssf_partner_process, ssf_partner, ssf_portal.
pytest_plugins = ["support.ssf_partner"]

ALL_EVENTS = [SESSION_REVOKED, ACCOUNT_DISABLED, ACCOUNT_ENABLED]
# RFC 8935 section 2.4 (the IANA "Security Event Token Error Codes" registry).
RFC8935_ERRS = {
    "invalid_request",
    "invalid_key",
    "invalid_issuer",
    "invalid_audience",
    "authentication_failed",
    "access_denied",
}


def alice_iss_sub(idp) -> dict:
    return {"format": "iss_sub", "iss": idp.issuer, "sub": "alice"}


def alice_email() -> dict:
    return {"format": "email", "email": "alice@example.test"}


def of_type(records: list[dict], event_type: str) -> list[dict]:
    return [r for r in records if r.get("event_type") == event_type]


def assert_clean(record: dict) -> None:
    """The partner verified the SET (signature against the portal's jwks_uri, typ, RS256,
    iss, aud, jti, iat, no exp / sub, one event) and found nothing outside the profile."""
    assert record["accepted"], record["fatal"]
    assert record["header"]["alg"] == "RS256"
    assert record["notes"] == [], record["notes"]
    assert record["profile_subject"], record["claims"]["sub_id"]


@pytest.fixture
def receiver(ssf_partner, ssf_portal):
    """The partner, having discovered the portal and holding a token of ssf-receiver-1."""
    found = ssf_partner.discover()
    assert found["status"] == 200, found
    assert found["problems"] == [], found
    ssf_partner.token("ssf-receiver-1")
    return ssf_partner


# =========================================================== the partner as a receiver
def test_push_stream_created_verified_paused_reenabled_and_session_revoked(receiver, ssf_portal):
    portal = ssf_portal
    created = receiver.create_stream(
        "push", events_requested=ALL_EVENTS, description="partner push stream"
    )
    assert created["status"] == 201, created
    assert created["problems"] == [], created
    stream = created["body"]
    sid = stream["stream_id"]
    assert stream["delivery"]["method"] == PUSH
    # The authorization header is the receiver's secret: never handed back in full.
    assert stream["delivery"].get("authorization_header") != created["authorization_header"]

    # Verification (SSF 1.0 section 8.1.4.2): 204, then a verification SET carrying the state.
    asked = receiver.verify(sid, state="partner-state-1")
    assert asked["status"] == 204, asked
    got = wait_for(lambda: of_type(receiver.received(sid), VERIFICATION), step=portal.run_worker)
    assert len(got) == 1, receiver.received(sid)
    assert got[0]["accepted"], got[0]["fatal"]
    assert got[0]["claims"]["events"][VERIFICATION]["state"] == "partner-state-1"
    assert got[0]["claims"]["sub_id"] == {"format": "opaque", "id": sid}

    # session-revoked by push, profile subject, RS256.
    browser = portal.browser("alice")
    portal.admin_ends_sessions("alice")
    assert not portal.browser_signed_in(browser)
    got = wait_for(lambda: of_type(receiver.received(sid), SESSION_REVOKED), step=portal.run_worker)
    assert len(got) == 1, receiver.received(sid)
    assert_clean(got[0])
    assert got[0]["via"] == "push"

    # Pause: nothing leaves; status reads paused.
    paused = receiver.set_status(sid, "paused", reason="partner maintenance")
    assert paused["status"] == 200, paused
    assert paused["body"]["status"] == "paused"
    read = receiver.status(sid)
    assert read["status"] == 200, read
    assert read["body"]["stream_id"] == sid and read["body"]["status"] == "paused", read
    # Two actions about two people (a user-level subject may carry one event per action, and
    # SSF 1.0 section 8.1.2.1 lets a transmitter collapse successive events of one subject).
    held = [portal.browser("alice"), portal.browser("bob")]
    portal.admin_ends_sessions("alice")
    portal.admin_ends_sessions("bob")
    assert not any(portal.browser_signed_in(b) for b in held)
    for _ in range(3):
        portal.run_worker()
    assert len(of_type(receiver.received(sid), SESSION_REVOKED)) == 1

    # Enabled again: the held events arrive, each once.
    enabled = receiver.set_status(sid, "enabled")
    assert enabled["status"] == 200, enabled
    assert receiver.status(sid)["body"]["status"] == "enabled"
    wait_for(
        lambda: len(of_type(receiver.received(sid), SESSION_REVOKED)) >= 3, step=portal.run_worker
    )
    for _ in range(3):
        portal.run_worker()
    revoked = of_type(receiver.received(sid), SESSION_REVOKED)
    assert len(revoked) == 3, revoked
    assert len({r["claims"]["jti"] for r in revoked}) == 3
    assert "bob" in str(revoked[-1]["claims"]["sub_id"]) or "bob" in str(revoked[-2]["claims"])
    for record in revoked:
        assert_clean(record)
        assert not record["duplicate"]


def test_poll_stream_receives_verification_and_session_revoked(receiver, ssf_portal):
    portal = ssf_portal
    created = receiver.create_stream("poll", events_requested=ALL_EVENTS)
    assert created["status"] == 201, created
    assert created["problems"] == [], created
    sid = created["body"]["stream_id"]
    delivery = created["body"]["delivery"]
    assert delivery["method"] == POLL and delivery["endpoint_url"], delivery

    assert receiver.verify(sid, state="poll-state")["status"] == 204
    polled = wait_for(lambda: receiver.poll(sid)["sets"], step=portal.run_worker)
    assert [s["event_type"] for s in polled] == [VERIFICATION], polled
    assert polled[0]["accepted"], polled[0]["fatal"]
    assert polled[0]["claims"]["events"][VERIFICATION]["state"] == "poll-state"

    browser = portal.browser("alice")
    portal.admin_ends_sessions("alice")
    assert not portal.browser_signed_in(browser)
    answer = wait_for(lambda: receiver.poll(sid)["sets"], step=portal.run_worker)  # acks the first
    assert [s["event_type"] for s in answer] == [SESSION_REVOKED], answer
    assert_clean(answer[0])
    assert answer[0]["via"] == "poll"

    # Acknowledged (RFC 8936 section 2.4): never delivered again.
    again = receiver.poll(sid)  # acks the session-revoked
    assert again["status"] == 200 and again["problems"] == [], again
    assert receiver.poll(sid)["sets"] == []
    assert len(of_type(receiver.received(sid), SESSION_REVOKED)) == 1


def test_a_person_ending_their_other_sessions_is_told_to_complex_streams_only(
    receiver, ssf_portal, idp
):
    """docs/ssf.md (Delivery): when a person ends their *other* sessions, only streams whose
    subjects are ``complex`` (with the IdP session) are told; a user-level subject (iss_sub,
    email) would mean every session of the user to a receiver (CAEP 1.0 section 3.1: the event
    "applies to any session derived from matching those combined claims"), the kept one too."""
    portal = ssf_portal
    user_level = receiver.create_stream("poll", events_requested=[SESSION_REVOKED])
    complex_ = receiver.create_stream(
        "poll", events_requested=[SESSION_REVOKED], extra={"format": "complex"}
    )
    assert complex_["status"] == 201, complex_
    browser = portal.browser("alice")
    ended_sid = idp_sids(idp, "alice")[-1]
    portal.end_other_sessions(portal.api_headers("alice"))
    assert not portal.browser_signed_in(browser)
    got = wait_for(
        lambda: receiver.poll(complex_["body"]["stream_id"])["sets"], step=portal.run_worker
    )
    assert [s["event_type"] for s in got] == [SESSION_REVOKED], got
    assert got[0]["accepted"], got[0]["fatal"]
    assert got[0]["claims"]["sub_id"] == {
        "format": "complex",
        "user": alice_iss_sub(idp),
        "session": {"format": "opaque", "id": ended_sid},
    }
    assert got[0]["claims"]["events"][SESSION_REVOKED]["initiating_entity"] == "user"
    assert receiver.poll(user_level["body"]["stream_id"])["sets"] == []


def test_email_stream_names_users_by_email(receiver, ssf_portal):
    portal = ssf_portal
    created = receiver.create_stream(
        "poll", events_requested=[SESSION_REVOKED], extra={"format": "email"}
    )
    assert created["status"] == 201, created
    portal.browser("alice")
    portal.admin_ends_sessions("alice")
    got = wait_for(lambda: receiver.poll(created["body"]["stream_id"])["sets"])
    assert [s["claims"]["sub_id"] for s in got] == [
        {"format": "email", "email": "alice@example.test"}
    ]
    assert_clean(got[0])


def test_stream_without_delivery_is_poll(receiver, ssf_portal):
    """SSF 1.0 section 8.1.1.1: no delivery in the request: the Transmitter MUST assume poll
    and answer a delivery with that method and an endpoint_url."""
    created = receiver.create_stream("none", events_requested=[SESSION_REVOKED])
    assert created["status"] == 201, created
    assert created["body"]["delivery"]["method"] == POLL
    assert created["body"]["delivery"]["endpoint_url"]


def test_read_update_replace_delete_and_only_own_streams(receiver, ssf_portal):
    one = receiver.create_stream("push", events_requested=[SESSION_REVOKED], description="one")
    assert one["status"] == 201, one
    sid = one["body"]["stream_id"]

    read = receiver.manage("configuration", query={"stream_id": sid})
    assert read["status"] == 200 and read["problems"] == [], read
    assert read["body"]["stream_id"] == sid and read["body"]["description"] == "one"
    listed = receiver.manage("configuration")
    assert listed["status"] == 200 and isinstance(listed["body"], list), listed
    assert [c["stream_id"] for c in listed["body"]] == [sid]

    patched = receiver.manage(
        "configuration", "PATCH", body={"stream_id": sid, "description": "patched"}
    )
    assert patched["status"] == 200 and patched["problems"] == [], patched
    assert patched["body"]["description"] == "patched"
    assert patched["body"]["events_requested"] == [SESSION_REVOKED]

    replaced = receiver.manage(
        "configuration",
        "PUT",
        body={
            "stream_id": sid,
            "iss": read["body"]["iss"],
            "aud": read["body"]["aud"],
            "delivery": read["body"]["delivery"] | {"authorization_header": "Bearer replaced"},
            "events_requested": ALL_EVENTS,
            "description": "replaced",
        },
    )
    assert replaced["status"] == 200 and replaced["problems"] == [], replaced
    assert sorted(replaced["body"]["events_requested"]) == sorted(ALL_EVENTS)
    assert replaced["body"]["description"] == "replaced"

    # Another receiver sees none of it (SSF 1.0 section 8: authorization MUST associate a
    # Receiver with its streams).
    receiver.token("ssf-receiver-2")
    other = {"client": "ssf-receiver-2"}
    assert receiver.manage("configuration", **other)["body"] == []
    assert receiver.manage("configuration", query={"stream_id": sid}, **other)["status"] == 404
    assert receiver.status(sid, **other)["status"] == 404
    assert receiver.set_status(sid, "disabled", **other)["status"] == 404
    assert receiver.verify(sid, state="x", **other)["status"] == 404
    gone = receiver.manage("configuration", "DELETE", query={"stream_id": sid}, **other)
    assert gone["status"] == 404
    assert receiver.status(sid)["body"]["status"] == "enabled"

    deleted = receiver.manage("configuration", "DELETE", query={"stream_id": sid})
    assert deleted["status"] == 204, deleted
    assert receiver.manage("configuration", query={"stream_id": sid})["status"] == 404


def test_subjects_add_and_remove(receiver, ssf_portal):
    portal = ssf_portal
    created = receiver.create_stream("push", events_requested=[SESSION_REVOKED])
    sid = created["body"]["stream_id"]
    added = receiver.manage(
        "add_subject",
        "POST",
        body={"stream_id": sid, "subject": {"format": "email", "email": "bob@example.test"}},
    )
    assert added["status"] == 200, added  # SSF 1.0 section 8.1.3.2
    removed = receiver.manage(
        "remove_subject", "POST", body={"stream_id": sid, "subject": alice_email()}
    )
    assert removed["status"] == 204, removed  # SSF 1.0 section 8.1.3.3
    unknown = receiver.manage(
        "add_subject",
        "POST",
        body={"stream_id": "no-such-stream", "subject": alice_email()},
    )
    assert unknown["status"] == 404

    # All subjects are included by default (profile 2.4.2, SSF default_subjects "ALL"); alice
    # was removed: her session's end is not sent on this stream, bob's is.
    alice = portal.browser("alice")
    bob = portal.browser("bob")
    portal.admin_ends_sessions("alice")
    portal.admin_ends_sessions("bob")
    assert not portal.browser_signed_in(alice) and not portal.browser_signed_in(bob)
    got = wait_for(lambda: of_type(receiver.received(sid), SESSION_REVOKED), step=portal.run_worker)
    for _ in range(2):
        portal.run_worker()
    got = of_type(receiver.received(sid), SESSION_REVOKED)
    assert len(got) == 1, got
    sub = got[0]["claims"]["sub_id"]
    assert "alice" not in str(sub) and ("bob" in str(sub)), sub


def test_refused_push_is_retried_with_the_same_jti(receiver, ssf_portal):
    portal = ssf_portal
    sid = receiver.create_stream("push", events_requested=[SESSION_REVOKED])["body"]["stream_id"]
    receiver.answer_next(503)
    browser = portal.browser("alice")
    portal.admin_ends_sessions("alice")
    assert not portal.browser_signed_in(browser)
    wait_for(
        lambda: of_type(receiver.received(sid), SESSION_REVOKED), step=portal.run_worker, timeout=60
    )
    records = receiver.received(sid)
    accepted = of_type(records, SESSION_REVOKED)
    assert len(accepted) == 1, records
    forced = [r for r in records if r.get("forced")]
    assert len(forced) == 1
    assert forced[0]["set"].split(".")[1] == accepted[0]["set"].split(".")[1]  # same claims, jti


# =========================================================== the partner as a transmitter
def test_session_revoked_for_iss_sub_ends_every_session(ssf_partner, ssf_portal, idp):
    portal = ssf_portal
    browser = portal.browser("alice")
    api = portal.api_headers("alice")
    bob = portal.browser("bob")
    r = ssf_partner.push("session-revoked", alice_iss_sub(idp))
    assert r["status"] == 202, r
    assert not portal.browser_signed_in(browser)
    assert not portal.api_works(api)
    assert portal.browser_signed_in(bob)


def test_session_revoked_for_email_ends_every_session(ssf_partner, ssf_portal):
    portal = ssf_portal
    browser = portal.browser("alice")
    api = portal.api_headers("alice")
    r = ssf_partner.push("session-revoked", alice_email())
    assert r["status"] == 202, r
    assert not portal.browser_signed_in(browser)
    assert not portal.api_works(api)


def test_session_revoked_for_complex_subject_ends_only_that_session(ssf_partner, ssf_portal, idp):
    portal = ssf_portal
    first = portal.browser("alice")
    first_sid = idp_sids(idp, "alice")[-1]
    second = portal.browser("alice")
    assert idp_sids(idp, "alice")[-1] != first_sid
    subject = {
        "format": "complex",
        "user": alice_iss_sub(idp),
        "session": {"format": "opaque", "id": first_sid},
    }
    r = ssf_partner.push("session-revoked", subject)
    assert r["status"] == 202, r
    assert not portal.browser_signed_in(first)
    assert portal.browser_signed_in(second)


def test_credential_change_ends_sessions(ssf_partner, ssf_portal, idp):
    portal = ssf_portal
    browser = portal.browser("alice")
    api = portal.api_headers("alice")
    r = ssf_partner.push("credential-change", alice_iss_sub(idp))
    assert r["status"] == 202, r
    assert not portal.browser_signed_in(browser)
    assert not portal.api_works(api)


def test_account_disabled_then_enabled(ssf_partner, ssf_portal, idp):
    portal = ssf_portal
    browser = portal.browser("alice")
    api = portal.api_headers("alice")
    r = ssf_partner.push("account-disabled", alice_iss_sub(idp))
    assert r["status"] == 202, r
    assert not portal.browser_signed_in(browser)
    assert not portal.api_works(api)
    assert not portal.api_works(portal.auth.bearer("alice"))  # a new token is refused too

    r = ssf_partner.push("account-enabled", alice_iss_sub(idp))
    assert r["status"] == 202, r
    # Signing in again in a later second than the deactivation: a sign-in in the very same
    # second is another matter (the deactivation's end of the API client, reported apart).
    time.sleep(1.05 - time.time() % 1)
    assert portal.api_works(portal.api_headers("alice"))
    assert portal.browser_signed_in(portal.browser("alice"))


def test_token_claims_change_updates_groups(ssf_partner, ssf_portal, idp):
    portal = ssf_portal
    browser = portal.browser("alice")  # groups ["staff"]: no admin pages
    assert browser.get("/admin/sign-ins").status_code == 403
    r = ssf_partner.push(
        "token-claims-change", alice_iss_sub(idp), body={"claims": {"groups": ["helpdesk"]}}
    )
    assert r["status"] == 202, r
    assert browser.get("/admin/sign-ins").status_code == 200


@pytest.mark.parametrize(
    ("event", "subject"),
    [
        ("unknown", {"format": "email", "email": "alice@example.test"}),
        ("session-revoked", {"format": "email", "email": "nobody@example.test"}),
        ("session-revoked", {"format": "iss_sub", "iss": "https://other.example/", "sub": "alice"}),
    ],
    ids=["unknown-event-type", "unknown-email", "iss-sub-of-another-issuer"],
)
def test_unknown_event_or_subject_is_accepted_and_changes_nothing(
    ssf_partner, ssf_portal, event, subject
):
    portal = ssf_portal
    browser = portal.browser("alice")
    r = ssf_partner.push(event, subject)
    assert r["status"] == 202, r
    assert portal.browser_signed_in(browser)


BAD_SETS = {
    # kind: the RFC 8935 err codes a careful receiver may answer
    "tampered": {"invalid_key", "invalid_request"},
    "other_key": {"invalid_key", "invalid_request"},
    "unknown_kid": {"invalid_key", "invalid_request"},
    "alg_none": {"invalid_key", "invalid_request"},
    "hs256": {"invalid_key", "invalid_request"},
    "other_audience": {"invalid_audience"},
    "other_issuer": {"invalid_issuer"},
    "expired": {"invalid_request"},
    "iat_future": {"invalid_request"},
    "two_events": {"invalid_request"},
    "no_events": {"invalid_request"},
    "wrong_typ": {"invalid_request"},
    "not_a_jwt": {"invalid_request"},
}


@pytest.mark.parametrize("bad", sorted(BAD_SETS))
def test_bad_set_is_refused_in_rfc8935_shape_and_changes_nothing(ssf_partner, ssf_portal, idp, bad):
    portal = ssf_portal
    browser = portal.browser("alice")
    api = portal.api_headers("alice")
    r = ssf_partner.push("session-revoked", alice_iss_sub(idp), bad=bad)
    assert r["status"] == 400, r
    assert r["headers"]["content-type"].startswith("application/json"), r
    assert r["body"]["err"] in BAD_SETS[bad], r["body"]
    assert isinstance(r["body"].get("description"), str) and r["body"]["description"], r["body"]
    assert portal.browser_signed_in(browser)
    assert portal.api_works(api)


@pytest.mark.parametrize("token", ["none", "wrong-token"])
def test_push_without_the_bearer_is_refused(ssf_partner, ssf_portal, idp, token):
    portal = ssf_portal
    browser = portal.browser("alice")
    r = ssf_partner.push("session-revoked", alice_iss_sub(idp), token=token)
    assert r["status"] in (400, 401, 403), r
    if r["status"] == 400 or isinstance(r["body"], dict):
        assert r["body"]["err"] in {"authentication_failed", "access_denied"}, r["body"]
    assert portal.browser_signed_in(browser)


def test_push_with_another_content_type_is_refused(ssf_partner, ssf_portal, idp):
    portal = ssf_portal
    browser = portal.browser("alice")
    r = ssf_partner.push("session-revoked", alice_iss_sub(idp), content_type="application/json")
    assert r["status"] in (400, 415), r
    if r["status"] == 400:
        assert r["body"]["err"] == "invalid_request", r["body"]
    assert portal.browser_signed_in(browser)


def test_replayed_jti_changes_nothing(ssf_partner, ssf_portal, idp):
    portal = ssf_portal
    portal.browser("alice")
    first = ssf_partner.push("session-revoked", alice_iss_sub(idp))
    assert first["status"] == 202, first
    later = portal.browser("alice")  # signs in again after the revocation
    again = ssf_partner.push_raw(first["set"])
    assert again["status"] in (202, 400), again
    if again["status"] == 400:
        assert again["body"]["err"] in RFC8935_ERRS, again["body"]
    assert portal.browser_signed_in(later)


def test_rfc8935_error_codes_are_registered_ones(ssf_partner, ssf_portal, idp):
    """Every refusal above uses a code of the RFC 8935 section 2.4 registry."""
    for bad in ("tampered", "other_audience", "other_issuer", "two_events"):
        r = ssf_partner.push("session-revoked", alice_iss_sub(idp), bad=bad)
        assert r["body"]["err"] in RFC8935_ERRS, r["body"]


# =========================================================== the portal polls the partner
def test_portal_polls_applies_acknowledges_and_reports_bad_sets(
    ssf_partner, ssf_portal_polling, idp
):
    """RFC 8936: the portal's worker polls the partner with an OAuth token (SSF 1.0 section
    6.1.1), applies each good SET, acknowledges it by jti, and reports a bad one in setErrs."""
    portal = ssf_portal_polling
    alice = portal.browser("alice")
    bob = portal.browser("bob")
    good = ssf_partner.queue("session-revoked", alice_iss_sub(idp))["jti"]
    bad = ssf_partner.queue(
        "session-revoked", {"format": "email", "email": "bob@example.test"}, bad="other_key"
    )["jti"]
    wait_for(lambda: ssf_partner.queued() == [], step=portal.run_worker, timeout=20)
    assert ssf_partner.queued() == [], ssf_partner.polls()
    assert not portal.browser_signed_in(alice)
    assert portal.browser_signed_in(bob)
    polls = ssf_partner.polls()
    assert polls and all(p["authorized"] for p in polls), polls
    assert all(p["caller"] == "ssf-receiver-2" for p in polls), polls
    acked = [jti for p in polls for jti in (p["request"] or {}).get("ack", [])]
    errs = {k: v for p in polls for k, v in ((p["request"] or {}).get("setErrs") or {}).items()}
    assert acked == [good], polls
    assert list(errs) == [bad], polls
    assert errs[bad]["err"] in {"invalid_key", "invalid_request"}, errs
    assert errs[bad].get("description"), errs

    # A SET acknowledged is not applied again when offered again by mistake (same jti).
    later = portal.browser("alice")
    ssf_partner.queue(
        "session-revoked", alice_iss_sub(idp), jti=good
    )  # the same jti, a new signature
    wait_for(lambda: ssf_partner.queued() == [], step=portal.run_worker, timeout=20)
    assert portal.browser_signed_in(later)


@pytest.mark.parametrize("event", ["credential-change", "account-disabled"])
def test_portal_polls_other_events(ssf_partner, ssf_portal_polling, idp, event):
    portal = ssf_portal_polling
    browser = portal.browser("alice")
    ssf_partner.queue(event, alice_iss_sub(idp))
    wait_for(lambda: ssf_partner.queued() == [], step=portal.run_worker, timeout=20)
    assert ssf_partner.queued() == [], ssf_partner.polls()
    assert not portal.browser_signed_in(browser)
