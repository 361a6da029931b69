"""Sign-in with the real OpenID provider: PKCE, state and nonce, redirects, sessions."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Device, User, UserSession, utcnow


def _start(client, next_url="/"):
    response = client.get("/login", query_string={"next": next_url})
    assert response.status_code == 302
    return response.headers["Location"]


def _count(app, model):
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_authorization_request_uses_pkce_s256_state_and_nonce(client, idp):
    location = _start(client)
    assert location.startswith(idp.metadata["authorization_endpoint"])
    params = parse_qs(urlsplit(location).query)
    assert params["code_challenge_method"] == ["S256"]
    assert len(params["code_challenge"][0]) >= 43
    assert params["state"][0] and params["nonce"][0]
    assert params["redirect_uri"] == ["http://localhost/auth/callback"]


def test_sign_in_creates_user_device_session_and_lands_on_next(app, client, auth):
    response = auth.sign_in(client, "alice", next_url="/account/devices/nothing?x=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/devices/nothing?x=1"
    with app.app_context():
        user = db.session.execute(select(User)).scalar_one()
        assert (user.subject, user.email, user.name) == (
            "alice",
            "alice@example.test",
            "Alice Anders",
        )
        assert user.issuer == auth.idp.issuer
        assert user.groups == ["staff"]
        session = db.session.execute(select(UserSession)).scalar_one()
        assert session.login_method == "oidc" and session.is_active()
        actions = db.session.execute(select(AuditEvent.action)).scalars().all()
        assert actions == ["sign_in"]
    page = client.get("/")
    assert b"My devices" in page.data and b"This device" in page.data


def test_second_sign_in_same_browser_reuses_device_and_same_user(app, client, auth):
    auth.sign_in(client, "alice")
    client.delete_cookie("portal_session")  # the browser forgot its session, kept its device
    auth.sign_in(client, "alice")
    assert _count(app, User) == 1
    assert _count(app, Device) == 1
    assert _count(app, UserSession) == 2


def _cookie_data(app, cookie: str) -> dict:
    """What a ``portal_session`` cookie holds (Flask's signed-cookie session)."""
    return app.session_interface.get_signing_serializer(app).loads(cookie)


def _signed_in_with(app, cookie: str) -> bool:
    """Whether a browser presenting only this cookie is signed in."""
    other = app.test_client()
    other.set_cookie("portal_session", cookie)
    return b'id="devices"' in other.get("/").data


def test_each_sign_in_gets_a_new_session_cookie(app, client, auth):
    """Fixation: nothing a browser's cookie held before sign-in carries over (here a CSRF
    secret someone else planted and knows), so a token made from it is refused after.
    Rotation: a browser that kept its cookie and signs in again gets a new session id, and
    the cookie it had before signs nobody in."""
    from flask_wtf.csrf import generate_csrf

    with client.session_transaction() as planted:
        planted["csrf_token"] = "a-secret-the-attacker-knows"
    with app.test_request_context():  # a token for that secret, as the attacker can make
        from flask import session

        session["csrf_token"] = "a-secret-the-attacker-knows"
        forged = generate_csrf()
    auth.sign_in(client, "alice")
    first = client.get_cookie("portal_session").value
    assert "a-secret-the-attacker-knows" not in _cookie_data(app, first).values()
    assert client.post("/logout", data={"csrf_token": forged}).status_code == 400
    assert _signed_in_with(app, first)

    with app.app_context():  # the session expires on the server; the browser keeps its cookie
        row = db.session.execute(select(UserSession)).scalar_one()
        row.ended_at, row.end_reason = utcnow(), "expired"
        db.session.commit()
    auth.sign_in(client, "alice")
    second = client.get_cookie("portal_session").value
    assert _cookie_data(app, second)["_user_id"] != _cookie_data(app, first)["_user_id"]
    assert _signed_in_with(app, second)
    assert not _signed_in_with(app, first)


def test_next_to_another_site_lands_on_home(app, auth):
    for target in ("https://elsewhere.example/", "//elsewhere.example/x", "/\\elsewhere.example"):
        response = auth.sign_in(app.test_client(), "alice", next_url=target)
        assert response.headers["Location"] == "/", target


def test_tampered_state_is_rejected_and_creates_nothing(app, client, idp):
    callback = idp.login_through(requests.Session(), _start(client), "alice")
    parts = urlsplit(callback)
    query = parts.query.replace("state=", "state=x")
    response = client.get(f"{parts.path}?{query}")
    assert response.status_code == 400
    assert b"couldn't sign you in" in response.data and b"Try again" in response.data
    assert _count(app, User) == 0 and _count(app, UserSession) == 0


def _tamper_pending(client, key, value):
    with client.session_transaction() as s:
        state_key = next(k for k in s if k.startswith("_state_idp_"))
        pending = dict(s[state_key])
        pending["data"] = dict(pending["data"], **{key: value})
        s[state_key] = pending


def test_nonce_mismatch_is_rejected(app, client, idp):
    authorize_url = _start(client)
    _tamper_pending(client, "nonce", "not-the-nonce-that-was-sent")
    callback = urlsplit(idp.login_through(requests.Session(), authorize_url, "alice"))
    response = client.get(f"{callback.path}?{callback.query}")
    assert response.status_code == 400
    assert _count(app, User) == 0


def test_wrong_pkce_verifier_is_rejected_by_the_idp(app, client, idp):
    authorize_url = _start(client)
    _tamper_pending(client, "code_verifier", "x" * 64)
    callback = urlsplit(idp.login_through(requests.Session(), authorize_url, "alice"))
    response = client.get(f"{callback.path}?{callback.query}")
    assert response.status_code == 400
    assert _count(app, User) == 0


def test_idp_error_shows_friendly_page(client):
    response = client.get("/auth/callback?error=access_denied&error_description=nope")
    assert response.status_code == 400
    assert b"Try again" in response.data and b"Traceback" not in response.data


def test_unreachable_idp_shows_friendly_page(idp, database_url):
    from support.app_setup import make_config

    from portal import create_app

    app = create_app(make_config(idp, database_url, OIDC_ISSUER="http://127.0.0.1:9"))
    response = app.test_client().get("/login")
    assert response.status_code == 503
    assert b"Try again" in response.data


def test_ended_session_is_signed_out_on_next_request(app, client, auth):
    auth.sign_in(client, "alice")
    assert client.get("/").status_code == 200 and b"My devices" in client.get("/").data
    with app.app_context():
        row = db.session.execute(select(UserSession)).scalar_one()
        row.ended_at = utcnow()
        row.end_reason = "revoked"
        db.session.commit()
    page = client.get("/")
    assert b"My devices" not in page.data and b"Sign in" in page.data
    protected = client.get("/account/devices/whatever")
    assert protected.status_code == 302 and "/login" in protected.headers["Location"]


def test_idle_session_expires_on_the_server(app, client, auth):
    from datetime import timedelta

    auth.sign_in(client, "alice")
    with app.app_context():
        row = db.session.execute(select(UserSession)).scalar_one()
        row.last_used_at = utcnow() - timedelta(seconds=app.config["SESSION_IDLE_TIMEOUT"] + 5)
        db.session.commit()
    assert b"My devices" not in client.get("/").data
    with app.app_context():
        row = db.session.execute(select(UserSession)).scalar_one()
        assert row.end_reason == "expired" and row.ended_at is not None


def test_logout_requires_csrf_and_ends_session(app, client, auth):
    app.config["WTF_CSRF_ENABLED"] = True
    auth.sign_in(client, "alice")
    assert client.post("/logout").status_code == 400
    other = auth.new_client("bob")  # a valid token, of another browser's session
    other_page = other.get("/").data.decode()
    others_token = other_page.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/logout", data={"csrf_token": others_token}).status_code == 400
    with app.app_context():
        rows = db.session.execute(select(UserSession)).scalars().all()
        assert [row.ended_at for row in rows] == [None, None]
    page = client.get("/").data.decode()
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(auth.idp.metadata["end_session_endpoint"])
    assert "post_logout_redirect_uri=http%3A%2F%2Flocalhost%2F" in location
    assert "id_token_hint=" in location
    with app.app_context():
        rows = db.session.execute(select(UserSession).order_by(UserSession.created_at)).scalars()
        assert [row.end_reason for row in rows] == ["signed_out", None]  # Bob's still open
    assert b"My devices" not in client.get("/").data


def test_cookies_are_httponly_and_lax(client, auth):
    response = auth.sign_in(client, "alice")
    cookies = response.headers.getlist("Set-Cookie")
    for name in ("portal_session", "portal_device"):
        cookie = next(c for c in cookies if c.startswith(name + "="))
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert "Domain=" not in cookie


def test_location_and_user_agent_are_recorded(app, client, auth):
    ua = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
    )
    auth.sign_in(client, "alice", remote_addr="81.2.69.142", user_agent=ua)
    with app.app_context():
        device = db.session.execute(select(Device)).scalar_one()
        assert (device.device_type, device.os_name, device.browser) == ("MOBILE", "iOS", "Safari")
        assert (device.city, device.country_code, device.ip_address) == (
            "London",
            "GB",
            "81.2.69.142",
        )
        assert device.name == "Safari on iPhone"
