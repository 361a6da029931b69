"""``GET /devices`` exactly as documented, and every way a bearer token can be refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from support.agents import IPHONE
from support.shapes import DEVICE_KEYS, ISO_Z
from support.tokens import TEST_KEY, mint

from portal.api import auth as api_auth


def test_get_devices_lists_the_callers_devices_in_the_documented_shape(client, auth):
    auth.new_client("alice", remote_addr="81.2.69.142", user_agent=IPHONE)
    response = client.get("/devices", headers=auth.bearer("alice"))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"success", "devices"} and body["success"] is True
    # The phone, plus the API client that made this very call.
    assert len(body["devices"]) == 2
    for device in body["devices"]:
        assert set(device) == DEVICE_KEYS
        assert device["deviceType"] in ("DESKTOP", "MOBILE", "TABLET")
        assert device["trustLevel"] in ("HIGH", "MEDIUM", "LOW", "UNKNOWN")
        assert isinstance(device["isTrusted"], bool)
        assert ISO_Z.match(device["lastSeen"]) and ISO_Z.match(device["createdAt"])
        assert device["trustExpiresAt"] is None
    phone = next(d for d in body["devices"] if d["deviceType"] == "MOBILE")
    assert phone == {
        **phone,
        "deviceName": "Safari on iPhone",
        "os": "iOS 17.1",
        "browser": "Safari",
        "ipAddress": "81.2.69.142",
        "country": "United Kingdom",
        "city": "London",
        "isTrusted": False,
        "trustLevel": "UNKNOWN",
    }
    # The device this token is calling from comes first.
    assert body["devices"][0]["deviceName"].startswith("API client")


def test_a_user_never_sees_another_users_devices(client, auth):
    auth.new_client("bob", user_agent=IPHONE)
    body = client.get("/devices", headers=auth.bearer("alice")).get_json()
    assert [d["deviceName"] for d in body["devices"]] == ["API client portal"]


def test_json_never_answers_with_cookies_alone(client, auth):
    auth.sign_in(client, "alice")
    response = client.get("/devices")
    assert response.status_code == 401
    assert response.is_json


def _assert_401(response, fragment: str = ""):
    assert response.status_code == 401
    assert response.is_json, response.data[:200]
    body = response.get_json()
    assert body["success"] is False and isinstance(body["error"], str) and body["error"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert fragment.lower() in body["error"].lower()
    return body


def test_missing_token_is_401(client):
    _assert_401(client.get("/devices"), "authorization")


@pytest.mark.parametrize(
    "header", ["Bearer", "Basic abc", "Bearer a b", "Bearer not-a-jwt", "Bearer a.b.c"]
)
def test_malformed_token_is_401(client, header):
    _assert_401(client.get("/devices", headers={"Authorization": header}))


def test_wrongly_signed_token_is_401(client, auth):
    real = auth.token("alice")
    head, payload, signature = real.split(".")
    forged = ".".join(
        [head, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")]
    )
    _assert_401(client.get("/devices", headers={"Authorization": f"Bearer {forged}"}), "signature")
    # A token signed by a key the issuer never published, with the right claims.
    foreign = mint({"iss": auth.idp.issuer, "aud": "https://portal.test/api", "sub": "alice"})
    _assert_401(client.get("/devices", headers={"Authorization": f"Bearer {foreign}"}))


@pytest.fixture
def trusted_test_key(monkeypatch):
    """Add the test's own key to the issuer's real key set, to mint tokens the IdP won't."""
    original = api_auth.jwks_cache._fetch

    def fetch(uri):
        keys, fetched_at, algs = original(uri)
        keys.keys.append(TEST_KEY)
        return keys, fetched_at, algs

    monkeypatch.setattr(api_auth.jwks_cache, "_fetch", fetch)
    api_auth.jwks_cache._keys.clear()
    yield
    api_auth.jwks_cache._keys.clear()


def test_expired_token_is_401(client, auth, trusted_test_key):
    now = int(time.time())
    token = mint(
        {
            "iss": auth.idp.issuer,
            "aud": "https://portal.test/api",
            "sub": "alice",
            "iat": now - 7200,
            "exp": now - 3600,
        }
    )
    _assert_401(client.get("/devices", headers={"Authorization": f"Bearer {token}"}), "expired")


def test_wrong_audience_is_401(client, auth, trusted_test_key):
    token = mint({"iss": auth.idp.issuer, "aud": "https://other.test/api", "sub": "alice"})
    _assert_401(client.get("/devices", headers={"Authorization": f"Bearer {token}"}), "audience")


def test_wrong_issuer_is_401(client, auth, trusted_test_key):
    token = mint({"iss": "https://evil.example", "aud": "https://portal.test/api", "sub": "alice"})
    _assert_401(client.get("/devices", headers={"Authorization": f"Bearer {token}"}), "issuer")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json64(obj: dict) -> str:
    return _b64(json.dumps(obj).encode())


def test_alg_none_and_hmac_are_refused(client, auth):
    """``none``, and the algorithm-confusion attack: HS256 keyed with the IdP's published
    public key, under its real ``kid``, which a verifier trusting the header would accept."""
    from joserfc.jwk import RSAKey

    [published] = [k for k in auth.idp.jwks()["keys"] if k["kty"] == "RSA"]
    claims = {
        "iss": auth.idp.issuer,
        "aud": "https://portal.test/api",
        "sub": "alice",
        "iat": int(time.time()),
        "exp": int(time.time()) + 300,
        "jti": "x",
        "scope": "devices:read",
    }
    unsigned = f"{_json64({'alg': 'none', 'typ': 'at+jwt'})}.{_json64(claims)}."
    _assert_401(
        client.get("/devices", headers={"Authorization": f"Bearer {unsigned}"}), "algorithm"
    )

    public_pem = RSAKey.import_key(published).as_pem(private=False)
    header = {"alg": "HS256", "typ": "at+jwt", "kid": published["kid"]}
    signing_input = f"{_json64(header)}.{_json64(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{_b64(mac)}"
    _assert_401(
        client.get("/devices", headers={"Authorization": f"Bearer {confused}"}), "algorithm"
    )


def test_id_token_is_not_an_access_token(client, auth):
    tokens = auth.idp.tokens("alice", scope="openid email profile")
    _assert_401(client.get("/devices", headers={"Authorization": f"Bearer {tokens['id_token']}"}))


def test_token_without_devices_read_scope_is_403(client, auth, trusted_test_key):
    token = mint(
        {
            "iss": auth.idp.issuer,
            "aud": "https://portal.test/api",
            "sub": "alice",
            "scope": "profile",
        }
    )
    response = client.get("/devices", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.get_json() == {
        "success": False,
        "error": "The access token lacks the devices:read scope",
    }


def test_unexpected_failure_is_the_documented_500(client, auth, monkeypatch):
    from portal.services.devices import reads

    def boom(*args, **kwargs):
        raise RuntimeError("database on fire")

    headers = auth.bearer("alice")
    monkeypatch.setattr(reads, "device_rows", boom)
    response = client.get("/devices", headers=headers)
    assert response.status_code == 500
    assert response.get_json() == {"success": False, "error": "Failed to retrieve devices"}


def test_unknown_kid_refreshes_the_issuers_keys(client, auth, monkeypatch):
    from portal.auth import tokens

    api_auth.jwks_cache._keys.clear()
    assert client.get("/devices", headers=auth.bearer("alice")).status_code == 200
    # The issuer rotates in a new key; tokens signed with it name a kid the cache has not seen.
    original = api_auth.jwks_cache._fetch
    fetches = []

    def rotated(uri):
        fetches.append(uri)
        keys, fetched_at, algs = original(uri)
        keys.keys.append(TEST_KEY)
        return keys, fetched_at, algs

    monkeypatch.setattr(api_auth.jwks_cache, "_fetch", rotated)
    monkeypatch.setattr(tokens, "JWKS_MIN_REFRESH_SECONDS", 0)
    token = mint({"iss": auth.idp.issuer, "aud": "https://portal.test/api", "sub": "alice"})
    response = client.get("/devices", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert len(fetches) == 1
    api_auth.jwks_cache._keys.clear()
