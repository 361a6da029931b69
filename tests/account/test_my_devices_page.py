"""My devices, as a person reads it: the devices signed in now (this one on top), then the
signed-out ones folded away with when and how each ended; sign out only where something is
signed in, one session at a time inside a device, Remove with a confirm, and a page that asks
first before anything that would sign out this browser."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from support.account_helpers import (
    audit_actions,
    current_session_of,
    device,
    page_csrf,
    sessions_of,
    user_id,
)
from support.admin_helpers import sign_in_at
from support.agents import IPHONE

from portal.extensions import db
from portal.models import Device, EndReason, User, UserSession, utcnow
from portal.services.sessions import ending


@pytest.fixture
def alice(auth, app):
    """Alice signed in here, plus a phone she signed out of an hour ago."""
    here = auth.new_client("alice")
    phone = auth.new_client("alice", user_agent=IPHONE, remote_addr="81.2.69.142")
    phone_device = current_session_of(phone, app).device_id
    with app.app_context():
        [s] = sessions_of(app, "alice", phone_device)
        s = db.session.merge(s)
        ending.end_session(s, EndReason.SIGNED_OUT, by=s.user, now=utcnow() - timedelta(hours=1))
        db.session.commit()
    return here, current_session_of(here, app).device_id, phone_device


def _card(page: str, device_id) -> str:
    start = page.index(f'data-device-id="{device_id}"')
    return page[start : page.index("</article>", start)]


def test_signed_in_devices_come_first_and_signed_out_ones_are_folded_away(alice):
    here, here_device, phone_device = alice
    page = here.get("/").get_data(as_text=True)
    signed_in, signed_out = page.split('id="signed-out"', 1)
    assert "Signed in now" in signed_in and f'data-device-id="{here_device}"' in signed_in
    assert f'data-device-id="{phone_device}"' in signed_out
    assert re.search(r'<details id="signed-out">', page)  # closed: it ended an hour ago
    phone = _card(page, phone_device)
    assert "Signed out" in phone and "1 hour ago" in phone
    assert "/sign-out" not in phone  # nothing left to sign out there
    assert "/remove" in phone and "/report" in phone


def test_a_device_signed_out_moments_ago_is_shown_open(app, two_alice_browsers):
    here, _, _, phone_device = two_alice_browsers
    response = here.post(
        f"/account/devices/{phone_device}/sign-out", data={"csrf_token": page_csrf(here)}
    )
    assert response.status_code == 302
    assert '<details id="signed-out" open>' in here.get("/").get_data(as_text=True)


@pytest.fixture
def two_alice_browsers(auth, app):
    here = auth.new_client("alice")
    phone = auth.new_client("alice", user_agent=IPHONE, remote_addr="81.2.69.142")
    return (
        here,
        phone,
        current_session_of(here, app).device_id,
        current_session_of(phone, app).device_id,
    )


def test_signing_out_this_device_asks_first_and_says_it_signs_this_browser_out(alice):
    here, here_device, _ = alice
    card = _card(here.get("/").get_data(as_text=True), here_device)
    # This device's Sign out and Untrust are links to a page that asks, not one-click forms.
    assert f'<a href="/account/devices/{here_device}/sign-out?next=' in card
    confirm = here.get(f"/account/devices/{here_device}/sign-out").get_data(as_text=True)
    assert "Sign out" in confirm and 'id="signs-out-here"' in confirm
    assert "signs out this browser too" in confirm and "1 active session will end" in confirm
    assert 'id="devices"' in here.get("/").get_data(as_text=True)  # asking changed nothing


def test_untrusting_this_device_asks_first(app, alice):
    here, here_device, _ = alice
    here.post(
        f"/account/devices/{here_device}/trust",
        data={"csrf_token": page_csrf(here), "level": "HIGH"},
    )
    card = _card(here.get("/").get_data(as_text=True), here_device)
    assert f'<a href="/account/devices/{here_device}/untrust?next=' in card
    confirm = here.get(f"/account/devices/{here_device}/untrust").get_data(as_text=True)
    assert "signs out this browser too" in confirm
    assert device(app, here_device).is_trusted


def test_remove_asks_then_removes_the_device_and_ends_its_sessions(app, two_alice_browsers):
    here, phone, _, phone_device = two_alice_browsers
    confirm = here.get(f"/account/devices/{phone_device}/remove").get_data(as_text=True)
    assert "Remove Safari on iPhone?" in confirm and "1 active session will end" in confirm
    assert 'id="signs-out-here"' not in confirm
    response = here.post(
        f"/account/devices/{phone_device}/remove", data={"csrf_token": page_csrf(here)}
    )
    assert response.status_code == 302
    page = here.get("/").get_data(as_text=True)
    assert "Removed Safari on iPhone (1 session ended)." in page
    assert f'data-device-id="{phone_device}"' not in page
    assert device(app, phone_device).removed_at is not None
    assert b'id="devices"' not in phone.get("/").data
    [event] = audit_actions(app, "remove_device")
    assert event.device_id == phone_device


def _device_and_its_sessions(app, device_id) -> tuple[dict, list[dict]]:
    """Every column of a device's row and of its sessions' rows."""
    with app.app_context():
        row = db.session.execute(select(Device.__table__).where(Device.id == device_id))
        sessions = db.session.execute(
            select(UserSession.__table__)
            .where(UserSession.device_id == device_id)
            .order_by(UserSession.created_at)
        )
        return dict(row.mappings().one()), [dict(s) for s in sessions.mappings()]


def test_remove_without_a_csrf_token_changes_nothing(app, two_alice_browsers):
    here, phone, _, phone_device = two_alice_browsers
    before = _device_and_its_sessions(app, phone_device)
    actions_before = [e.action for e in audit_actions(app)]

    assert here.post(f"/account/devices/{phone_device}/remove").status_code == 400

    assert _device_and_its_sessions(app, phone_device) == before
    assert before[0]["removed_at"] is None and before[1][0]["ended_at"] is None
    assert [e.action for e in audit_actions(app)] == actions_before
    assert b'id="devices"' in phone.get("/").data  # the phone is still signed in


def test_removing_another_users_device_is_404(app, auth):
    bob = auth.new_client("bob")
    bobs_device = current_session_of(bob, app).device_id
    alice = auth.new_client("alice")
    assert alice.get(f"/account/devices/{bobs_device}/remove").status_code == 404
    response = alice.post(
        f"/account/devices/{bobs_device}/remove", data={"csrf_token": page_csrf(alice)}
    )
    assert response.status_code == 404 and device(app, bobs_device).removed_at is None


def test_a_device_with_several_sessions_signs_them_out_one_at_a_time(app, auth):
    here = auth.new_client("alice")
    with app.app_context():
        user = db.session.get(User, user_id(app, "alice"))
        first, secret = sign_in_at(app, user, utcnow() - timedelta(hours=2))
        second, _ = sign_in_at(app, user, utcnow() - timedelta(hours=1), device_secret=secret)
        db.session.commit()
        laptop, first_id, second_id = first.device_id, first.id, second.id
    card = _card(here.get("/").get_data(as_text=True), laptop)
    assert card.count('data-action="sign-out-session"') == 2
    response = here.post(
        f"/account/sessions/{first_id}/sign-out",
        data={"csrf_token": page_csrf(here), "next": "/"},
    )
    assert response.status_code == 302
    ended = {s.id: s.ended_at for s in sessions_of(app, "alice", laptop)}
    assert ended[first_id] is not None and ended[second_id] is None


def test_another_users_session_cannot_be_signed_out(app, auth):
    bob = auth.new_client("bob")
    bobs_session = current_session_of(bob, app).id
    alice = auth.new_client("alice")
    response = alice.post(
        f"/account/sessions/{bobs_session}/sign-out", data={"csrf_token": page_csrf(alice)}
    )
    assert response.status_code == 404
    assert b'id="devices"' in bob.get("/").data


def test_devices_with_the_same_name_are_told_apart(app, two_alice_browsers):
    here, _, here_device, phone_device = two_alice_browsers
    for d in (here_device, phone_device):
        here.post(
            f"/account/devices/{d}/rename", data={"csrf_token": page_csrf(here), "name": "Mine"}
        )
    page = here.get("/").get_data(as_text=True)
    assert f"#{str(here_device)[:4]}" in _card(page, here_device)
    assert f"#{str(phone_device)[:4]}" in _card(page, phone_device)


def test_the_page_explains_trust_and_what_to_do_about_a_stranger(alice):
    here, *_ = alice
    page = here.get("/").get_data(as_text=True)
    assert 'id="trust-explained"' in page and "untrusting it signs it out" in page
    assert "Don't recognise a device?" in page


def test_the_header_names_the_person_by_name_else_by_email(app, auth):
    browser = auth.new_client("alice")
    with app.app_context():
        alice_row = db.session.get(User, user_id(app, "alice"))
        name, email = alice_row.name, alice_row.email
    assert name and email
    assert f'data-testid="signed-in-as">{name}</li>' in browser.get("/").get_data(as_text=True)
    with app.app_context():
        db.session.get(User, user_id(app, "alice")).name = None
        db.session.commit()
    assert f'data-testid="signed-in-as">{email}</li>' in browser.get("/").get_data(as_text=True)


def test_untrust_on_a_signed_in_device_says_it_signs_it_out(app, two_alice_browsers):
    """Issue 32, item 7: one click on Untrust signs the device out, so the button says so."""
    here, _, _, phone_device = two_alice_browsers
    here.post(
        f"/account/devices/{phone_device}/trust",
        data={"csrf_token": page_csrf(here), "level": "HIGH", "next": "/"},
    )
    card = _card(here.get("/").get_data(as_text=True), phone_device)
    button = re.search(r'data-action="untrust">([^<]*)<', card)
    assert button is not None and button.group(1) == "Untrust and sign out"


def test_sign_out_all_other_devices_is_offered_only_when_another_is_signed_in(auth, app):
    """Issue 32, item 12: with nothing else signed in there is nothing to sign out."""
    here = auth.new_client("alice")
    assert 'id="sign-out-others"' not in here.get("/").get_data(as_text=True)
    auth.new_client("alice", user_agent=IPHONE, remote_addr="81.2.69.142")
    assert 'id="sign-out-others"' in here.get("/").get_data(as_text=True)


def test_sign_in_alerts_are_in_the_navigation_of_every_page(signed_in):
    browser, _ = signed_in
    for path in ("/", "/account/tokens", "/account/notifications"):
        nav = browser.get(path).get_data(as_text=True).split("</nav>", 1)[0]
        assert 'href="/account/notifications"' in nav and ">Sign-in alerts<" in nav


def test_a_flash_gives_a_time_in_the_format_every_page_shows(app, two_alice_browsers):
    """Issue 32, item 12: one format for every time shown (``timefmt.exact``), flash included."""
    here, _, _, phone_device = two_alice_browsers
    here.post(
        f"/account/devices/{phone_device}/trust",
        data={"csrf_token": page_csrf(here), "level": "LOW", "next": "/"},
    )
    page = here.get(f"/account/devices/{phone_device}").get_data(as_text=True)
    flash = re.search(r'class="flash success"[^>]*>([^<]*)<', page).group(1)
    shown = re.search(r"until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)\.", flash)
    assert shown is not None, flash
    assert f'title="{shown.group(1)}"' in page  # the same time, as the page writes it
