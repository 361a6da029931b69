"""The partner checked on its own, with a second JOSE library (joserfc) and plain HTTP, without
the portal: what it crafts is what the specifications call good or bad, and its poll endpoint
behaves as RFC 8936 says. A failure of the interop tests is then the portal's, or a reading of
the specifications that this file makes explicit."""

from __future__ import annotations

import time

import pytest
import requests
from joserfc import jws
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from joserfc.jwk import KeySet
from support.ssf_partner import ACCOUNT_DISABLED, SESSION_REVOKED

pytest_plugins = ["support.ssf_partner"]

SUBJECT = {"format": "iss_sub", "iss": "https://idp.example/", "sub": "alice"}


def parts(token: str) -> tuple[dict, dict]:
    import base64
    import json

    def dec(s: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))

    head, body, _ = token.split(".")
    return dec(head), dec(body)


@pytest.fixture
def keys(ssf_partner) -> KeySet:
    return KeySet.import_key_set(requests.get(ssf_partner.jwks_url, timeout=10).json())


def test_jwks_holds_one_rsa_2048_key(ssf_partner):
    got = requests.get(ssf_partner.jwks_url, timeout=10).json()["keys"]
    assert len(got) == 1 and got[0]["kty"] == "RSA" and got[0]["alg"] == "RS256"
    assert "d" not in got[0]
    meta = requests.get(f"{ssf_partner.issuer}/.well-known/ssf-configuration", timeout=10).json()
    assert meta["issuer"] == ssf_partner.issuer and meta["jwks_uri"] == ssf_partner.jwks_url


def test_a_good_set_verifies_with_another_library(ssf_partner, keys):
    crafted = ssf_partner.craft("session-revoked", SUBJECT)
    obj = jws.deserialize_compact(crafted["set"], keys, algorithms=["RS256"])
    header, claims = parts(crafted["set"])
    assert header["typ"] == "secevent+jwt" and header["alg"] == "RS256"
    assert obj.headers()["kid"] == header["kid"]
    assert claims["iss"] == ssf_partner.issuer and claims["sub_id"] == SUBJECT
    assert list(claims["events"]) == [SESSION_REVOKED]
    assert claims["events"][SESSION_REVOKED]["reason_admin"]["en"]
    assert "exp" not in claims and "sub" not in claims and claims["jti"]
    assert abs(claims["iat"] - time.time()) < 60


@pytest.mark.parametrize("bad", ["tampered", "other_key", "unknown_kid"])
def test_bad_signatures_do_not_verify(ssf_partner, keys, bad):
    crafted = ssf_partner.craft("session-revoked", SUBJECT, bad=bad)
    with pytest.raises((BadSignatureError, InvalidKeyIdError)):
        jws.deserialize_compact(crafted["set"], keys, algorithms=["RS256"])


def test_bad_claims_are_what_they_say(ssf_partner):
    def craft(bad):
        return parts(ssf_partner.craft("session-revoked", SUBJECT, bad=bad)["set"])

    assert craft("alg_none")[0]["alg"] == "none"
    assert craft("hs256")[0]["alg"] == "HS256"
    assert craft("wrong_typ")[0]["typ"] == "JWT"
    assert craft("other_audience")[1]["aud"] != ssf_partner.craft("x", SUBJECT)["claims"]["aud"]
    assert craft("other_issuer")[1]["iss"] != ssf_partner.issuer
    expired = craft("expired")[1]
    assert expired["exp"] < time.time()
    assert craft("iat_future")[1]["iat"] > time.time() + 600
    assert set(craft("two_events")[1]["events"]) == {SESSION_REVOKED, ACCOUNT_DISABLED}
    assert craft("no_events")[1]["events"] == {}


def test_poll_endpoint_follows_rfc8936(ssf_partner):
    url = ssf_partner.poll_url
    auth = {"Authorization": f"Bearer {ssf_partner.poll_token}"}
    assert requests.post(url, json={}, timeout=10).status_code == 401
    first = ssf_partner.queue("session-revoked", SUBJECT)["jti"]
    second = ssf_partner.queue("account-disabled", SUBJECT)["jti"]
    r = requests.post(url, json={"maxEvents": 1, "returnImmediately": True}, headers=auth)
    assert r.status_code == 200
    assert list(r.json()["sets"]) == [first] and r.json()["moreAvailable"] is True
    # Unacknowledged SETs are offered again; an acknowledged one never.
    r = requests.post(url, json={"ack": [first], "returnImmediately": True}, headers=auth)
    assert list(r.json()["sets"]) == [second] and r.json()["moreAvailable"] is False
    r = requests.post(
        url,
        json={
            "setErrs": {second: {"err": "invalid_request", "description": "x"}},
            "returnImmediately": True,
        },
        headers=auth,
    )
    assert r.json() == {"sets": {}, "moreAvailable": False}
    assert ssf_partner.queued() == []
    started = time.monotonic()
    r = requests.post(url, json={"returnImmediately": False}, headers=auth, timeout=10)
    assert r.json()["sets"] == {} and time.monotonic() - started >= 2.5  # a long poll
    log = ssf_partner.polls()
    assert log[0]["authorized"] is False and log[2]["request"]["ack"] == [first]
