"""OIDC Back-Channel Logout 1.0: the IdP tells the portal that a session or a user signed out.

The end-to-end tests sign out on the test IdP's own end-session page and let the IdP (panva's
oidc-provider, ``backchannelLogout`` enabled) post its logout token to the live portal. The
validation tests sign logout tokens with a key of their own, to send what a real IdP never would.
"""

from __future__ import annotations

import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey
from support.account_helpers import audit_actions, sessions_of
from support.http_browser import HttpBrowser

from portal.auth.tokens import BACKCHANNEL_LOGOUT_EVENT, InvalidToken, validate_logout_token

ISSUER = "https://idp.test"
CLIENT_ID = "portal"


@pytest.fixture
def browsers(live_server, idp):
    return lambda: HttpBrowser(live_server.url, idp)


def _post_logout(client, token: str | None):
    data = {} if token is None else {"logout_token": token}
    return client.post("/auth/backchannel-logout", data=data)


def _refused(response) -> str:
    assert response.status_code == 400, response.data[:300]
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == "invalid_request"
    return body["error_description"]


def _open_sessions(app, login: str) -> set:
    return {s.id for s in sessions_of(app, login) if s.ended_at is None}


# -- with the real IdP ------------------------------------------------------------------------


def test_signing_out_at_the_idps_end_session_page_ends_that_browsers_portal_session_only(
    app, browsers
):
    laptop, phone = browsers(), browsers()
    laptop.sign_in("alice")
    phone.sign_in("alice")
    phone_session, laptop_session = sorted(
        (s for s in sessions_of(app, "alice")), key=lambda s: s.created_at, reverse=True
    )
    assert phone_session.idp_sid and phone_session.idp_sid != laptop_session.idp_sid

    done = phone.sign_out_at_idp()

    assert done.ok and 'id="signed-out"' in done.text
    assert not phone.signed_in()
    assert laptop.signed_in()
    ended = {s.id: s for s in sessions_of(app, "alice")}[phone_session.id]
    assert ended.end_reason == "idp_logout"
    (event,) = audit_actions(app, "idp_logout")
    assert event.detail["sessions_ended"] == 1
    assert event.detail["idp_sid"] == phone_session.idp_sid
    assert event.actor_label == "identity provider"


def test_a_logout_token_is_accepted_once_and_refused_when_replayed(app, auth, idp):
    browser = auth.new_client("alice")
    (row,) = sessions_of(app, "alice")
    token = idp.logout_token(sub="alice", sid=row.idp_sid)

    first = _post_logout(app.test_client(), token)

    assert first.status_code == 200 and first.data == b""
    assert first.headers["Cache-Control"] == "no-store"
    assert browser.get("/").status_code == 200 and b'id="devices"' not in browser.get("/").data
    assert "used before" in _refused(_post_logout(app.test_client(), token))
    assert len(audit_actions(app, "idp_logout")) == 1


def test_a_logout_token_naming_only_the_user_ends_all_their_sessions_and_nobody_elses(
    app, auth, idp
):
    auth.new_client("alice")
    auth.new_client("alice")
    auth.new_client("bob")

    response = _post_logout(app.test_client(), idp.logout_token(sub="alice"))

    assert response.status_code == 200
    assert _open_sessions(app, "alice") == set()
    assert len(_open_sessions(app, "bob")) == 1


def test_a_logout_token_for_another_users_session_id_ends_nothing(app, auth, idp):
    auth.new_client("alice")
    (row,) = sessions_of(app, "alice")

    response = _post_logout(app.test_client(), idp.logout_token(sub="bob", sid=row.idp_sid))

    assert response.status_code == 200
    assert _open_sessions(app, "alice") == {row.id}


def test_after_a_back_channel_logout_the_next_sign_in_must_give_credentials(app, browsers, idp):
    laptop, phone = browsers(), browsers()
    laptop.sign_in("alice")
    phone.sign_in("alice")
    time.sleep(1.02 - time.time() % 1)
    newest = max(sessions_of(app, "alice"), key=lambda s: s.created_at)
    answer = _post_logout(app.test_client(), idp.logout_token(sub="alice", sid=newest.idp_sid))
    assert answer.status_code == 200, answer.data[:300]

    # The phone still holds its IdP session (the logout token here came straight from a
    # test, not from an IdP logout), and must not ride it back in.
    assert phone.at_idp_login_form(phone.press_sign_in())
    assert laptop.signed_in()


@pytest.mark.parametrize(
    "token, says",
    [
        (None, "logout_token is required"),
        ("", "logout_token is required"),
        ("not-a-jwt", "malformed"),
        ("a.b.c", "malformed"),
    ],
)
def test_a_missing_or_malformed_logout_token_is_a_400_with_a_json_error(app, token, says):
    assert says in _refused(_post_logout(app.test_client(), token))


def test_a_logout_token_signed_by_another_key_is_refused(app, idp):
    key = RSAKey.generate_key(2048, parameters={"kid": "not-the-idps", "alg": "RS256"})
    forged = _sign(key, _claims(iss=idp.issuer, aud=idp.client_id, sub="alice"))

    assert _refused(_post_logout(app.test_client(), forged))


def test_a_logout_token_signed_by_another_key_under_the_idps_kid_is_refused(app, auth, idp):
    """The key is found by its ``kid``; the signature must still be the IdP's."""
    auth.new_client("alice")
    [kid] = {k["kid"] for k in idp.jwks()["keys"] if k["kty"] == "RSA"}
    key = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256"})
    forged = _sign(key, _claims(iss=idp.issuer, aud=idp.client_id, sid=None, sub="alice"))

    assert "signature" in _refused(_post_logout(app.test_client(), forged))
    assert len(_open_sessions(app, "alice")) == 1
    assert audit_actions(app, "idp_logout") == []


def test_an_access_token_is_not_a_logout_token(app, auth):
    access_token = auth.token("alice")

    assert "not a logout token" in _refused(_post_logout(app.test_client(), access_token))


def test_the_endpoint_needs_no_csrf_token_and_sets_no_cookie(app, auth, idp):
    auth.new_client("alice")
    client = app.test_client()

    response = _post_logout(client, idp.logout_token(sub="alice"))

    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers


# -- the checks of section 2.6, with tokens no real IdP would send ------------------------------


class _Keys:
    """Stands in for the JWKS cache: the test's own key is the issuer's key."""

    def __init__(self, key):
        self.key_set = KeySet([key])

    def get(self, jwks_uri, kid):
        return self.key_set, ["RS256"]


@pytest.fixture(scope="module")
def rsa_key():
    return RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"})


def _claims(**overrides) -> dict:
    claims = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": int(time.time()),
        "exp": int(time.time()) + 120,
        "jti": uuid.uuid4().hex,
        "sid": "idp-session-1",
        "events": {BACKCHANNEL_LOGOUT_EVENT: {}},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key, claims: dict, **header) -> str:
    return jwt.encode({"alg": "RS256", "typ": "logout+jwt", "kid": key.kid, **header}, claims, key)


def _validate(key, token: str) -> dict:
    return validate_logout_token(
        token,
        issuer=ISSUER,
        client_id=CLIENT_ID,
        jwks_uri="https://idp.test/jwks",
        published_algorithms=["RS256"],
        cache=_Keys(key),
        max_age=300,
    )


def test_a_well_formed_logout_token_is_accepted(rsa_key):
    claims = _validate(rsa_key, _sign(rsa_key, _claims()))
    assert claims["sid"] == "idp-session-1"


@pytest.mark.parametrize(
    "overrides, says",
    [
        ({"aud": "someone-else"}, "claims are invalid"),
        ({"iss": "https://evil.test"}, "claims are invalid"),
        ({"iat": None}, "claims are invalid"),
        ({"jti": None}, "claims are invalid"),
        ({"iat": int(time.time()) - 3600, "exp": None}, "too old"),
        ({"exp": int(time.time()) - 3600}, "claims are invalid"),
        ({"events": None}, "no back-channel logout event"),
        ({"events": {"http://example.test/other": {}}}, "no back-channel logout event"),
        ({"events": {BACKCHANNEL_LOGOUT_EVENT: "yes"}}, "no back-channel logout event"),
        ({"nonce": "n-0S6_WzA2Mj"}, "must not carry a nonce"),
        ({"sid": None}, "neither a session"),
        ({"sid": "", "sub": ""}, "neither a session"),
    ],
)
def test_a_logout_token_breaking_section_2_6_is_refused(rsa_key, overrides, says):
    with pytest.raises(InvalidToken, match=says):
        _validate(rsa_key, _sign(rsa_key, _claims(**overrides)))


def test_a_logout_token_naming_only_the_user_is_accepted(rsa_key):
    claims = _validate(rsa_key, _sign(rsa_key, _claims(sid=None, sub="alice")))
    assert claims["sub"] == "alice"


@pytest.mark.parametrize("typ", ["at+jwt", "id_token+jwt"])
def test_a_token_of_another_type_is_refused(rsa_key, typ):
    with pytest.raises(InvalidToken, match="not a logout token"):
        _validate(rsa_key, _sign(rsa_key, _claims(), typ=typ))


def test_a_symmetric_or_unsigned_logout_token_is_refused(rsa_key):
    secret = OctKey.generate_key(256)
    hs256 = jwt.encode({"alg": "HS256", "typ": "logout+jwt"}, _claims(), secret)
    with pytest.raises(InvalidToken, match="algorithm"):
        _validate(rsa_key, hs256)
    header, payload, _ = _sign(rsa_key, _claims()).split(".")
    with pytest.raises(InvalidToken):
        _validate(rsa_key, f"{header}.{payload}.")
