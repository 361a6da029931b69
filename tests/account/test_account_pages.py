"""My devices and a device page: sign out, trust, untrust, rename, sign out others/everywhere.

Every button is a form with a CSRF token, answered with a redirect and a flash message; the
account-wide sign-outs ask on a page of their own first.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from support.account_helpers import (
    audit_actions,
    current_session_of,
    device,
    devices_of,
    page_csrf,
    sessions_of,
)
from support.agents import IPHONE

from portal.extensions import db
from portal.models import Device, EndReason, LoginMethod, utcnow
from portal.services.sessions import ending, opening
from portal.services.sessions import policy as session_service


@pytest.fixture
def two_browsers(auth, app):
    """Alice signed in on a desktop browser (``here``) and on a phone (``phone``)."""
    here = auth.new_client("alice")
    phone = auth.new_client("alice", user_agent=IPHONE, remote_addr="81.2.69.142")
    here_device = current_session_of(here, app).device_id
    phone_device = current_session_of(phone, app).device_id
    assert here_device != phone_device
    return here, phone, here_device, phone_device


def _signed_in(client) -> bool:
    return b'id="devices"' in client.get("/").data


def _post(client, path, data=None, token=None):
    return client.post(path, data={"csrf_token": token or page_csrf(client), **(data or {})})


def _flash(client) -> str:
    page = client.get("/").data.decode()
    return page.split('role="status">', 1)[1].split("</div>", 1)[0] if "role=" in page else ""


# -- My devices -----------------------------------------------------------------------------


def test_my_devices_offers_every_action_and_marks_this_device(client, auth, two_browsers):
    here, _, here_device, phone_device = two_browsers
    page = here.get("/").data.decode()
    for device_id in (here_device, phone_device):
        for action in ("sign-out", "trust", "rename"):
            assert f"/account/devices/{device_id}/{action}" in page
    assert page.count("This device") == 1
    assert 'href="/account/sign-out-others"' in page
    assert 'href="/account/sign-out-everywhere"' in page


# -- Sign out one device ----------------------------------------------------------------------


def test_sign_out_other_device_ends_its_sessions_and_signs_that_browser_out(app, two_browsers):
    here, phone, _, phone_device = two_browsers
    response = _post(here, f"/account/devices/{phone_device}/sign-out", {"next": "/"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Signed out Safari on iPhone (1 session ended)" in _flash(here)

    assert not _signed_in(phone)
    assert _signed_in(here)
    [ended] = sessions_of(app, "alice", phone_device)
    assert ended.end_reason == EndReason.REVOKED.value and ended.ended_at is not None
    [event] = audit_actions(app, "revoke_device")
    assert event.device_id == phone_device and event.detail == {"sessions_ended": 1}


def test_sign_out_on_this_device_signs_me_out(app, idp, two_browsers):
    here, phone, here_device, _ = two_browsers
    response = _post(here, f"/account/devices/{here_device}/sign-out")
    # Signed out at the IdP too (RP-initiated logout), which then sends the browser home.
    assert response.status_code == 302
    assert response.headers["Location"].startswith(idp.metadata["end_session_endpoint"])
    assert "post_logout_redirect_uri=http%3A%2F%2Flocalhost%2F" in response.headers["Location"]
    landing = here.get("/").data.decode()
    assert 'id="hero-sign-in"' in landing and "You signed out this device." in landing
    [mine] = sessions_of(app, "alice", here_device)
    assert mine.end_reason == EndReason.SIGNED_OUT.value
    assert _signed_in(phone)


# -- Trust and untrust ------------------------------------------------------------------------


@pytest.fixture
def trust_days(app_config):
    app_config["DEVICE_TRUST_DAYS"] = 7
    return 7


def test_trust_device_at_a_level_until_the_configured_days(trust_days, app, auth):
    here = auth.new_client("alice")
    device_id = current_session_of(here, app).device_id
    before = utcnow()
    response = _post(here, f"/account/devices/{device_id}/trust", {"level": "HIGH"})
    assert response.status_code == 302

    row = device(app, device_id)
    assert row.is_trusted and row.trust_level == "HIGH"
    assert before + timedelta(days=7) <= row.trust_expires_at <= utcnow() + timedelta(days=7)
    page = here.get("/").data.decode()
    assert "is trusted (High) until" in page and "Trusted · High" in page
    assert f"/account/devices/{device_id}/untrust" in page
    [event] = audit_actions(app, "trust_device")
    assert event.detail["trust_level"] == "HIGH" and event.device_id == device_id


def test_trust_with_an_unknown_level_changes_nothing(app, auth):
    here = auth.new_client("alice")
    device_id = current_session_of(here, app).device_id
    response = _post(here, f"/account/devices/{device_id}/trust", {"level": "ULTRA"})
    assert response.status_code == 302
    assert "Not a valid choice" in _flash(here)
    assert not device(app, device_id).is_trusted
    assert audit_actions(app, "trust_device") == []


def test_expired_trust_shows_and_behaves_as_untrusted(app, auth):
    here = auth.new_client("alice")
    device_id = current_session_of(here, app).device_id
    with app.app_context():
        row = db.session.get(Device, device_id)
        row.is_trusted, row.trust_level = True, "HIGH"
        row.trust_expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    page = here.get("/").data.decode()
    assert "Trust expired" in page and "Trusted · High" not in page
    # It is offered trust again, not untrust.
    assert f"/account/devices/{device_id}/trust" in page
    assert f"/account/devices/{device_id}/untrust" not in page


def test_untrust_drops_trust_and_signs_the_device_out(app, two_browsers):
    here, phone, _, phone_device = two_browsers
    _post(here, f"/account/devices/{phone_device}/trust", {"level": "LOW"})
    assert device(app, phone_device).trusted_now()

    response = _post(here, f"/account/devices/{phone_device}/untrust")
    assert response.status_code == 302
    row = device(app, phone_device)
    assert (row.is_trusted, row.trust_level, row.trust_expires_at) == (False, "UNKNOWN", None)
    assert not _signed_in(phone)
    assert [s.end_reason for s in sessions_of(app, "alice", phone_device)] == ["untrusted"]
    assert len(audit_actions(app, "untrust_device")) == 1


def test_untrusting_this_device_signs_me_out(app, auth):
    here = auth.new_client("alice")
    device_id = current_session_of(here, app).device_id
    _post(here, f"/account/devices/{device_id}/trust", {"level": "MEDIUM"})
    _post(here, f"/account/devices/{device_id}/untrust")
    assert not _signed_in(here)


# -- Rename -----------------------------------------------------------------------------------


def test_rename_trims_the_name_and_returns_to_the_page_it_came_from(app, auth):
    here = auth.new_client("alice")
    device_id = current_session_of(here, app).device_id
    back = f"/account/devices/{device_id}"
    response = _post(
        here, f"/account/devices/{device_id}/rename", {"name": "  Work laptop  ", "next": back}
    )
    assert response.status_code == 302 and response.headers["Location"] == back
    assert device(app, device_id).name == "Work laptop"
    assert "Renamed to Work laptop." in here.get(back).data.decode()
    [event] = audit_actions(app, "rename_device")
    assert event.detail["new_name"] == "Work laptop"


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "tab\there", "bell\x07"])
def test_rename_refuses_names_outside_1_to_64_printable_characters(app, auth, name):
    here = auth.new_client("alice")
    device_id = current_session_of(here, app).device_id
    old = device(app, device_id).name
    response = _post(here, f"/account/devices/{device_id}/rename", {"name": name})
    assert response.status_code == 302
    assert "1 to 64 printable characters" in _flash(here)
    assert device(app, device_id).name == old
    assert audit_actions(app, "rename_device") == []


def test_rename_allows_exactly_64_characters(app, auth):
    here = auth.new_client("alice")
    device_id = current_session_of(here, app).device_id
    _post(here, f"/account/devices/{device_id}/rename", {"name": "é" * 64})
    assert device(app, device_id).name == "é" * 64


def test_a_redirect_after_an_action_never_leaves_the_site(app, auth):
    here = auth.new_client("alice")
    device_id = current_session_of(here, app).device_id
    response = _post(
        here,
        f"/account/devices/{device_id}/rename",
        {"name": "Laptop", "next": "https://evil.example/"},
    )
    assert response.headers["Location"] == "/"


# -- Object-level access and CSRF -------------------------------------------------------------

ACTIONS = [
    ("sign-out", {}),
    ("trust", {"level": "HIGH"}),
    ("untrust", {}),
    ("rename", {"name": "Mine now"}),
]


@pytest.mark.parametrize(("action", "data"), ACTIONS)
def test_action_on_another_users_device_is_404_and_changes_nothing(app, auth, action, data):
    bob = auth.new_client("bob")
    bobs_device = current_session_of(bob, app).device_id
    alice = auth.new_client("alice")
    response = _post(alice, f"/account/devices/{bobs_device}/{action}", data)
    assert response.status_code == 404
    row = device(app, bobs_device)
    assert row.name != "Mine now" and not row.is_trusted
    assert _signed_in(bob)
    assert [e.action for e in audit_actions(app)] == ["sign_in", "sign_in"]


@pytest.mark.parametrize("device_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_action_on_a_device_that_does_not_exist_is_404(auth, device_id):
    alice = auth.new_client("alice")
    assert _post(alice, f"/account/devices/{device_id}/sign-out").status_code == 404
    assert alice.get(f"/account/devices/{device_id}").status_code == 404


def test_device_page_of_another_user_is_404(app, auth):
    bob = auth.new_client("bob")
    bobs_device = current_session_of(bob, app).device_id
    assert auth.new_client("alice").get(f"/account/devices/{bobs_device}").status_code == 404


@pytest.mark.parametrize(
    ("path", "data"),
    [(f"/account/devices/{{id}}/{action}", data) for action, data in ACTIONS]
    + [("/account/sign-out-others", {}), ("/account/sign-out-everywhere", {})],
)
@pytest.mark.parametrize("token", [None, "forged-token", "the-phones-own-token"])
def test_form_without_a_valid_csrf_token_is_400_and_changes_nothing(
    app, two_browsers, path, data, token
):
    """No token, an invented one, or a valid token of another browser's session (the same
    user's phone): a token is good for the session it was made for only."""
    here, phone, _, phone_device = two_browsers
    form = dict(data)
    if token == "the-phones-own-token":
        token = page_csrf(phone)
    if token:
        form["csrf_token"] = token
    response = here.post(path.format(id=phone_device), data=form)
    assert response.status_code == 400
    assert b"Traceback" not in response.data
    row = device(app, phone_device)
    assert row.name == "Safari on iPhone" and not row.is_trusted
    assert _signed_in(here) and _signed_in(phone)
    assert [e.action for e in audit_actions(app)] == ["sign_in", "sign_in"]


# -- Sign out all other devices / everywhere --------------------------------------------------


def test_sign_out_all_other_devices_asks_first(app, two_browsers):
    here, phone, *_ = two_browsers
    confirm = here.get("/account/sign-out-others")
    assert confirm.status_code == 200
    page = confirm.data.decode()
    assert "Sign out all other devices?" in page and 'name="csrf_token"' in page
    assert 'method="post"' in page and 'id="cancel"' in page
    assert _signed_in(phone)
    assert audit_actions(app, "revoke_all_sessions") == []


def test_sign_out_all_other_devices_keeps_this_one(app, auth, two_browsers):
    here, phone, *_ = two_browsers
    api = auth.bearer("alice")  # a token is a session of its own once used
    assert here.get("/devices", headers=api).status_code == 200

    response = _post(here, "/account/sign-out-others", token=page_csrf(here, "/"))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Signed out all other devices (2 sessions ended)." in _flash(here)
    assert _signed_in(here) and not _signed_in(phone)
    assert here.get("/devices", headers=api).status_code == 401  # the API token too
    [event] = audit_actions(app, "revoke_all_sessions")
    assert event.detail == {"sessions_ended": 2, "kept_current": True}


def test_sign_out_everywhere_asks_first_then_signs_this_one_out_too(app, idp, two_browsers):
    here, phone, here_device, _ = two_browsers
    assert "Sign out everywhere?" in here.get("/account/sign-out-everywhere").data.decode()
    assert _signed_in(phone)

    response = _post(here, "/account/sign-out-everywhere")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(idp.metadata["end_session_endpoint"])
    landing = here.get("/").data.decode()
    assert 'id="hero-sign-in"' in landing and "You were signed out everywhere." in landing
    assert not _signed_in(phone)
    reasons = {s.device_id: s.end_reason for s in sessions_of(app, "alice")}
    assert reasons[here_device] == "signed_out"
    assert set(reasons.values()) == {"signed_out", "revoked"}
    [event] = audit_actions(app, "revoke_all_sessions")
    assert event.detail == {"sessions_ended": 2, "kept_current": False}


# -- The device page: details and login history -----------------------------------------------


def test_device_page_lists_every_session_and_how_it_ended(app, auth):
    here = auth.new_client("alice", remote_addr="81.2.69.142")
    device_id = current_session_of(here, app).device_id
    with app.app_context():
        row = db.session.get(Device, device_id)
        policy = session_service.SessionPolicy.from_config(app.config)
        client = opening.ClientInfo("81.2.69.142", None)
        now = utcnow()
        opened = []
        for _ in range(4):
            s = opening._open_session(
                row.user, row, client, opening.places.Location(), policy, now, LoginMethod.OIDC
            )
            opened.append(s)
        db.session.flush()
        ending.end_session(opened[0], EndReason.SIGNED_OUT, by=row.user)
        ending.end_session(opened[1], EndReason.REVOKED, by=row.user)
        ending.end_session(opened[2], EndReason.REVOKED_BY_ADMIN, by=None)
        opened[3].expires_at = now - timedelta(minutes=1)
        db.session.commit()

    page = here.get(f"/account/devices/{device_id}").data.decode()
    history = page.split('id="login-history"', 1)[1]
    assert history.count("<tr data-session-id=") == 5
    for label in ("Active", "Signed out", "Revoked by you", "Revoked by an admin", "Expired"):
        assert label in history, label
    assert "81.2.69.142" in history and "London, GB" in history


def test_device_page_of_a_removed_device_is_404(app, two_browsers):
    here, _, _, phone_device = two_browsers
    with app.app_context():
        db.session.get(Device, phone_device).removed_at = utcnow()
        db.session.commit()
    assert here.get(f"/account/devices/{phone_device}").status_code == 404
    assert phone_device not in {d.id for d in devices_of(app, "alice") if d.removed_at is None}
