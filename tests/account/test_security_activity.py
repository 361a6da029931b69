"""Recent security activity: My devices lists the last 14 days (flagged sign-ins, alerts
mailed, the user's own reports and confirmations, sign-outs by an administrator), and
``GET /account/security-events`` answers the same for the user's own token."""

from __future__ import annotations

import pytest
from support.account_helpers import csrf_from, devices_of, page_csrf, user_id
from support.admin_helpers import LINKOPING, LONDON
from support.agents import IPHONE
from support.alert_helpers import links, run_worker, use_mail_server


@pytest.fixture(autouse=True)
def _mail_server(app_config, smtp):
    use_mail_server(app_config, smtp.port)


def _kinds(client, auth) -> list[str]:
    answer = client.get("/account/security-events", headers=auth.bearer("alice"))
    assert answer.status_code == 200
    return [e["type"] for e in answer.get_json()["events"]]


def test_nothing_happened_says_so(auth, client):
    browser = auth.new_client("alice")
    assert "Nothing in the last 14 days" in browser.get("/").get_data(as_text=True)


def test_flagged_sign_in_alert_confirmation_report_and_admin_sign_out_newest_first(
    app, auth, smtp, client
):
    laptop = auth.new_client("alice", remote_addr=LONDON)
    auth.new_client("alice", user_agent=IPHONE, remote_addr=LINKOPING)  # new, and flagged
    run_worker(app)
    [mail] = smtp.messages()
    yes = links(mail)["yes"]
    anyone = app.test_client()
    anyone.post(yes, data={"csrf_token": csrf_from(anyone.get(yes).data)})

    page = laptop.get("/").get_data(as_text=True)
    section = page.split('id="security-activity"')[1].split("</section>")[0]
    assert "Unusual sign-in" in section and "New country" in section
    assert "Sign-in alert mailed to you" in section and "Linköping, SE" in section
    assert "You confirmed a sign-in was you" in section

    # an administrator signs the phone out
    admin = auth.new_client("admin")
    alice = user_id(app, "alice")
    phone_device = devices_of(app, "alice")[-1].id
    url = f"/admin/users/{alice}/devices/{phone_device}/revoke"
    admin.post(url, data={"csrf_token": page_csrf(admin, url)})
    # and alice reports it too, from My devices
    report = f"/account/devices/{phone_device}/report"
    laptop.post(report, data={"csrf_token": page_csrf(laptop, report)})

    kinds = _kinds(client, auth)
    assert kinds[:2] == ["reported", "signed_out_by_admin"]
    assert set(kinds) == {
        "reported",
        "signed_out_by_admin",
        "confirmed",
        "alert_sent",
        "flagged_sign_in",
    }
