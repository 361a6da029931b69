"""Every bad push to ``POST /ssf/events`` is refused in RFC 8935's shape (``{"err",
"description"}``, 400, 401 or 403) and changes nothing: no session ends, nothing is audited,
no ``jti`` is remembered (so the good SET with that ``jti`` still works afterwards)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from support.account_helpers import audit_actions, sessions_of
from support.ssf_transmitter import (
    ACCOUNT_DISABLED,
    PORTAL_AUDIENCE,
    SESSION_REVOKED,
    iss_sub,
    push,
)

from portal.extensions import db
from portal.models import ReceivedSet


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def tampered(t, claims):
    token = t.sign(claims)
    head, _, signature = token.split(".")
    changed = {**claims, "sub_id": iss_sub(claims["sub_id"]["iss"], "bob")}
    return f"{head}.{_b64(changed)}.{signature}"


def other_key(t, claims):
    return t.sign(claims, key=RSAKey.generate_key(2048, parameters={"kid": "other"}))


def other_key_same_kid(t, claims):
    return t.sign(claims, key=RSAKey.generate_key(2048, parameters={"kid": t.key.kid}))


def alg_none(t, claims):
    head = {"alg": "none", "typ": "secevent+jwt", "kid": t.key.kid}
    return f"{_b64(head)}.{_b64(claims)}."


def hs256(t, claims):
    # The transmitter's public key's modulus as an HMAC secret: the classic confusion.
    secret = OctKey.import_key(t.key.as_dict(private=False)["n"].encode())
    head = {"alg": "HS256", "typ": "secevent+jwt", "kid": t.key.kid}
    return jwt.encode(head, claims, secret, algorithms=["HS256"])


def header_not_an_object(t, claims):
    return f"{base64.urlsafe_b64encode(b'[1]').rstrip(b'=').decode()}.{_b64(claims)}.c2ln"


def payload_not_an_object(t, claims):
    from joserfc import jws

    head = {"alg": "RS256", "kid": t.key.kid, "typ": "secevent+jwt"}
    return jws.serialize_compact(head, b'["not", "claims"]', t.key, algorithms=["RS256"])


def event_not_an_object(t, claims):
    return t.sign({**claims, "events": {SESSION_REVOKED: "revoked"}})


def subject_not_an_object(t, claims):
    return t.sign({**claims, "sub_id": "alice"})


def wrong_typ(t, claims):
    return t.sign(claims, header={"typ": "JWT"})


BAD = {
    "tampered": (tampered, {}, 400, "invalid_key"),
    "other key": (other_key, {}, 400, "invalid_key"),
    "other key under its kid": (other_key_same_kid, {}, 400, "invalid_key"),
    "alg none": (alg_none, {}, 400, "invalid_key"),
    "HS256": (hs256, {}, 400, "invalid_key"),
    "typ not secevent+jwt": (wrong_typ, {}, 400, "invalid_request"),
    "header not an object": (header_not_an_object, {}, 400, "invalid_request"),
    "payload not an object": (payload_not_an_object, {}, 400, "invalid_request"),
    "event not an object": (event_not_an_object, {}, 400, "invalid_request"),
    "sub_id not an object": (subject_not_an_object, {}, 400, "invalid_request"),
    "aud missing": (None, {"aud": None}, 400, "invalid_audience"),
    "other audience": (None, {"aud": "https://elsewhere.test"}, 400, "invalid_audience"),
    "other issuer": (None, {"iss": "https://other-transmitter.test"}, 400, "invalid_issuer"),
    "iat in the future": (None, {"iat": int(time.time()) + 3600}, 400, "invalid_request"),
    "too old": (None, {"iat": int(time.time()) - 8 * 24 * 3600}, 400, "invalid_request"),
    "expired": (None, {"exp": int(time.time()) - 3600}, 400, "invalid_request"),
    "no jti": (None, {"jti": None}, 400, "invalid_request"),
    "two events": (
        None,
        {"events": {SESSION_REVOKED: {}, ACCOUNT_DISABLED: {}}},
        400,
        "invalid_request",
    ),
    "no event": (None, {"events": {}}, 400, "invalid_request"),
}


def _unchanged(app) -> None:
    assert all(s.ended_at is None for s in sessions_of(app, "alice"))
    assert audit_actions(app, "ssf_event_received") == []
    with app.app_context():
        assert db.session.query(ReceivedSet).count() == 0


def _refused(answer, status: int, err: str) -> None:
    assert answer.status_code == status, answer.data[:300]
    body = answer.get_json()
    assert body["err"] == err and body["description"], body
    assert set(body) == {"err", "description"}
    assert answer.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_set_is_refused_in_rfc_8935s_shape_and_changes_nothing(
    case, receiving, app, auth, idp
):
    make, overrides, status, err = BAD[case]
    auth.new_client("alice")
    claims = receiving.claims(SESSION_REVOKED, iss_sub(idp.issuer, "alice"), **overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    token = make(receiving, claims) if make else receiving.sign(claims)

    _refused(push(app.test_client(), token), status, err)

    _unchanged(app)


def test_a_refused_sets_jti_is_not_remembered(receiving, app, auth, idp):
    auth.new_client("alice")
    claims = receiving.claims(SESSION_REVOKED, iss_sub(idp.issuer, "alice"))
    _refused(push(app.test_client(), tampered(receiving, claims)), 400, "invalid_key")

    assert push(app.test_client(), receiving.sign(claims)).status_code == 202
    assert all(s.ended_at is not None for s in sessions_of(app, "alice"))


@pytest.mark.parametrize("bearer", [None, "", "x" * 46, "receive-token-" + "r" * 31])
def test_a_push_without_the_transmitters_bearer_token_is_401(bearer, receiving, app, auth, idp):
    auth.new_client("alice")
    token = receiving.set_of(SESSION_REVOKED, iss_sub(idp.issuer, "alice"))

    answer = push(app.test_client(), token, bearer=bearer)

    _refused(answer, 401, "authentication_failed")
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    _unchanged(app)


@pytest.mark.parametrize("content_type", ["application/jwt", "text/plain", "application/json"])
def test_a_push_of_another_content_type_is_refused(content_type, receiving, app, auth, idp):
    auth.new_client("alice")
    token = receiving.set_of(SESSION_REVOKED, iss_sub(idp.issuer, "alice"))

    _refused(push(app.test_client(), token, content_type=content_type), 400, "invalid_request")
    _unchanged(app)


@pytest.mark.parametrize("body", ["", "not a jwt", "a.b.c"])
def test_a_body_that_is_no_set_is_refused(body, receiving, app):
    _refused(push(app.test_client(), body), 400, "invalid_request")


# -- two transmitters ---------------------------------------------------------------------------

SECOND_TOKEN = "second-transmitter-token-" + "s" * 32


@pytest.fixture(scope="module")
def second():
    from support.ssf_transmitter import FakeTransmitter

    t = FakeTransmitter(kid="second")
    yield t
    t.stop()


@pytest.fixture
def two_transmitters(receiving, second, app_config):
    """The single settings' transmitter, and a second one allowed only session-revoked."""
    app_config["SSF_RECEIVE_TRANSMITTERS"] = [
        {
            "issuer": second.issuer,
            "token": SECOND_TOKEN,
            "audience": PORTAL_AUDIENCE,
            "events": [SESSION_REVOKED],
        }
    ]
    return receiving, second


def test_each_transmitter_is_known_by_its_own_token_and_may_send_only_its_events(
    two_transmitters, app, auth, idp
):
    _, second = two_transmitters
    auth.new_client("alice")
    alice = iss_sub(idp.issuer, "alice")

    # The second's SET under the first's token: checked against the first's keys.
    _refused(push(app.test_client(), second.set_of(SESSION_REVOKED, alice)), 400, "invalid_key")
    # An event the second may not send.
    denied = push(app.test_client(), second.set_of(ACCOUNT_DISABLED, alice), bearer=SECOND_TOKEN)
    _refused(denied, 403, "access_denied")
    _unchanged(app)

    taken = push(app.test_client(), second.set_of(SESSION_REVOKED, alice), bearer=SECOND_TOKEN)

    assert taken.status_code == 202
    assert all(s.ended_at is not None for s in sessions_of(app, "alice"))
    [event] = audit_actions(app, "ssf_event_received")
    assert event.detail["transmitter"] == second.issuer


# -- the transmitter's keys -------------------------------------------------------------------


def test_a_new_key_of_the_transmitter_is_fetched_once_when_a_set_names_its_kid(
    receiving, app, auth, idp, monkeypatch
):
    from portal.auth import tokens

    monkeypatch.setattr(tokens, "JWKS_MIN_REFRESH_SECONDS", 0)
    auth.new_client("alice")
    alice = iss_sub(idp.issuer, "alice")
    assert (
        push(app.test_client(), receiving.set_of(ACCOUNT_DISABLED, email_of("nobody"))).status_code
        == 202
    )
    fetched = receiving.jwks_fetches
    old_key = receiving.key
    receiving.key = RSAKey.generate_key(2048, parameters={"kid": "rotated", "alg": "RS256"})
    try:
        answer = push(app.test_client(), receiving.set_of(SESSION_REVOKED, alice))
        again = push(app.test_client(), receiving.set_of(ACCOUNT_DISABLED, email_of("nobody")))
    finally:
        receiving.key = old_key
    fetched_for_rotation = receiving.jwks_fetches - fetched
    # Back to the old key: fetched again (so the tests after this one find it).
    assert (
        push(app.test_client(), receiving.set_of(ACCOUNT_DISABLED, email_of("x"))).status_code
        == 202
    )

    assert answer.status_code == 202 and again.status_code == 202
    assert fetched_for_rotation == 1  # once for the new kid, then cached
    assert all(s.ended_at is not None for s in sessions_of(app, "alice"))


def email_of(login: str) -> dict:
    return {"format": "email", "email": f"{login}@example.test"}


@pytest.fixture
def receiving_from_the_idp(app_config):
    """Only a push token: the transmitter is the OIDC issuer (the test IdP, which publishes no
    SSF metadata), so its keys are the IdP's OIDC keys."""
    app_config.update(SSF_RECEIVE_TOKEN=RECEIVE_TOKEN_FOR_IDP, SSF_RECEIVE_AUDIENCE=PORTAL_AUDIENCE)


RECEIVE_TOKEN_FOR_IDP = "receive-token-" + "r" * 32


def test_without_ssf_metadata_the_oidc_issuers_keys_check_its_sets(
    receiving_from_the_idp, app, auth, idp
):
    auth.new_client("alice")
    [kid] = {k["kid"] for k in idp.jwks()["keys"] if k["kty"] == "RSA"}
    claims = {
        "iss": idp.issuer,
        "aud": PORTAL_AUDIENCE,
        "iat": int(time.time()),
        "jti": "j1",
        "sub_id": iss_sub(idp.issuer, "alice"),
        "events": {SESSION_REVOKED: {}},
    }

    def forged(kid: str) -> str:
        key = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256"})
        return jwt.encode({"alg": "RS256", "kid": kid, "typ": "secevent+jwt"}, claims, key)

    under_its_kid = push(app.test_client(), forged(kid))
    under_another = push(app.test_client(), forged("not-the-idps"))

    _refused(under_its_kid, 400, "invalid_key")
    assert "signature" in under_its_kid.get_json()["description"]  # its kid was found there
    _refused(under_another, 400, "invalid_key")
    assert "kid" in under_another.get_json()["description"]
    _unchanged(app)
