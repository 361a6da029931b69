"""A revoked browser must give credentials again: the IdP's single sign-on cannot bring it back.

Each test drives real browsers over HTTP (one cookie jar for the portal and the test IdP, as a
real browser has) against the portal on a live server and panva's oidc-provider, whose login
interaction honours ``prompt=login`` and ``max_age``.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from support.account_helpers import audit_actions, devices_of, sessions_of, user_id
from support.browsers import Alice, next_second

import portal.auth.signin
from portal.auth.signin import _reauth_check
from portal.extensions import db
from portal.models import User, utcnow


def _phone_session(app, phone_device):
    (row,) = [s for s in sessions_of(app, "alice", phone_device) if s.ended_at is None]
    return row.id


def revoke(way: str, app, auth, alice: Alice) -> None:
    """End the phone's sign-in in one of the ways a user, an admin or an API client can."""
    api = app.test_client()
    laptop, phone_device = alice.laptop, alice.phone_device
    if way == "page: sign out the phone from the laptop":
        csrf = laptop.csrf()
        assert laptop.post(f"/account/devices/{phone_device}/sign-out", {"csrf_token": csrf}).ok
    elif way == "page: untrust the phone from the laptop":
        csrf = laptop.csrf()
        assert laptop.post(f"/account/devices/{phone_device}/untrust", {"csrf_token": csrf}).ok
    elif way == "page: sign out all other devices":
        csrf = laptop.csrf("/account/sign-out-others")
        assert laptop.post("/account/sign-out-others", {"csrf_token": csrf}).ok
    elif way == "envelope API: POST /sessions/{id}/revoke":
        session_id = _phone_session(app, phone_device)
        r = api.post(f"/sessions/{session_id}/revoke", headers=auth.bearer("alice"))
        assert r.status_code == 200, r.data
    elif way == "envelope API: DELETE /devices/{id}":
        r = api.delete(f"/devices/{phone_device}", headers=auth.bearer("alice"))
        assert r.status_code == 200, r.data
    elif way == "envelope API: POST /sessions/revoke-all":
        r = api.post("/sessions/revoke-all", headers=auth.bearer("alice"))
        assert r.status_code == 200, r.data
    elif way == "token-row API: DELETE /auth/devices/{id}":
        session_id = _phone_session(app, phone_device)
        r = api.delete(f"/auth/devices/{session_id}", headers=auth.bearer("alice"))
        assert r.status_code == 204, r.data
    elif way == "admin API: DELETE /devices/users/{userId}/{deviceId}":
        session_id = _phone_session(app, phone_device)
        uid = user_id(app, "alice")
        r = api.delete(f"/devices/users/{uid}/{session_id}", headers=auth.bearer("admin"))
        assert r.status_code == 204, r.data
    elif way == "admin API: POST /devices/users/{userId}/revoke-all":
        uid = user_id(app, "alice")
        r = api.post(f"/devices/users/{uid}/revoke-all", headers=auth.bearer("admin"))
        assert r.status_code == 204, r.data
    else:
        raise AssertionError(way)


LAPTOP_KEPT = {
    "page: sign out the phone from the laptop": True,
    "page: untrust the phone from the laptop": True,
    "page: sign out all other devices": True,
    "envelope API: POST /sessions/{id}/revoke": True,
    "envelope API: DELETE /devices/{id}": True,
    "envelope API: POST /sessions/revoke-all": False,
    "token-row API: DELETE /auth/devices/{id}": True,
    "admin API: DELETE /devices/users/{userId}/{deviceId}": True,
    "admin API: POST /devices/users/{userId}/revoke-all": False,
}


@pytest.mark.parametrize("way", list(LAPTOP_KEPT))
def test_a_revoked_browser_meets_the_idp_login_form_when_it_presses_sign_in(way, app, auth, alice):

    revoke(way, app, auth, alice)
    laptop, phone = alice.laptop, alice.phone

    assert not phone.signed_in()
    page = phone.press_sign_in()
    assert phone.at_idp_login_form(page), f"signed straight back in through SSO: {page.url}"
    assert 'value="alice@example.test"' in page.text  # login_hint
    assert laptop.signed_in() is LAPTOP_KEPT[way]
    (required,) = audit_actions(app, "reauth_required")
    assert required.detail["auth_time"] < required.detail["required_after"]


def test_after_credentials_the_revoked_browser_is_back_in_and_the_audit_log_says_so(
    app, auth, alice
):
    revoke("page: sign out the phone from the laptop", app, auth, alice)
    laptop, phone = alice.laptop, alice.phone

    page = phone.press_sign_in()
    assert phone.at_idp_login_form(page)
    assert 'id="devices"' in phone.submit_login(page, "alice").text

    (required,) = audit_actions(app, "reauth_required")
    (done,) = audit_actions(app, "reauthenticated")
    assert required.detail["required_after"] <= done.detail["auth_time"]
    assert "trusted_without_auth_time" not in done.detail
    assert phone.signed_in() and laptop.signed_in()


def test_a_browser_that_kept_only_the_idp_cookies_meets_the_login_form_after_an_admin_revoke_all(
    app, auth, alice
):
    revoke("admin API: POST /devices/users/{userId}/revoke-all", app, auth, alice)
    phone = alice.phone
    phone.forget_portal_cookies(app.config["SESSION_COOKIE_NAME"], app.config["DEVICE_COOKIE_NAME"])
    assert {c.name for c in phone.http.cookies} & {"_session", "_session.sig"}

    page = phone.press_sign_in()

    assert phone.at_idp_login_form(page)


def test_without_a_revocation_signing_in_again_rides_the_idps_single_sign_on(app, browsers):
    """The browser's own sign-out asks nothing more of the next sign-in (the IdP decides)."""
    phone = browsers()
    phone.sign_in("alice")
    csrf = phone.csrf()
    # Signing out here redirects to the IdP's end-session page, whose confirmation needs
    # JavaScript: this browser keeps its IdP session, as one with scripts off would.
    phone.post("/logout", {"csrf_token": csrf})
    assert not phone.signed_in()

    page = phone.press_sign_in()

    assert 'id="devices"' in page.text
    with app.app_context():
        user = db.session.execute(select(User).where(User.subject == "alice")).scalar_one()
        assert user.reauth_required_after is None
    assert audit_actions(app, "reauth_required") == []


def test_a_removed_device_stays_removed_and_its_browser_returns_as_a_new_device(app, auth, alice):
    phone, phone_device = alice.phone, alice.phone_device
    old_cookie = phone.http.cookies.get(app.config["DEVICE_COOKIE_NAME"])
    revoke("envelope API: DELETE /devices/{id}", app, auth, alice)

    phone.sign_in("alice")

    devices = {d.id: d for d in devices_of(app, "alice")}
    assert devices[phone_device].removed_at is not None
    (new_device,) = [d for d in devices.values() if d.id not in (alice.laptop_device, phone_device)]
    assert new_device.removed_at is None
    assert phone.http.cookies.get(app.config["DEVICE_COOKIE_NAME"]) != old_cookie
    listed = app.test_client().get("/devices", headers=auth.bearer("alice")).get_json()
    ids = {d["id"] for d in listed["devices"]}
    assert str(new_device.id) in ids and str(phone_device) not in ids
    assert len(sessions_of(app, "alice", phone_device)) == 1  # its history stays


def test_every_authorization_request_asks_for_auth_time_with_max_age(client):
    location = client.get("/login").headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["max_age"] == ["86400"]
    assert "prompt" not in query


# -- the second round, with IdP answers a conformant IdP would not give -----------------------


def _user_with_mark(app) -> User:
    user = User(issuer="https://idp.test", subject="erin", email="erin@example.test", groups=[])
    user.reauth_required_after = utcnow().replace(microsecond=0)
    db.session.add(user)
    db.session.flush()
    return user


def test_a_second_answer_still_too_old_shows_the_failure_page(app):
    with app.test_request_context("/auth/callback"):
        from flask import session

        user = _user_with_mark(app)
        session["reauth_for"] = str(user.id)
        session["reauth_since"] = int(user.reauth_required_after.timestamp())  # asked then
        old = int(user.reauth_required_after.timestamp()) - 60

        body, status = _reauth_check(user, {"sub": "erin", "auth_time": old})
        db.session.commit()  # what the request's commit point does with a returned page

        assert status == 400 and "Sign-in failed" in body
    (failed,) = audit_actions(app, "reauth_failed")
    assert failed.detail["auth_time"] < failed.detail["required_after"]


def test_an_idp_without_auth_time_is_asked_with_prompt_login_then_trusted(app, caplog, monkeypatch):
    monkeypatch.setattr(portal.auth.signin, "_warned_about_missing_auth_time", False)
    with app.test_request_context("/auth/callback"):
        from flask import session

        user = _user_with_mark(app)
        first = _reauth_check(user, {"sub": "erin"})
        query = parse_qs(urlsplit(first.headers["Location"]).query)
        assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
        assert query["login_hint"] == ["erin@example.test"]
        assert session["reauth_for"] == str(user.id)

        assert _reauth_check(user, {"sub": "erin"}) is None  # the second round goes ahead
        db.session.commit()  # the request's commit point
    assert caplog.text.count("without auth_time") == 1  # said once, clearly
    (event,) = audit_actions(app, "reauthenticated")
    assert event.detail["trusted_without_auth_time"] is True


def test_an_api_token_cannot_reopen_a_client_revoked_after_its_sign_in(app, auth, idp):
    """Not a fresh token minted from a refresh token; a new sign-in brings a new device."""
    api = app.test_client()
    issued = idp.tokens("alice", "openid devices:read devices:write", resource=idp.audience)
    first = {"Authorization": f"Bearer {issued['access_token']}"}
    (client_device,) = [d for d in api.get("/devices", headers=first).get_json()["devices"]]
    next_second()
    assert api.delete(f"/devices/{client_device['id']}", headers=first).status_code == 200
    assert api.get("/devices", headers=first).status_code == 401  # the token itself

    refreshed = idp.refresh(issued["refresh_token"])["access_token"]
    again = api.get("/devices", headers={"Authorization": f"Bearer {refreshed}"})

    assert again.status_code == 401
    assert "sign in again" in again.get_json()["error"]
    next_second()  # a token from the second of the revocation is refused too
    fresh = api.get("/devices", headers=auth.bearer("alice"))  # credentials given anew
    assert fresh.status_code == 200
    assert client_device["id"] not in {d["id"] for d in fresh.get_json()["devices"]}


# -- no pause between the revocation and the next sign-in --------------------------------------

SAME_SECOND_WAYS = [
    "page: sign out the phone from the laptop",
    "page: sign out all other devices",
    "page: untrust the phone from the laptop",
    "admin API: DELETE /devices/users/{userId}/{deviceId}",
]


def _latest(app, action):
    return audit_actions(app, action)[-1]


@pytest.fixture
def sixty_sign_ins_a_minute(app_config):
    """Twenty rounds of three sign-in requests each stay under the per-address limit."""
    app_config["RATELIMIT_SIGN_IN"] = "200 per minute"


@pytest.mark.usefixtures("sixty_sign_ins_a_minute")
def test_revoked_and_signing_in_again_at_once_meets_the_login_form_twenty_times_in_a_row(
    app, auth, browsers
):
    """Sign in with credentials, revoke at once, press *Sign in* at once: the IdP's single
    sign-on session is from the very second of the revocation and must not bring the browser
    back. Each round's password, given at once, is the answer the second round must take."""
    laptop, phone = browsers(), browsers()
    laptop.sign_in("alice")
    (laptop_device,) = [d.id for d in devices_of(app, "alice")]
    phone.sign_in("alice")
    same_second = 0
    for attempt in range(20):
        (phone_device,) = [d.id for d in devices_of(app, "alice") if d.id != laptop_device]
        way = SAME_SECOND_WAYS[attempt % len(SAME_SECOND_WAYS)]
        revoke(way, app, auth, Alice(laptop, phone, laptop_device, phone_device))
        page = phone.press_sign_in()
        assert phone.at_idp_login_form(page), f"round {attempt}: back in through SSO: {page.url}"
        required = _latest(app, "reauth_required")
        same_second += required.detail["auth_time"] == required.detail["required_after"]
        # The password given at once answers the prompt=login round: never a loop.
        assert 'id="devices"' in phone.submit_login(page, "alice").text, f"round {attempt}"
        assert laptop.signed_in()
    assert audit_actions(app, "reauth_failed") == []
    assert len(audit_actions(app, "reauthenticated")) == 20
    # The case the test is named after did happen (not every round lands in one second).
    assert same_second >= 1, "no round revoked in the second of its sign-in"


def _iat(token: str) -> int:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["iat"]


def test_an_api_token_issued_in_the_second_of_its_clients_revocation_is_refused(app, idp):
    """A token the client held when it was revoked, issued in that same second, stays out;
    one issued a moment later gets in (as a new device, the old one is removed)."""
    api = app.test_client()
    scope = "openid devices:read devices:write"

    def bearer(token):
        return {"Authorization": f"Bearer {token}"}

    for _ in range(5):  # until the token and the revocation share a second
        first = idp.access_token("alice", scope)
        (device,) = api.get("/devices", headers=bearer(first)).get_json()["devices"]
        next_second()
        held = idp.access_token("alice", scope)  # issued, not yet used
        assert api.delete(f"/devices/{device['id']}", headers=bearer(first)).status_code == 200
        mark = _client_mark(app, device["id"])
        if _iat(held) == mark:
            break
    else:
        raise AssertionError("the IdP never issued a token in the second of the revocation")

    refused = api.get("/devices", headers=bearer(held))

    assert refused.status_code == 401, refused.data
    assert "sign in again" in refused.get_json()["error"]
    next_second()
    later = api.get("/devices", headers=bearer(idp.access_token("alice", scope)))
    assert later.status_code == 200
    assert device["id"] not in {d["id"] for d in later.get_json()["devices"]}


def _client_mark(app, device_id: str) -> int:
    from portal.models import Device

    with app.app_context():
        device = db.session.get(Device, uuid.UUID(device_id))
        return int(device.revoked_at.replace(tzinfo=UTC).timestamp())


def test_the_second_round_takes_an_authentication_from_the_redirects_second_not_an_older_one(
    app,
):
    with app.test_request_context("/auth/callback"):
        from flask import session

        user = _user_with_mark(app)
        mark = int(user.reauth_required_after.timestamp())
        first = _reauth_check(user, {"sub": "erin", "auth_time": mark})  # the revoked second
        assert first.status_code == 302
        asked = session["reauth_since"]
        assert asked >= mark

        # A password given in the very second of the redirect is fresh: no loop.
        assert _reauth_check(user, {"sub": "erin", "auth_time": asked}) is None

        _reauth_check(user, {"sub": "erin", "auth_time": mark})  # the next sign-in asks again
        replayed = _reauth_check(user, {"sub": "erin", "auth_time": session["reauth_since"] - 1})
        db.session.commit()
    assert replayed[1] == 400
    assert len(audit_actions(app, "reauthenticated")) == 1
    (failed,) = audit_actions(app, "reauth_failed")
    assert failed.detail["auth_time"] is not None
