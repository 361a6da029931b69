"""One name for a device everywhere (issue 32, item 10): two devices named alike are told apart
by the same short suffix on My devices, in the security activity, in the alert mail (whose
subject names the device as the portal does) and its pages, on the admin's user page, in the
sign-in search and in the audit log; the documented JSON keeps the bare name."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from support.account_helpers import current_session_of, page_csrf
from support.admin_helpers import LONDON
from support.agents import IPHONE
from support.alert_helpers import html_of, links, run_worker, text_of, use_mail_server


@pytest.fixture(autouse=True)
def _mail_server(app_config, smtp):
    use_mail_server(app_config, smtp.port)


@pytest.fixture
def two_iphones(auth, app, smtp):
    """Alice's laptop, then two iPhones (each a new device, each mailed); the second mail."""
    here = auth.new_client("alice")
    first = auth.new_client("alice", user_agent=IPHONE, remote_addr=LONDON)
    auth.new_client("alice", user_agent=IPHONE, remote_addr=LONDON)
    run_worker(app)
    first_mail, mail = smtp.messages()  # each names its own iPhone
    first_id = current_session_of(first, app).device_id
    return here, first_id, first_mail, mail


def _suffixes(text: str) -> set[str]:
    return set(re.findall(r"Safari on iPhone(?:</a>)?(?: <span[^>]*>)? ?(#[0-9a-f]{4})", text))


def test_the_mail_names_the_device_as_my_devices_does(two_iphones):
    here, _, first_mail, mail = two_iphones
    assert str(first_mail["Subject"]).strip() != str(mail["Subject"]).strip()
    on_my_devices = _suffixes(here.get("/").get_data(as_text=True))
    assert len(on_my_devices) == 2  # the two iPhones, told apart
    subject = str(mail["Subject"]).strip()
    match = re.fullmatch(r"New sign-in: Safari on iPhone (#[0-9a-f]{4}) in London, GB", subject)
    assert match and match.group(1) in on_my_devices
    assert f"Safari on iPhone {match.group(1)}" in text_of(mail)
    assert f"Safari on iPhone {match.group(1)}" in html_of(mail)
    page = here.get(urlsplit(links(mail)["no"]).path).get_data(as_text=True)
    assert f"Safari on iPhone {match.group(1)}" in page  # the alert's confirm page


def test_security_activity_admin_pages_and_audit_use_the_suffix(two_iphones, auth, app):
    here, first_id, _, _ = two_iphones
    suffix = f"#{str(first_id)[:4]}"
    here.post(f"/account/devices/{first_id}/report", data={"csrf_token": page_csrf(here)})
    activity = here.get("/").get_data(as_text=True).split('id="security-activity"', 1)[1]
    assert f"Safari on iPhone {suffix}" in activity

    admin = auth.new_client("admin")
    users = admin.get("/admin/users?q=alice").get_data(as_text=True)
    alice_url = re.search(r'href="(/admin/users/[^"?]+)"', users).group(1)
    assert f"Safari on iPhone {suffix}" in admin.get(alice_url).get_data(as_text=True)
    sign_ins = admin.get("/admin/sign-ins?q=alice@example.test").get_data(as_text=True)
    assert f"Safari on iPhone {suffix}" in sign_ins
    audit = admin.get("/admin/audit").get_data(as_text=True)
    assert f"Safari on iPhone {suffix}" in audit


def test_the_json_keeps_the_bare_name(two_iphones, auth, client):
    body = client.get("/devices", headers=auth.bearer("alice")).get_json()
    assert [d["deviceName"] for d in body["devices"]].count("Safari on iPhone") == 2
