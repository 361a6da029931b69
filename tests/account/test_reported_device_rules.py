"""A device reported "This wasn't me" stays reported until its owner clears the report.

While it is reported it is offered no Trust and no second report; trusting it (page or
``POST /devices/trust``) and reporting it again are refused (409, a ``Conflict`` of the
operations) and change nothing. Clearing the report is asked first on the device's page
(GET asks, POST does, with a CSRF token), is audited (``cleared_report``), and then the device
may be trusted again.
"""

from __future__ import annotations

import pytest
from support.account_helpers import (
    audit_actions,
    current_session_of,
    device,
    page_csrf,
    sessions_of,
    user_id,
)
from support.admin_helpers import LONDON
from support.agents import IPHONE


@pytest.fixture
def reported(auth, app):
    """Alice on her desktop (``here``) reported her phone as not her."""
    here = auth.new_client("alice")
    phone = auth.new_client("alice", user_agent=IPHONE, remote_addr=LONDON)
    phone_device = current_session_of(phone, app).device_id
    url = f"/account/devices/{phone_device}/report"
    done = here.post(url, data={"csrf_token": page_csrf(here, url), "next": "/"})
    assert done.status_code == 302
    here.get("/")  # read the report's flash
    return here, phone_device


def _flashes(client, path: str = "/") -> str:
    page = client.get(path).data.decode()
    return " ".join(part.split("</div>", 1)[0] for part in page.split('role="status">')[1:])


def _card(page: str, device_id) -> str:
    return page.split(f"/account/devices/{device_id}", 1)[1].split("</article>", 1)[0]


def _trust(client, device_id, back="/"):
    return client.post(
        f"/account/devices/{device_id}/trust",
        data={"csrf_token": page_csrf(client), "level": "MEDIUM", "next": back},
    )


def _unchanged(app, device_id):
    row = device(app, device_id)
    assert row.reported_suspicious_at is not None
    assert (row.is_trusted, row.trust_level, row.trust_expires_at) == (False, "UNKNOWN", None)
    assert audit_actions(app, "trust_device") == []


# -- what the pages offer ---------------------------------------------------------------------


def test_a_reported_device_offers_no_trust_and_no_second_report(reported):
    here, phone_device = reported
    my_devices = here.get("/").data.decode()
    card = my_devices.split(f'data-device-id="{phone_device}"', 1)[1].split("</article>", 1)[0]
    assert "data-reported" in card
    assert 'data-action="trust"' not in card and 'data-action="report"' not in card
    assert 'data-action="clear-report"' not in card  # cleared on the device's own page only

    page = here.get(f"/account/devices/{phone_device}").data.decode()
    actions = page.split('class="device-actions"', 1)[1].split("</footer>", 1)[0]
    assert 'data-action="trust"' not in actions and 'data-action="report"' not in actions
    assert f'href="/account/devices/{phone_device}/clear-report?next=' in actions


# -- what the operations refuse ---------------------------------------------------------------


def test_trusting_a_reported_device_on_the_page_is_refused_and_changes_nothing(app, reported):
    here, phone_device = reported
    back = f"/account/devices/{phone_device}"
    response = _trust(here, phone_device, back)
    assert response.status_code == 302 and response.headers["Location"] == back
    assert "reported as not you, so it cannot be trusted" in _flashes(here, back)
    _unchanged(app, phone_device)


def test_trusting_a_reported_device_through_the_api_is_409(app, client, auth, reported):
    _, phone_device = reported
    response = client.post(
        "/devices/trust",
        json={"fingerprint": device(app, phone_device).fingerprint, "trustLevel": "MEDIUM"},
        headers=auth.bearer("alice"),
    )
    assert response.status_code == 409, response.data[:300]
    body = response.get_json()
    assert body["success"] is False and "cannot be trusted" in body["error"]
    _unchanged(app, phone_device)


def test_reporting_a_reported_device_again_is_refused_and_changes_nothing(app, reported):
    here, phone_device = reported
    url = f"/account/devices/{phone_device}/report"
    asked = here.get(url)
    assert asked.status_code == 302
    assert asked.headers["Location"] == f"/account/devices/{phone_device}"
    first = device(app, phone_device).reported_suspicious_at

    posted = here.post(url, data={"csrf_token": page_csrf(here), "next": "/"})

    assert posted.status_code == 302
    assert "reported as not you already" in _flashes(here)
    assert device(app, phone_device).reported_suspicious_at == first
    assert len(audit_actions(app, "reported_suspicious")) == 1


def test_clearing_a_device_that_is_not_reported_is_refused(app, auth):
    here = auth.new_client("alice")
    here_device = current_session_of(here, app).device_id
    url = f"/account/devices/{here_device}/clear-report"
    asked = here.get(url)
    assert asked.status_code == 302
    assert "no report to clear" in _flashes(here, f"/account/devices/{here_device}")
    posted = here.post(url, data={"csrf_token": page_csrf(here)})
    assert posted.status_code == 302
    assert "no report to clear" in _flashes(here)
    assert audit_actions(app, "cleared_report") == []


# -- clearing the report ----------------------------------------------------------------------


def test_clearing_asks_first_and_changes_nothing_until_confirmed(app, reported):
    here, phone_device = reported
    response = here.get(f"/account/devices/{phone_device}/clear-report")
    assert response.status_code == 200
    page = response.data.decode()
    assert "Clear the report of Safari on iPhone?" in page
    assert 'method="post"' in page and 'name="csrf_token"' in page and 'id="cancel"' in page
    assert device(app, phone_device).reported_suspicious_at is not None
    assert audit_actions(app, "cleared_report") == []


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_clearing_without_a_valid_csrf_token_is_400(app, reported, token):
    here, phone_device = reported
    response = here.post(
        f"/account/devices/{phone_device}/clear-report",
        data={"csrf_token": token} if token else {},
    )
    assert response.status_code == 400
    assert device(app, phone_device).reported_suspicious_at is not None
    assert audit_actions(app, "cleared_report") == []


def test_another_users_device_cannot_be_cleared(app, auth, reported):
    _, phone_device = reported
    bob = auth.new_client("bob")
    url = f"/account/devices/{phone_device}/clear-report"
    assert bob.get(url).status_code == 404
    assert bob.post(url, data={"csrf_token": page_csrf(bob)}).status_code == 404
    assert device(app, phone_device).reported_suspicious_at is not None


def test_clearing_the_report_is_audited_and_the_device_may_be_trusted_again(app, auth, reported):
    here, phone_device = reported
    reported_at = device(app, phone_device).reported_suspicious_at
    url = f"/account/devices/{phone_device}/clear-report"

    response = here.post(url, data={"csrf_token": page_csrf(here, url)})

    back = f"/account/devices/{phone_device}"
    assert response.status_code == 302 and response.headers["Location"] == back
    assert "The report of Safari on iPhone is cleared" in _flashes(here, back)
    assert device(app, phone_device).reported_suspicious_at is None
    # the sessions the report ended stay ended, as reported
    assert {s.end_reason for s in sessions_of(app, "alice", phone_device)} == {"reported"}
    [event] = audit_actions(app, "cleared_report")
    assert event.device_id == phone_device
    assert event.actor_id == event.target_user_id == user_id(app, "alice")
    assert event.detail == {"reported_at": reported_at.isoformat()}

    assert _trust(here, phone_device).status_code == 302
    assert device(app, phone_device).trusted_now()
    page = here.get(back).data.decode()
    assert 'data-action="report"' in page and "data-reported" not in page

    audit = auth.new_client("admin").get("/admin/audit").get_data(as_text=True)
    row = audit.split('data-action="cleared_report"', 1)[1].split("</tr>", 1)[0]
    assert "Took back a report that a device was not them" in row
    assert f"reported {reported_at:%Y-%m-%d %H:%M:%S} UTC" in row
