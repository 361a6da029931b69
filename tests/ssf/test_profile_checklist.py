"""The OpenID CAEP Interoperability Profile 1.0 (draft 02), its MUST list as a checklist: one
test per MUST that applies to a Shared Signals transmitter or receiver the portal is, each
naming its section and quoting the MUST. Checked from the outside, through the independent
partner (tests/idp/ssf_partner.mjs) and plain HTTP, never through the portal's code.

Section numbers are those of the profile's rendered text: 2.3.x transmitters, 2.4.x receivers,
2.5 subjects, 2.6 signatures, 2.7.x OAuth, 2.8.1 the events claim, 3.x use cases.

MUSTs not checked here, and why:
- 2.1 "MUST establish connections to other servers using TLS", "TLS version 1.2 or later",
  "MUST follow the recommendations ... [RFC9325]", and the receiver's certificate checks "as per
  [RFC6125]": properties of the deployment (the proxy's TLS, the system's trust store), not of a
  loopback test server; 2.1's "MUST offer TLS protected endpoints" is checked as far as the portal
  decides it: every endpoint it advertises under an https issuer is https.
- 2.7.1 (authorization server) and the first two bullets of 2.7.2 (scope discovery, reserving
  the ``ssf`` prefix): they bind the IdP and the client, not the portal.
- 3.2 "Transmitters MUST populate [reason_admin] with a non-empty string": the portal sends no
  credential-change events (it is not a credential store).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import requests
from support.ssf_partner import (
    POLL,
    PUSH,
    SESSION_REVOKED,
    VERIFICATION,
    wait_for,
)
from support.tokens import mint

# The partner's fixtures: ssf_partner_process, ssf_partner, ssf_portal.
pytest_plugins = ["support.ssf_partner"]

DOCS = Path(__file__).resolve().parents[2] / "docs"
CAEP_6749 = {"spec_urn": "urn:ietf:rfc:6749"}


@pytest.fixture
def receiver(ssf_partner, ssf_portal):
    found = ssf_partner.discover()
    assert found["status"] == 200, found
    ssf_partner.token("ssf-receiver-1")
    return ssf_partner


@pytest.fixture
def metadata(receiver) -> dict:
    return receiver.discover()["body"]


def alice(idp) -> dict:
    return {"format": "iss_sub", "iss": idp.issuer, "sub": "alice"}


def session_revoked_on_poll_stream(receiver, portal) -> dict:
    """One session-revoked SET the portal sends on a fresh poll stream, as the partner got it."""
    sid = receiver.create_stream("poll", events_requested=[SESSION_REVOKED])["body"]["stream_id"]
    browser = portal.browser("alice")
    portal.admin_ends_sessions("alice")
    assert not portal.browser_signed_in(browser)
    got = wait_for(lambda: receiver.poll(sid)["sets"], step=portal.run_worker)
    assert [s["event_type"] for s in got] == [SESSION_REVOKED], got
    return got[0]


# ------------------------------------------------------------------ 2.1 network layer
def test_2_1_transmitter_offers_tls_protected_endpoints(app_config, ssf_portal):
    # 2.1: "The SSF transmitter MUST offer TLS protected endpoints"
    from portal import create_app

    app = create_app({**app_config, "SSF_ISSUER": "https://devices.example.test"})
    meta = app.test_client().get(
        "/.well-known/ssf-configuration", base_url="https://devices.example.test"
    )
    assert meta.status_code == 200
    body = meta.get_json()
    urls = [v for k, v in body.items() if k.endswith(("_endpoint", "_uri")) and isinstance(v, str)]
    assert urls and all(u.startswith("https://") for u in urls), body


# ------------------------------------------------------------------ 2.3 transmitters
def test_2_3_1_spec_version(metadata):
    # 2.3.1: "The Transmitter Configuration Metadata MUST have a `spec_version` field, and its
    # value MUST be `1_0` or greater"
    version = metadata.get("spec_version")
    assert isinstance(version, str) and re.fullmatch(r"\d+_\d+(-.+)?", version), version
    major, minor = (int(x) for x in version.split("-")[0].split("_"))
    assert (major, minor) >= (1, 0) and "-" not in version  # "1_0-ID1" etc. predate 1_0


def test_2_3_2_delivery_methods_supported(metadata):
    # 2.3.2: "The Transmitter Configuration Metadata MUST include the
    # `delivery_methods_supported` field."
    assert {PUSH, POLL} <= set(metadata["delivery_methods_supported"])


def test_2_3_3_jwks_uri_provides_the_current_signing_key(metadata, receiver, ssf_portal):
    # 2.3.3: "The Transmitter Configuration Metadata MUST include the `jwks_uri` field, and its
    # value MUST provide the current signing key of the Transmitter."
    assert metadata["jwks_uri"]
    keys = requests.get(metadata["jwks_uri"], timeout=10).json()["keys"]
    got = session_revoked_on_poll_stream(receiver, ssf_portal)
    assert got["accepted"], got["fatal"]  # verified against that very jwks_uri
    assert got["header"]["kid"] in {k.get("kid") for k in keys}


def test_2_3_4_configuration_endpoint_creates_streams(metadata, receiver):
    # 2.3.4: "The Transmitter Configuration Metadata MUST include the `configuration_endpoint`
    # field. The specified endpoint MUST support the `POST` method in order to be able to create
    # a stream."
    assert metadata["configuration_endpoint"]
    created = receiver.create_stream("push", events_requested=[SESSION_REVOKED])
    assert created["status"] == 201, created


def test_2_3_5_status_endpoint_get_and_post(metadata, receiver):
    # 2.3.5: "The Transmitter Configuration Metadata MUST include the `status_endpoint` field.
    # The specified endpoint MUST support the `GET` and `POST` methods in order to get and update
    # the stream status respectively."
    assert metadata["status_endpoint"]
    sid = receiver.create_stream("push")["body"]["stream_id"]
    read = receiver.status(sid)
    assert read["status"] == 200 and read["body"]["status"] == "enabled", read
    updated = receiver.set_status(sid, "paused")
    assert updated["status"] == 200 and updated["body"]["status"] == "paused", updated


@pytest.mark.parametrize("status", ["enabled", "paused", "disabled"])
def test_2_3_5_status_values(receiver, status):
    # 2.3.5: "The Transmitter MUST support the following values in an Update Stream Status
    # request: enabled, paused, disabled"
    sid = receiver.create_stream("push")["body"]["stream_id"]
    start = "paused" if status == "enabled" else "enabled"
    receiver.set_status(sid, start)
    updated = receiver.set_status(sid, status)
    assert updated["status"] == 200, updated
    assert updated["body"] == updated["body"] | {"stream_id": sid, "status": status}
    assert receiver.status(sid)["body"]["status"] == status


def test_2_3_5_paused_stream_limits_are_specified_offline():
    # 2.3.5: "For streams that are `paused`, the Transmitter MUST specify (offline) the resource
    # constraints on how many events it can keep, or for how long."
    text = " ".join(p.read_text() for p in DOCS.glob("*.md"))
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if "paused" in p.lower()]
    assert any(
        re.search(r"\b(hold|holds|held|keep|keeps|kept)\b", p) and re.search(r"\d", p)
        for p in paragraphs
    ), "no document says how many events a paused stream keeps"


def test_2_3_6_verification_endpoint_sends_verification_events(metadata, receiver, ssf_portal):
    # 2.3.6: "The Transmitter Configuration Metadata MUST include the `verification_endpoint`
    # field. The specified endpoint MUST provide a way to request verification events to be
    # sent."
    assert metadata["verification_endpoint"]
    sid = receiver.create_stream("poll")["body"]["stream_id"]
    assert receiver.verify(sid, state="checklist")["status"] == 204
    got = wait_for(lambda: receiver.poll(sid)["sets"], step=ssf_portal.run_worker)
    assert [s["event_type"] for s in got] == [VERIFICATION], got
    assert got[0]["claims"]["events"][VERIFICATION]["state"] == "checklist"


def test_2_3_7_authorization_schemes(metadata):
    # 2.3.7: "The Transmitter Configuration Metadata MUST include the `authorization_schemes`
    # field and its value MUST include the value {"spec_urn": "urn:ietf:rfc:6749"}"
    assert CAEP_6749 in metadata["authorization_schemes"]


@pytest.mark.parametrize("delivery", ["push", "poll"])
def test_2_3_8_1_create_accepts_push_and_poll(receiver, delivery):
    # 2.3.8.1: "A Transmitter MUST be able to accept a Create Stream request that includes
    # either of the following delivery methods: urn:ietf:rfc:8935 (Push), urn:ietf:rfc:8936 (Poll)"
    created = receiver.create_stream(delivery, events_requested=[SESSION_REVOKED])
    assert created["status"] == 201, created
    assert created["body"]["delivery"]["method"] == (PUSH if delivery == "push" else POLL)


def test_2_3_8_1_every_stream_has_a_delivery(receiver):
    # 2.3.8.1: "The `delivery` field MUST be present in the Configuration of any Stream generated
    # by the Transmitter, and its value MUST include one of the two delivery methods"
    for delivery in ("push", "poll", "none"):
        assert receiver.create_stream(delivery)["status"] == 201
    listed = receiver.manage("configuration")
    assert listed["status"] == 200 and len(listed["body"]) == 3, listed
    assert all(c["delivery"]["method"] in (PUSH, POLL) for c in listed["body"])


def test_2_3_8_2_create_with_valid_authorization(receiver):
    # 2.3.8.2: "Receivers MUST be able to create a Stream with the Transmitter using valid
    # authorization with the Transmitter."
    assert receiver.create_stream("push", token="none")["status"] == 401
    assert receiver.create_stream("push")["status"] == 201


def test_2_3_8_2_read_stream_configuration(receiver):
    # 2.3.8.2: "A Receiver MUST be able to obtain current Stream configuration from the
    # Transmitter by providing a valid authorization"
    sid = receiver.create_stream("push", description="read me")["body"]["stream_id"]
    read = receiver.manage("configuration", query={"stream_id": sid})
    assert read["status"] == 200 and read["problems"] == [], read
    assert read["body"]["description"] == "read me"
    assert receiver.manage("configuration", query={"stream_id": sid}, token="none")["status"] == 401


def test_2_3_8_2_get_stream_status(receiver):
    # 2.3.8.2: "A Receiver MUST be able to obtain the current Stream status from the Transmitter
    # by providing a valid authorization"
    sid = receiver.create_stream("push")["body"]["stream_id"]
    assert receiver.status(sid)["body"] == receiver.status(sid)["body"] | {"stream_id": sid}
    assert receiver.status(sid, token="none")["status"] == 401


def test_2_3_8_2_stream_verification(receiver, ssf_portal):
    # 2.3.8.2: "A Receiver MUST be able to verify the liveness of the Stream by requesting that
    # the Transmitter send it a Stream Verification event by providing a valid authorization"
    sid = receiver.create_stream("push")["body"]["stream_id"]
    assert receiver.verify(sid, state="live", token="none")["status"] == 401
    assert receiver.verify(sid, state="live")["status"] == 204
    got = wait_for(
        lambda: [r for r in receiver.received(sid) if r.get("event_type") == VERIFICATION],
        step=ssf_portal.run_worker,
    )
    assert len(got) == 1 and got[0]["accepted"], got


# ------------------------------------------------------------------ 2.4 receivers
def test_2_4_1_receiver_accepts_push(ssf_partner, ssf_portal, idp):
    # 2.4.1: "Receivers MUST be able to accept events using the Push-Based Security Event Token
    # (SET) Delivery Using HTTP [RFC8935] specification"
    browser = ssf_portal.browser("alice")
    r = ssf_partner.push("session-revoked", alice(idp))
    assert r["status"] == 202, r
    assert not ssf_portal.browser_signed_in(browser)


def test_2_4_2_subjects_are_implicitly_included(ssf_partner, ssf_portal, idp):
    # 2.4.2: "Receivers MUST assume that all subjects are implicitly included in a Stream,
    # without any `AddSubject` method invocations."
    # Nobody ever added bob: an event about him still takes effect.
    browser = ssf_portal.browser("bob")
    r = ssf_partner.push("session-revoked", {"format": "email", "email": "bob@example.test"})
    assert r["status"] == 202, r
    assert not ssf_portal.browser_signed_in(browser)


# ------------------------------------------------------------------ 2.5 subjects
@pytest.mark.parametrize("fmt", ["email", "iss_sub"])
def test_2_5_receiver_accepts_profile_subject_formats(ssf_partner, ssf_portal, idp, fmt):
    # 2.5: "Receivers MUST be prepared to accept events with any of the subject identifier
    # formats specified in this section." (email, iss_sub)
    subject = alice(idp) if fmt == "iss_sub" else {"format": "email", "email": "alice@example.test"}
    browser = ssf_portal.browser("alice")
    r = ssf_partner.push("session-revoked", subject)
    assert r["status"] == 202, r
    assert not ssf_portal.browser_signed_in(browser)


def test_2_5_receiver_accepts_opaque_verification(ssf_partner, ssf_portal):
    # 2.5: "The following subject identifier formats ... MUST be supported: ... `opaque` (for the
    # Verification event only)"
    r = ssf_partner.push(
        "https://schemas.openid.net/secevent/ssf/event-type/verification",
        {"format": "opaque", "id": "partner-stream-to-the-portal"},
        body={"state": "hello"},
    )
    assert r["status"] == 202, r


def test_2_5_transmitter_sends_a_profile_subject_format(receiver, ssf_portal):
    # 2.5: "Transmitters MUST be able to send events with at least one of subject identifier
    # formats specified in this section."
    got = session_revoked_on_poll_stream(receiver, ssf_portal)
    assert got["claims"]["sub_id"]["format"] in ("email", "iss_sub"), got["claims"]["sub_id"]


# ------------------------------------------------------------------ 2.6 signatures
def test_2_6_events_signed_rs256_with_2048_bit_keys(metadata, receiver, ssf_portal):
    # 2.6: "All events MUST be signed using the `RS256` algorithm using a minimum of 2048-bit
    # keys."
    got = session_revoked_on_poll_stream(receiver, ssf_portal)
    assert got["header"]["alg"] == "RS256" and got["accepted"], got
    keys = requests.get(metadata["jwks_uri"], timeout=10).json()["keys"]
    key = next(k for k in keys if k["kid"] == got["header"]["kid"])

    n = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
    assert key["kty"] == "RSA" and len(n) * 8 >= 2048


def test_2_6_receiver_refuses_other_algorithms(ssf_partner, ssf_portal, idp):
    # 2.6 (as a receiver): events not signed RS256 (none, HS256) are not events.
    for bad in ("alg_none", "hs256"):
        r = ssf_partner.push("session-revoked", alice(idp), bad=bad)
        assert r["status"] == 400, r


# ------------------------------------------------------------------ 2.7 OAuth
def test_2_7_2_management_operations_accept_ssf_manage(receiver):
    # 2.7.2: "All the SSF stream configuration management API operations MUST accept
    # `ssf.manage` scope"
    receiver.token("ssf-receiver-2", scope="ssf.manage")
    only = {"client": "ssf-receiver-2"}
    created = receiver.create_stream("push", **only)
    assert created["status"] == 201, created
    sid = created["body"]["stream_id"]
    body = {"stream_id": sid, "subject": {"format": "email", "email": "bob@example.test"}}
    answers = {
        "read": receiver.manage("configuration", query={"stream_id": sid}, **only)["status"],
        "patch": receiver.manage(
            "configuration", "PATCH", body={"stream_id": sid, "description": "x"}, **only
        )["status"],
        "status": receiver.set_status(sid, "paused", **only)["status"],
        "add": receiver.manage("add_subject", "POST", body=body, **only)["status"],
        "remove": receiver.manage("remove_subject", "POST", body=body, **only)["status"],
        "verify": receiver.verify(sid, state="s", **only)["status"],
        "delete": receiver.manage("configuration", "DELETE", query={"stream_id": sid}, **only)[
            "status"
        ],
    }
    assert answers == {
        "read": 200,
        "patch": 200,
        "status": 200,
        "add": 200,
        "remove": 204,
        "verify": 204,
        "delete": 204,
    }


def test_2_7_2_read_operations_accept_ssf_read(receiver):
    # 2.7.2: "All the SSF stream configuration Read API operations MUST accept `ssf.read` scope"
    sid = receiver.create_stream("push")["body"]["stream_id"]
    reader = receiver.token("ssf-receiver-1", scope="ssf.read", store=False)
    assert receiver.manage("configuration", query={"stream_id": sid}, token=reader)["status"] == 200
    assert receiver.manage("configuration", token=reader)["status"] == 200
    assert receiver.status(sid, token=reader)["status"] == 200


def test_2_7_3_accepts_tokens_in_the_authorization_header(receiver):
    # 2.7.3: "MUST accept access tokens in the HTTP header as in Section 2.1 of OAuth 2.0 Bearer
    # Token Usage [RFC6750]"
    assert receiver.manage("configuration")["status"] == 200


def test_2_7_3_refuses_tokens_in_the_query(receiver, metadata):
    # 2.7.3: "MUST NOT accept access tokens in the query parameters stated in Section 2.3 of
    # OAuth 2.0 Bearer Token Usage [RFC6750]"
    token = receiver.token("ssf-receiver-1")
    r = requests.get(metadata["configuration_endpoint"], params={"access_token": token}, timeout=10)
    assert r.status_code == 401, r.text


def test_2_7_3_verifies_validity_integrity_and_expiration(receiver, metadata, idp):
    # 2.7.3: "MUST verify the validity, integrity, expiration and revocation status of access
    # tokens"
    token = receiver.token("ssf-receiver-1")
    head, body, sig = token.split(".")
    tampered = f"{head}.{body[:-4]}{'AAAA' if body[-4:] != 'AAAA' else 'BBBB'}.{sig}"
    claims = {
        "iss": idp.issuer,
        "aud": idp.audience,
        "client_id": "ssf-receiver-1",
        "sub": "ssf-receiver-1",
        "scope": "ssf.manage ssf.read",
    }
    forged = mint(claims)  # a key the IdP never published
    expired = mint({**claims, "iat": 999_999_000, "exp": 1_000_000_000})
    # (Revocation: the IdP's client-credentials tokens carry no session the portal could end.)
    for bad in (tampered, forged, expired, "not-a-token"):
        r = receiver.manage("configuration", token=bad)
        assert r["status"] == 401, (bad[:20], r)


def test_2_7_3_verifies_the_authorization_is_sufficient(receiver):
    # 2.7.3: "MUST verify that the authorization represented by the access token is sufficient
    # for the requested resource access."
    reader = receiver.token("ssf-receiver-1", scope="ssf.read", store=False)
    assert receiver.create_stream("push", token=reader)["status"] == 403
    sid = receiver.create_stream("push")["body"]["stream_id"]
    assert receiver.set_status(sid, "disabled", token=reader)["status"] == 403
    assert receiver.verify(sid, state="s", token=reader)["status"] == 403


def test_2_7_3_errors_as_rfc6750_section_3_1(receiver):
    # 2.7.3: "If the access token is not sufficient for the requested action, the Resource
    # server MUST return errors as per section 3.1 of [RFC6750]"
    reader = receiver.token("ssf-receiver-1", scope="ssf.read", store=False)
    r = receiver.create_stream("push", token=reader)
    assert r["status"] == 403
    assert re.search(r'error="insufficient_scope"', r["headers"].get("www-authenticate", "")), r
    r = receiver.manage("configuration", token="not-a-token")
    assert r["status"] == 401
    assert re.search(
        r'^Bearer\b.*error="invalid_token"', r["headers"].get("www-authenticate", "")
    ), r
    r = receiver.manage("configuration", token="none")
    assert r["status"] == 401
    assert r["headers"].get("www-authenticate", "").startswith("Bearer"), r


# ------------------------------------------------------------------ 2.8 SET
def test_2_8_1_transmitted_sets_carry_one_event(receiver, ssf_portal):
    # 2.8.1: "The "events" claim of the SET MUST contain only one event."
    got = session_revoked_on_poll_stream(receiver, ssf_portal)
    assert len(got["claims"]["events"]) == 1


def test_2_8_1_received_sets_with_two_events_are_refused(ssf_partner, ssf_portal, idp):
    # 2.8.1: "The "events" claim of the SET MUST contain only one event." (as a receiver)
    browser = ssf_portal.browser("alice")
    r = ssf_partner.push("session-revoked", alice(idp), bad="two_events")
    assert r["status"] == 400 and r["body"]["err"] == "invalid_request", r
    assert ssf_portal.browser_signed_in(browser)


# ------------------------------------------------------------------ 3 use cases
def test_3_1_transmitter_supports_session_revoked(metadata, receiver, ssf_portal):
    # 3.1: "implementations MUST support the CAEP event type `session-revoked`. The
    # `reason_admin` field of the event MUST be populated with a non-empty value."
    got = session_revoked_on_poll_stream(receiver, ssf_portal)
    reason = got["claims"]["events"][SESSION_REVOKED].get("reason_admin")
    assert isinstance(reason, dict) and reason and all(v for v in reason.values()), reason
    created = receiver.manage("configuration")["body"][0]
    assert SESSION_REVOKED in created["events_supported"]


def test_3_1_receiver_supports_session_revoked(ssf_partner, ssf_portal, idp):
    # 3.1: "implementations MUST support the CAEP event type `session-revoked`."
    browser = ssf_portal.browser("alice")
    api = ssf_portal.api_headers("alice")
    assert ssf_partner.push("session-revoked", alice(idp))["status"] == 202
    assert not ssf_portal.browser_signed_in(browser)
    assert not ssf_portal.api_works(api)


def test_3_2_receiver_supports_credential_change(ssf_partner, ssf_portal, idp):
    # 3.2: "implementations MUST support the CAEP event type `credential-change`."
    browser = ssf_portal.browser("alice")
    assert ssf_partner.push("credential-change", alice(idp))["status"] == 202
    assert not ssf_portal.browser_signed_in(browser)


@pytest.mark.parametrize("change_type", ["create", "revoke", "update", "delete"])
def test_3_2_receiver_interprets_every_change_type(ssf_partner, ssf_portal, idp, change_type):
    # 3.2: "`change_type`: Receivers MUST interpret all allowable values of this field."
    browser = ssf_portal.browser("alice")
    r = ssf_partner.push("credential-change", alice(idp), body={"change_type": change_type})
    assert r["status"] == 202, r
    assert not ssf_portal.browser_signed_in(browser)


@pytest.mark.parametrize(
    "credential_type",
    [
        "password",
        "pin",
        "x509",
        "fido2-platform",
        "fido2-roaming",
        "fido-u2f",
        "verifiable-credential",
        "phone-voice",
        "phone-sms",
        "app",
    ],
)
def test_3_2_receiver_interprets_every_credential_type(
    ssf_partner, ssf_portal, idp, credential_type
):
    # 3.2: "`credential_type`: Receivers MUST interpret all allowable values of this field."
    browser = ssf_portal.browser("alice")
    r = ssf_partner.push("credential-change", alice(idp), body={"credential_type": credential_type})
    assert r["status"] == 202, r
    assert not ssf_portal.browser_signed_in(browser)
