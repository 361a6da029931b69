"""*This wasn't me*: the owner reports one of their other devices as not them.

On My devices and a device page, every device but the one in use offers *This wasn't me*. It
asks first on a page of its own (GET asks, POST does, with a CSRF token); confirming signs that
device out, stops trusting it, makes every new sign-in to the account give credentials at the
IdP again, and records ``reported_suspicious`` in the audit log. Admins see the report as a flag
on the user's page and in the users list.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from support.account_helpers import (
    audit_actions,
    current_session_of,
    device,
    devices_of,
    page_csrf,
    sessions_of,
    user_id,
)
from support.admin_helpers import LONDON, counting_queries, make_user, sign_in_at
from support.agents import IPHONE

from portal.extensions import db
from portal.models import User, utcnow
from portal.services.sessions import opening


@pytest.fixture
def two_browsers(auth, app):
    """Alice signed in on a desktop browser (``here``) and on a phone (``phone``)."""
    here = auth.new_client("alice")
    phone = auth.new_client("alice", user_agent=IPHONE, remote_addr=LONDON)
    here_device = current_session_of(here, app).device_id
    phone_device = current_session_of(phone, app).device_id
    return here, phone, here_device, phone_device


def _signed_in(client) -> bool:
    return b'id="devices"' in client.get("/").data


def _report_url(device_id) -> str:
    return f"/account/devices/{device_id}/report"


def _confirm(client, device_id, data=None):
    """Open the confirm page as the browser would, then press its button."""
    token = page_csrf(client, _report_url(device_id))
    return client.post(_report_url(device_id), data={"csrf_token": token, **(data or {})})


def _flashes(client, path: str = "/") -> str:
    page = client.get(path).data.decode()
    return " ".join(part.split("</div>", 1)[0] for part in page.split('role="status">')[1:])


def _user(app, login: str) -> User:
    with app.app_context():
        found = db.session.execute(select(User).where(User.subject == login)).scalar_one()
        db.session.expunge_all()
        return found


# -- where it is offered ----------------------------------------------------------------------


def test_every_device_but_this_one_offers_this_wasnt_me(two_browsers):
    here, _, here_device, phone_device = two_browsers
    my_devices = here.get("/").data.decode()
    assert my_devices.count("This wasn't me") == 1
    assert f'href="{_report_url(phone_device)}?next=/"' in my_devices
    assert _report_url(here_device) not in my_devices

    phone_page = here.get(f"/account/devices/{phone_device}").data.decode()
    assert f"{_report_url(phone_device)}?next=/account/devices/{phone_device}" in phone_page
    assert "This wasn't me" not in here.get(f"/account/devices/{here_device}").data.decode()


# -- asking first -----------------------------------------------------------------------------


def test_the_confirm_page_says_what_will_happen_and_changes_nothing(app, two_browsers):
    here, phone, _, phone_device = two_browsers
    response = here.get(_report_url(phone_device))
    assert response.status_code == 200
    page = response.data.decode()
    assert "This wasn't you on “Safari on iPhone”?" in page
    assert "London, United Kingdom" in page and LONDON in page
    assert "signed out at once (1 active session will end)" in page
    assert "no longer trusted" in page
    assert "every new sign-in to your account, on any device, must give your password" in page
    assert "change your password at your identity provider" in page
    assert 'method="post"' in page and 'name="csrf_token"' in page and 'id="cancel"' in page

    assert _signed_in(phone)
    assert device(app, phone_device).reported_suspicious_at is None
    assert audit_actions(app, "reported_suspicious") == []


# -- doing it ---------------------------------------------------------------------------------


def test_reporting_signs_the_device_out_untrusts_it_and_records_the_report(app, two_browsers):
    here, phone, _, phone_device = two_browsers
    here.post(
        f"/account/devices/{phone_device}/trust",
        data={"csrf_token": page_csrf(here), "level": "HIGH"},
    )
    assert device(app, phone_device).trusted_now()
    before = utcnow()

    response = _confirm(here, phone_device, {"next": "/"})

    assert response.status_code == 302 and response.headers["Location"] == "/"
    flash = _flashes(here)
    assert "Reported Safari on iPhone: it was signed out (1 session ended)" in flash
    assert "is no longer trusted" in flash
    assert "Change your password at your identity provider now." in flash
    # The phone is out at its next request; this browser is not disturbed.
    assert not _signed_in(phone)
    assert _signed_in(here)
    assert [s.end_reason for s in sessions_of(app, "alice", phone_device)] == ["reported"]
    row = device(app, phone_device)
    assert (row.is_trusted, row.trust_level, row.trust_expires_at) == (False, "UNKNOWN", None)
    assert before <= row.reported_suspicious_at <= utcnow()
    [event] = audit_actions(app, "reported_suspicious")
    assert event.device_id == phone_device and event.detail == {"sessions_ended": 1}
    assert event.actor_id == event.target_user_id == user_id(app, "alice")
    # One step, one audit event: not an untrust and a sign-out besides.
    assert [e.action for e in audit_actions(app)][2:] == ["trust_device", "reported_suspicious"]


def test_after_a_report_every_new_sign_in_must_give_credentials_again(app, two_browsers):
    here, _, _, phone_device = two_browsers
    signed_in_before = utcnow() - timedelta(seconds=2)  # an IdP sign-in made before the report

    _confirm(here, phone_device)

    alice = _user(app, "alice")
    assert alice.reauth_required_after is not None
    assert opening.authenticated_too_long_ago(alice, signed_in_before)
    assert device(app, phone_device).revoked_at == alice.reauth_required_after


def test_reporting_from_the_device_page_returns_to_it_and_shows_the_report(app, two_browsers):
    here, _, _, phone_device = two_browsers
    back = f"/account/devices/{phone_device}"
    confirm_page = here.get(f"{_report_url(phone_device)}?next={back}").data.decode()
    assert f'value="{back}"' in confirm_page and f'href="{back}" role="button"' in confirm_page

    response = _confirm(here, phone_device, {"next": back})

    assert response.headers["Location"] == back
    page = here.get(back).data.decode()
    assert "data-reported" in page and "Reported" in page
    assert "Reported as not the user" in page.split('id="login-history"', 1)[1]
    assert "data-reported" in here.get("/").data.decode()


def test_reporting_an_api_client_stops_its_token(app, auth):
    here = auth.new_client("alice")
    api = auth.bearer("alice")
    assert here.get("/devices", headers=api).status_code == 200
    [client_device] = [d.id for d in devices_of(app, "alice", kind="api_client")]

    _confirm(here, client_device)

    assert here.get("/devices", headers=api).status_code == 401
    assert _signed_in(here)
    [event] = audit_actions(app, "reported_suspicious")
    assert event.device_id == client_device


def test_a_device_already_signed_out_can_still_be_reported(app, two_browsers):
    here, _, _, phone_device = two_browsers
    here.post(f"/account/devices/{phone_device}/sign-out", data={"csrf_token": page_csrf(here)})
    _flashes(here)  # read the sign-out's message

    _confirm(here, phone_device)

    assert "(0 sessions ended)" in _flashes(here)
    assert device(app, phone_device).reported_suspicious_at is not None
    [event] = audit_actions(app, "reported_suspicious")
    assert event.detail == {"sessions_ended": 0}


# -- what it refuses --------------------------------------------------------------------------


def test_this_device_is_refused_with_a_friendly_message_and_nothing_changes(app, two_browsers):
    here, _, here_device, _ = two_browsers
    asked = here.get(_report_url(here_device))
    assert asked.status_code == 302 and asked.headers["Location"] == "/"
    assert "You are using this device now" in _flashes(here)

    posted = here.post(_report_url(here_device), data={"csrf_token": page_csrf(here)})

    assert posted.status_code == 302 and posted.headers["Location"] == "/"
    assert "cannot be reported as not you" in _flashes(here)
    assert _signed_in(here)
    assert device(app, here_device).reported_suspicious_at is None
    assert _user(app, "alice").reauth_required_after is None
    assert audit_actions(app, "reported_suspicious") == []


def test_another_users_device_is_404_and_nothing_changes(app, auth):
    bob = auth.new_client("bob")
    bobs_device = current_session_of(bob, app).device_id
    alice = auth.new_client("alice")

    assert alice.get(_report_url(bobs_device)).status_code == 404
    posted = alice.post(_report_url(bobs_device), data={"csrf_token": page_csrf(alice)})

    assert posted.status_code == 404
    assert _signed_in(bob)
    assert device(app, bobs_device).reported_suspicious_at is None
    assert [e.action for e in audit_actions(app)] == ["sign_in", "sign_in"]


@pytest.mark.parametrize("device_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_a_device_that_does_not_exist_is_404(auth, device_id):
    alice = auth.new_client("alice")
    assert alice.get(_report_url(device_id)).status_code == 404
    assert alice.post(
        _report_url(device_id), data={"csrf_token": page_csrf(alice)}
    ).status_code == (404)


@pytest.mark.parametrize("token", [None, "forged-token", "the-phones-own-token"])
def test_a_post_without_a_valid_csrf_token_is_400_and_changes_nothing(app, two_browsers, token):
    """A valid token of another browser's session (the phone's own) is refused too."""
    here, phone, _, phone_device = two_browsers
    if token == "the-phones-own-token":
        token = page_csrf(phone)
    response = here.post(_report_url(phone_device), data={"csrf_token": token} if token else {})
    assert response.status_code == 400
    assert b"Traceback" not in response.data
    assert _signed_in(phone)
    assert device(app, phone_device).reported_suspicious_at is None
    assert audit_actions(app, "reported_suspicious") == []


def test_signed_out_visitors_are_sent_to_sign_in(client, app, auth):
    bob = auth.new_client("bob")
    bobs_device = current_session_of(bob, app).device_id
    response = client.get(_report_url(bobs_device))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# -- what admins see --------------------------------------------------------------------------


def test_the_user_page_flags_the_reported_device_with_when(app, auth, two_browsers):
    here, _, _, phone_device = two_browsers
    _confirm(here, phone_device)

    page = auth.new_client("viewer").get(f"/admin/users/{user_id(app, 'alice')}").data.decode()

    card = page.split(f'data-device-id="{phone_device}"', 1)[1].split("</header>", 1)[0]
    assert 'data-flag="reported_suspicious"' in card and "Reported as not them" in card
    reported_at = device(app, phone_device).reported_suspicious_at
    assert f"Reported by the user as not them on {reported_at:%Y-%m-%d %H:%M:%S} UTC" in card
    assert "just now" in card  # the time, as on every page: relative, exact on hover
    summary = page.split('id="flags-summary"', 1)[1].split("</article>", 1)[0]
    assert 'data-flag="reported_suspicious"' in summary
    # Its session ended as reported, in the login history.
    assert "Reported as not the user" in page


def test_the_users_list_flags_users_who_reported_a_device_in_the_last_30_days(app, auth):
    with app.app_context():
        recent = make_user("recent", name="Recent Report")
        old = make_user("stale", name="Stale Report")
        for user, ago in ((recent, timedelta(days=2)), (old, timedelta(days=45))):
            session, _ = sign_in_at(app, user, utcnow() - ago - timedelta(hours=1))
            session.device.reported_suspicious_at = utcnow() - ago
        db.session.commit()
    viewer = auth.new_client("viewer")

    recent_row = viewer.get("/admin/users?q=recent").data.decode()
    stale_row = viewer.get("/admin/users?q=stale").data.decode()

    assert 'data-flag="reported_suspicious"' in recent_row and "Reported as not them" in recent_row
    assert 'data-flag="reported_suspicious"' not in stale_row
    # On the user page a report stays, however old.
    stale_page = viewer.get(f"/admin/users/{user_id(app, 'stale')}").data.decode()
    assert 'data-flag="reported_suspicious"' in stale_page


def test_the_users_list_shows_a_report_made_through_the_page(app, auth, two_browsers):
    here, _, _, phone_device = two_browsers
    _confirm(here, phone_device)
    page = auth.new_client("viewer").get("/admin/users?q=alice").data.decode()
    row = page.split(f'data-user-id="{user_id(app, "alice")}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-flag="reported_suspicious"' in row


def test_the_users_list_counts_reports_without_a_query_per_user(app, auth):
    with app.app_context():
        for i in range(12):
            user = make_user(f"reporter{i:02d}")
            for _ in range(2):  # two devices each, both reported
                session, _ = sign_in_at(app, user, utcnow() - timedelta(hours=3))
                session.device.reported_suspicious_at = utcnow() - timedelta(hours=1)
        db.session.commit()
    viewer = auth.new_client("viewer")
    viewer.get("/admin/users?q=reporter00")  # warm up
    with counting_queries(app) as one:
        one_row = viewer.get("/admin/users?q=reporter00").data.decode()
    with counting_queries(app) as twelve:
        all_rows = viewer.get("/admin/users?q=reporter").data.decode()
    assert one_row.count('data-flag="reported_suspicious"') == 1
    assert all_rows.count('data-flag="reported_suspicious"') == 12
    assert "Reported as not them \u00d72" in all_rows  # two devices each
    assert twelve["n"] == one["n"]
