"""Bodies and tokens no client should send are refused in the route's documented shape, never
with a server error: JSON nested deeper than the parser goes is a 400, and a validly signed
token whose claims have the wrong type or size is a 401 like any other bad token.
"""

from __future__ import annotations

import time
import uuid

import pytest
from joserfc.jwk import KeySet
from support.tokens import TEST_KEY, mint

from portal.api import auth as api_auth
from portal.auth.tokens import InvalidToken, scopes_of, validate_access_token

AUDIENCE = "https://portal.test/api"
ISSUER = "https://idp.test"
NESTED = "[" * 5000


# -- JSON nested too deeply -------------------------------------------------------------------


def test_deeply_nested_json_to_a_json_route_is_a_400_in_its_shape(client, auth):
    response = client.post(
        "/devices/trust",
        data=NESTED,
        headers={**auth.bearer("alice"), "Content-Type": "application/json"},
    )

    assert response.status_code == 400, response.data[:300]
    assert response.get_json() == {"success": False, "error": "Request body must be a JSON object"}


def test_deeply_nested_json_inside_an_object_is_a_400_too(client, auth):
    response = client.post(
        "/devices/trust",
        data='{"fingerprint": ' + NESTED + "}",
        headers={**auth.bearer("alice"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.get_json()["success"] is False


def test_the_json_parser_says_nested_too_deeply_as_malformed_json(app):
    with app.app_context(), pytest.raises(ValueError, match="nested too deeply"):
        app.json.loads(NESTED)


# -- claims of the wrong type or size in a validly signed token --------------------------------


class _Keys:
    """Stands in for the JWKS cache: the test's own key is the issuer's key."""

    def get(self, jwks_uri, kid):
        return KeySet([TEST_KEY]), ["RS256"]


def _validate(**claims) -> dict:
    return validate_access_token(
        mint({"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", **claims}),
        issuer=ISSUER,
        audience=AUDIENCE,
        jwks_uri="unused",
        published_algorithms=["RS256"],
        cache=_Keys(),
    )


ODD_CLAIMS = [
    ({"exp": 10**12}, "exp claim is not a time"),
    ({"exp": 1e300}, "exp claim is not a time"),
    ({"auth_time": 10**12}, "auth_time claim is not a time"),
    ({"auth_time": -(10**12)}, "auth_time claim is not a time"),
    ({"auth_time": "yesterday"}, "auth_time claim is not a time"),
    ({"scope": 5}, "scope claim is not a space-separated string"),
    ({"scope": None, "scp": 7}, "scp claim is not a list of strings"),
    ({"scope": None, "scp": ["devices:read", 3]}, "scp claim is not a list of strings"),
    ({"sub": "s" * 5000}, "sub claim is not a string of 1 to 255 characters"),
    ({"sub": "ali\x00ce"}, "sub claim is not a string of 1 to 255 characters"),
    ({"jti": "j" * 5000}, "jti claim is not a string of 1 to 255 characters"),
    ({"jti": ["j"]}, "claims are invalid"),  # joserfc's own check of jti
    ({"client_id": {"name": "x"}}, "client_id claim is not a string of 1 to 255 characters"),
    ({"azp": "a" * 256}, "azp claim is not a string of 1 to 255 characters"),
]


@pytest.mark.parametrize("claims, says", ODD_CLAIMS)
def test_a_signed_token_with_claims_of_the_wrong_type_or_size_is_invalid(claims, says):
    with pytest.raises(InvalidToken, match=says):
        _validate(**claims)


def test_claims_of_the_usual_types_and_sizes_are_accepted():
    now = int(time.time())
    claims = _validate(
        sub="s" * 255, jti=str(uuid.uuid4()), auth_time=now - 60, client_id="cli", scope=None
    )
    assert claims["sub"] == "s" * 255
    assert scopes_of(_validate(scope=None, scp=["devices:read", "devices:write"])) == {
        "devices:read",
        "devices:write",
    }


def test_scopes_of_claims_of_another_shape_are_none():
    assert scopes_of({"scope": 5}) == frozenset()
    assert scopes_of({"scp": {"devices:read": True}}) == frozenset()


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


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 10**12},
        {"scope": 5},
        {"sub": "s" * 5000},
        {"jti": "j" * 5000},
        {"auth_time": 10**12},
    ],
    ids=["exp-10**12", "numeric-scope", "5000-char-sub", "5000-char-jti", "auth_time-10**12"],
)
def test_a_signed_token_with_odd_claims_is_a_401_on_every_json_family(
    client, auth, trusted_test_key, claims
):
    token = mint({"iss": auth.idp.issuer, "aud": AUDIENCE, "sub": "alice", **claims})
    headers = {"Authorization": f"Bearer {token}"}

    envelope = client.get("/devices", headers=headers)
    assert envelope.status_code == 401, envelope.data[:300]
    assert envelope.get_json()["success"] is False
    assert envelope.headers["WWW-Authenticate"].startswith("Bearer ")

    token_rows = client.get("/auth/devices", headers=headers)
    assert token_rows.status_code == 401, token_rows.data[:300]
    assert token_rows.get_json()["error"]["code"] == "unauthorized"
