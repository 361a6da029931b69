"""TKT auth/devices routes: the caller's own sessions as token rows; end one, or all but this.

Errors are ``{"error": {"code", "message"}}``; another user's session is "not found".
"""

from __future__ import annotations

import pytest
from support.account_helpers import audit_actions, current_session_of, sessions_of
from support.agents import IPHONE
from support.shapes import DEVICE_INFO_KEYS, ROW_KEYS


@pytest.fixture
def phone(app, auth):
    browser = auth.new_client("alice", user_agent=IPHONE, remote_addr="81.2.69.142")
    row = current_session_of(browser, app)
    return browser, row.device_id, row.id


@pytest.fixture
def bobs_phone(app, auth):
    browser = auth.new_client("bob", user_agent=IPHONE)
    return browser, current_session_of(browser, app).id


def _signed_in(browser) -> bool:
    return b'id="devices"' in browser.get("/").data


def test_list_my_devices_returns_my_active_sessions_as_token_rows(client, auth, phone, bobs_phone):
    _, device_id, session_id = phone
    response = client.get("/auth/devices", headers=auth.bearer("alice"))
    assert response.status_code == 200
    rows = response.get_json()
    assert isinstance(rows, list) and len(rows) == 2  # the phone and this token
    for row in rows:
        assert list(row) == ROW_KEYS and list(row["deviceInfo"]) == DEVICE_INFO_KEYS
    by_id = {row["id"]: row for row in rows}
    assert str(bobs_phone[1]) not in by_id
    info = by_id[str(session_id)]["deviceInfo"]
    assert info == {
        **info,
        "deviceId": str(device_id),
        "deviceType": "mobile",
        "deviceName": "Safari on iPhone",
        "osName": "iOS",
        "ipAddress": "81.2.69.142",
        "lastLocation": "London, GB",
        "userAgent": IPHONE,
    }


def test_revoke_my_device_ends_that_session_and_signs_the_browser_out(app, client, auth, phone):
    browser, _, session_id = phone
    response = client.delete(f"/auth/devices/{session_id}", headers=auth.bearer("alice"))
    assert response.status_code == 204 and response.data == b""
    assert not _signed_in(browser)
    [row] = [s for s in sessions_of(app, "alice") if s.id == session_id]
    assert row.end_reason == "revoked"
    [event] = audit_actions(app, "revoke_session")
    assert event.session_id == session_id


def test_revoke_my_device_with_a_malformed_id_is_400(client, auth):
    response = client.delete("/auth/devices/not-a-uuid", headers=auth.bearer("alice"))
    assert response.status_code == 400
    assert response.get_json() == {
        "error": {"code": "invalid_id", "message": "Device id must be a UUID"}
    }


def test_revoke_a_session_of_another_user_is_404(app, client, auth, bobs_phone):
    browser, session_id = bobs_phone
    response = client.delete(f"/auth/devices/{session_id}", headers=auth.bearer("alice"))
    assert response.status_code == 404
    assert response.get_json() == {"error": {"code": "not_found", "message": "Device not found"}}
    assert _signed_in(browser)
    assert audit_actions(app, "revoke_session") == []


def test_revoke_a_session_that_does_not_exist_is_404(client, auth):
    response = client.delete(
        "/auth/devices/00000000-0000-0000-0000-000000000000", headers=auth.bearer("alice")
    )
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_revoke_all_my_devices_keeps_the_callers_session(app, client, auth, phone, bobs_phone):
    headers = auth.bearer("alice")
    response = client.post("/auth/devices/revoke-all", headers=headers)
    assert response.status_code == 204 and response.data == b""
    assert not _signed_in(phone[0])
    rows = client.get("/auth/devices", headers=headers).get_json()
    assert len(rows) == 1  # only this token's own session is left
    assert _signed_in(bobs_phone[0])
    [event] = audit_actions(app, "revoke_all_sessions")
    assert event.detail == {"sessions_ended": 1, "kept_current": True}


def test_token_row_routes_need_their_scopes(client, auth, phone):
    read_only = auth.bearer("alice", scope="openid devices:read")
    response = client.post("/auth/devices/revoke-all", headers=read_only)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert _signed_in(phone[0])
    assert client.get("/auth/devices").status_code == 401
