"""Proves the test harness works for real: a live oidc-provider process and a live PostgreSQL."""

from __future__ import annotations

import base64
import json
import secrets
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import KeySet

from .idp import FormParser, OidcProvider, pkce_pair
from .postgres import PostgresServer

ACCOUNTS = [
    {
        "sub": "alice",
        "email": "alice@example.test",
        "name": "Alice Admin",
        "groups": ["portal-admins", "ops"],
    },
    {"sub": "bob", "email": "bob@example.test", "name": "Bob Viewer", "groups": []},
]


@pytest.fixture(scope="module")
def idp():
    provider = OidcProvider.start(ACCOUNTS)
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def pg():
    server = PostgresServer.start()
    yield server
    server.stop()


def _b64json(part: str) -> dict:

    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_discovery(idp):
    meta = idp.metadata
    assert meta["issuer"] == idp.issuer
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["end_session_endpoint"].startswith(idp.issuer)
    assert {"devices:read", "devices:write", "openid", "email", "profile"} <= set(
        meta["scopes_supported"]
    )
    assert [k["alg"] for k in idp.jwks()["keys"]] == ["RS256"]


def test_access_token_is_rfc9068_jwt(idp):
    token = idp.access_token("alice@example.test")
    header = _b64json(token.split(".")[0])
    assert header["alg"] == "RS256"
    assert header["typ"] == "at+jwt"

    claims = jwt.decode(token, KeySet.import_key_set(idp.jwks()), algorithms=["RS256"]).claims
    assert claims["iss"] == idp.issuer
    assert claims["aud"] == idp.audience
    assert claims["client_id"] == idp.client_id
    assert set(claims["scope"].split()) == {"devices:read", "devices:write"}
    assert claims["sub"] == "alice"
    assert claims["groups"] == ["portal-admins", "ops"]
    assert claims["email"] == "alice@example.test"
    assert claims["name"] == "Alice Admin"
    assert {"jti", "iat", "exp"} <= set(claims)

    narrow = jwt.decode(
        idp.access_token("bob", "openid devices:read"), KeySet.import_key_set(idp.jwks())
    ).claims
    assert narrow["scope"] == "devices:read" and narrow["groups"] == []


def test_id_token_carries_profile_claims_and_plain_login_gets_opaque_token(idp):
    tokens = idp.tokens("alice", "openid email profile")
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(idp.jwks())).claims
    assert claims["aud"] == idp.client_id
    assert claims["email"] == "alice@example.test" and claims["email_verified"] is True
    assert claims["name"] == "Alice Admin" and claims["groups"] == ["portal-admins", "ops"]
    assert tokens["access_token"].count(".") == 0  # opaque, usable at userinfo
    info = requests.get(
        idp.metadata["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=10,
    )
    assert info.status_code == 200 and info.json()["groups"] == ["portal-admins", "ops"]


def test_authorize_without_pkce_is_rejected(idp):
    state = secrets.token_urlsafe(8)
    url = idp.authorize_url(
        scope="openid",
        redirect_uri="http://127.0.0.1:5555/auth/callback",
        state=state,
        nonce="n",
        code_challenge=None,
    )
    with requests.Session() as http:
        callback = idp.login_through(http, url, "alice")
    q = parse_qs(urlparse(callback).query)
    assert q["error"] == ["invalid_request"]
    assert "PKCE" in q["error_description"][0]
    assert q["state"] == [state]


def test_foreign_redirect_uri_is_rejected(idp):
    _, challenge = pkce_pair()
    url = idp.authorize_url(
        scope="openid",
        redirect_uri="http://127.0.0.1:5555/elsewhere",
        state="s",
        nonce="n",
        code_challenge=challenge,
    )
    r = requests.get(url, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "redirect_uri" in r.text


def test_unknown_login_shows_form_again(idp):
    _, challenge = pkce_pair()
    url = idp.authorize_url(
        scope="openid",
        redirect_uri="http://localhost:5555/auth/callback",
        state="s",
        nonce="n",
        code_challenge=challenge,
    )
    with requests.Session() as http, pytest.raises(RuntimeError, match="Unknown account"):
        idp.login_through(http, url, "mallory")


def test_logout_redirects_to_loopback(idp):
    verifier, challenge = pkce_pair()
    with requests.Session() as http:
        callback = idp.login_through(
            http,
            idp.authorize_url(
                scope="openid",
                redirect_uri="http://localhost:7777/auth/callback",
                state="s",
                nonce="n",
                code_challenge=challenge,
            ),
            "bob",
        )
        code = parse_qs(urlparse(callback).query)["code"][0]
        tokens = requests.post(
            idp.metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": verifier,
                "redirect_uri": "http://localhost:7777/auth/callback",
                "client_id": idp.client_id,
                "client_secret": idp.client_secret,
            },
            timeout=10,
        ).json()  # client_secret_post
        r = http.get(
            idp.metadata["end_session_endpoint"],
            params={
                "id_token_hint": tokens["id_token"],
                "post_logout_redirect_uri": "http://127.0.0.1:7777/",
                "state": "bye",
            },
            timeout=10,
        )
        assert (
            r.status_code == 200 and 'name="logout" value="yes"' in r.text
        )  # auto-submitting form

        parser = FormParser()
        parser.feed(r.text)
        form = parser.forms[0]
        done = http.post(
            requests.compat.urljoin(r.url, form["action"]),
            data=form["fields"],
            allow_redirects=False,
            timeout=10,
        )
        assert done.status_code in (302, 303)
        assert done.headers["Location"] == "http://127.0.0.1:7777/?state=bye"


def test_postgres_create_database(pg):
    assert pg.url.startswith("postgresql+psycopg://portal@127.0.0.1:")
    url = pg.create_database("selfcheck_db")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar() == 1
            assert conn.execute(sa.text("select current_user")).scalar() == "portal"
            assert (
                conn.execute(
                    sa.text("select count(*) from pg_tables where schemaname='public'")
                ).scalar()
                == 0
            )
    finally:
        engine.dispose()
