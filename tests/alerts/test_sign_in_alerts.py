"""Sign-in alerts by mail: who gets one, what it says, and when none is sent.

Everything runs against the real IdP, the suite's database and a real SMTP server process
(aiosmtpd); the worker (``flask worker --once``) sends what the sign-ins wrote to the outbox.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests
from support.account_helpers import audit_actions, csrf_from, devices_of
from support.admin_helpers import LINKOPING, LONDON
from support.agents import IPHONE
from support.alert_helpers import (
    alert_rows,
    html_of,
    links,
    outbox_rows,
    run_worker,
    text_of,
    use_mail_server,
)


@pytest.fixture(autouse=True)
def _mail_server(app_config, smtp):
    use_mail_server(app_config, smtp.port)


def _again(auth, browser, login: str = "alice", **kwargs):
    """Sign in once more on the same browser (its device cookie kept, its session gone)."""
    browser.delete_cookie("portal_session")
    response = auth.sign_in(browser, login, **kwargs)
    assert response.status_code == 302, response.data[:300]
    return response


def _subject(mail) -> str:
    return str(mail["Subject"]).strip()  # a folded, encoded header reads with a leading space


def _mails_after_worker(app, smtp) -> list:
    run_worker(app)
    return smtp.messages()


# -- who gets a mail ----------------------------------------------------------------------------


def test_a_first_sign_in_sends_nothing(auth, app, smtp):
    auth.new_client("alice", remote_addr=LONDON)
    assert outbox_rows(app) == []
    assert _mails_after_worker(app, smtp) == []


def test_a_new_device_gets_one_mail_with_what_where_when_and_two_actions(auth, app, smtp):
    auth.new_client("alice")
    auth.new_client("alice", user_agent=IPHONE, remote_addr=LONDON)
    [row] = outbox_rows(app)
    assert row.status == "pending" and row.recipient == "alice@example.test"
    [mail] = _mails_after_worker(app, smtp)

    assert mail["To"] == "alice@example.test"
    assert mail["Message-ID"] == row.message_id
    # The portal's own name for the device, as My devices shows it (issue 32, item 10).
    assert _subject(mail) == "New sign-in: Safari on iPhone in London, GB"
    text = text_of(mail)
    assert "signed in to from a new device" in text
    assert "Safari on iOS" in text and "(mobile)" in text
    assert LONDON in text and "London, GB" in text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \((just now|\d+ minutes? ago)\)", text)
    assert "Yes, it was me" in text and "No, secure my account" in text
    assert "http://localhost/" in text  # My devices
    html = html_of(mail)
    assert "Yes, it was me" in html and "No, secure my account" in html
    assert "<img" not in html.lower() and "url(" not in html  # no pixels, no external images
    assert set(links(mail)) == {"yes", "no"}

    [sent] = outbox_rows(app)
    assert sent.status == "sent" and sent.attempts == 1 and sent.sent_at is not None
    assert sent.subject == _subject(mail)
    [alert] = alert_rows(app)
    assert alert.new_device and alert.flags == 0
    assert [e.detail["message_id"] for e in audit_actions(app, "sign_in_alert_queued")] == [
        row.message_id
    ]


def test_a_flagged_sign_in_on_a_known_device_gets_a_mail_saying_why(auth, app, smtp):
    browser = auth.new_client("alice", remote_addr=LONDON)
    _again(auth, browser, "alice", remote_addr=LINKOPING)  # 40 minutes would be too soon
    [mail] = _mails_after_worker(app, smtp)
    assert _subject(mail).startswith("Unusual sign-in") and "Linköping, SE" in _subject(mail)
    text = text_of(mail)
    assert "New country" in text and "Impossible travel" in text
    assert "looks unusual" in text and LINKOPING in text
    [alert] = alert_rows(app)
    assert not alert.new_device and alert.flags == 3


def test_a_known_device_signing_in_again_gets_no_mail(auth, app, smtp):
    browser = auth.new_client("alice", remote_addr=LONDON)
    _again(auth, browser, "alice", remote_addr=LONDON)
    _again(auth, browser, "alice", remote_addr=LONDON)
    assert _mails_after_worker(app, smtp) == []


def test_an_api_client_new_to_the_account_gets_a_mail(auth, app, smtp, client):
    auth.new_client("alice")
    assert client.get("/devices", headers=auth.bearer("alice")).status_code == 200
    [mail] = _mails_after_worker(app, smtp)
    assert "an API client" in text_of(mail) or "API client" in text_of(mail)


def test_a_burst_of_sign_ins_from_one_device_is_one_mail(auth, app, smtp):
    auth.new_client("alice", remote_addr=LONDON)
    phone = auth.new_client("alice", user_agent=IPHONE, remote_addr=LINKOPING)
    for where in (LONDON, LINKOPING, LONDON, LINKOPING):  # each one impossible travel
        _again(auth, phone, "alice", user_agent=IPHONE, remote_addr=where)
    assert len(outbox_rows(app)) == 1
    assert len(_mails_after_worker(app, smtp)) == 1


# -- the user's choice, and the instance's ----------------------------------------------------


def _choose(browser, mode: str):
    token = csrf_from(browser.get("/account/notifications").data)
    return browser.post("/account/notifications", data={"csrf_token": token, "mode": mode})


def test_my_devices_links_to_the_alert_settings(auth):
    browser = auth.new_client("alice")
    assert 'href="/account/notifications"' in browser.get("/").get_data(as_text=True)
    page = browser.get("/account/notifications").get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="new_device"', page)


def test_a_user_who_turned_alerts_off_gets_no_mail(auth, app, smtp):
    browser = auth.new_client("alice", remote_addr=LONDON)
    assert _choose(browser, "none").status_code == 302
    auth.new_client("alice", user_agent=IPHONE, remote_addr=LINKOPING)  # new, and flagged
    assert outbox_rows(app) == []
    assert _mails_after_worker(app, smtp) == []
    assert [e.detail["new_mode"] for e in audit_actions(app, "alert_mode_changed")] == ["none"]


def test_flagged_only_skips_a_new_device_that_is_not_flagged(auth, app, smtp):
    browser = auth.new_client("alice", remote_addr=LONDON)
    assert _choose(browser, "flagged").status_code == 302
    auth.new_client("alice", user_agent=IPHONE, remote_addr=LONDON)
    assert outbox_rows(app) == []
    _again(auth, browser, "alice", remote_addr=LINKOPING)
    assert len(_mails_after_worker(app, smtp)) == 1


@pytest.fixture
def forced(app_config):
    app_config["ALERTS_FORCE_FLAGGED"] = True


def test_the_instance_can_keep_flagged_alerts_on(forced, auth, app, smtp):
    browser = auth.new_client("alice", remote_addr=LONDON)
    page = browser.get("/account/notifications").get_data(as_text=True)
    assert 'value="none"' not in page and 'id="forced"' in page
    assert _choose(browser, "none").status_code == 400  # not a choice offered
    assert _choose(browser, "flagged").status_code == 302
    _again(auth, browser, "alice", remote_addr=LINKOPING)
    assert len(_mails_after_worker(app, smtp)) == 1


@pytest.fixture
def default_none(app_config):
    app_config["ALERTS_DEFAULT"] = "none"


def test_the_instance_default_applies_to_users_who_chose_nothing(default_none, auth, app, smtp):
    auth.new_client("alice", remote_addr=LONDON)
    auth.new_client("alice", user_agent=IPHONE, remote_addr=LINKOPING)
    assert outbox_rows(app) == []


@pytest.fixture
def patient_database(app_config):
    """Sign-ins finishing at once queue for the database's write lock; let them wait."""
    app_config["DATABASE_LOCK_TIMEOUT"] = 10


def test_sign_ins_finishing_at_once_on_one_new_device_are_one_mail(
    patient_database, app, live_server, auth, idp, smtp
):
    auth.new_client("alice")  # alice has a device; the browser below is a new one for her
    bob = requests.Session()  # a browser Bob signed in with: its device cookie is signed
    first = bob.get(live_server.url + "/login", allow_redirects=False, timeout=10)
    back = urlsplit(idp.login_through(requests.Session(), first.headers["Location"], "bob"))
    assert bob.get(f"{live_server.url}{back.path}?{back.query}", timeout=10).ok
    device_cookie = bob.cookies.get("portal_device")
    tabs, callbacks = [], []
    for _ in range(4):  # four tabs of that browser, each through the IdP up to its callback
        http = requests.Session()
        http.cookies.set("portal_device", device_cookie)
        start = http.get(live_server.url + "/login", allow_redirects=False, timeout=10)
        back = urlsplit(idp.login_through(requests.Session(), start.headers["Location"], "alice"))
        tabs.append(http)
        callbacks.append(f"{live_server.url}{back.path}?{back.query}")
    barrier = threading.Barrier(len(tabs))

    def finish(pair):
        http, url = pair
        barrier.wait(timeout=30)
        return http.get(url, allow_redirects=False, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=len(tabs)) as pool:
        statuses = list(pool.map(finish, zip(tabs, callbacks, strict=True)))

    assert statuses == [302] * len(tabs)
    assert len(devices_of(app, "alice")) == 2  # her first browser, and this one
    assert len(alert_rows(app)) == 1
    assert len(_mails_after_worker(app, smtp)) == 1


# -- a device reported as not the user ---------------------------------------------------------


def _phone_id(app):
    return next(d.id for d in devices_of(app, "alice") if d.user_agent == IPHONE)


def _report(app, browser) -> None:
    url = f"/account/devices/{_phone_id(app)}/report"
    token = csrf_from(browser.get(url).data)
    assert browser.post(url, data={"csrf_token": token}).status_code == 302


@pytest.mark.parametrize("mode", ["new_device", "none"])
def test_a_reported_device_signing_in_again_is_always_mailed(auth, app, smtp, mode):
    laptop = auth.new_client("alice", remote_addr=LONDON)
    phone = auth.new_client("alice", user_agent=IPHONE, remote_addr=LONDON)
    assert len(_mails_after_worker(app, smtp)) == 1  # the new phone, minutes ago
    _report(app, laptop)
    assert _choose(laptop, mode).status_code == 302

    _again(auth, phone, "alice", user_agent=IPHONE, remote_addr=LONDON)  # within the quiet day
    _again(auth, phone, "alice", user_agent=IPHONE, remote_addr=LONDON)  # and again: each one

    mails = _mails_after_worker(app, smtp)
    assert len(mails) == 3 and len(alert_rows(app)) == 3
    mail = mails[-1]
    assert _subject(mail).startswith("Unusual sign-in")
    assert "Reported: you said this device was not you on" in text_of(mail)
    assert len(audit_actions(app, "sign_in_alert_queued")) == 3


def test_a_device_no_longer_reported_is_quiet_again(auth, app, smtp):
    laptop = auth.new_client("alice", remote_addr=LONDON)
    phone = auth.new_client("alice", user_agent=IPHONE, remote_addr=LONDON)
    _report(app, laptop)
    url = f"/account/devices/{_phone_id(app)}/clear-report"
    assert laptop.post(url, data={"csrf_token": csrf_from(laptop.get(url).data)}).status_code == 302

    _again(auth, phone, "alice", user_agent=IPHONE, remote_addr=LONDON)

    assert len(_mails_after_worker(app, smtp)) == 1  # the new phone's, nothing more
