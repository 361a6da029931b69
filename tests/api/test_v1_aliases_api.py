"""The TKT routes where the TKT document's own samples call them, under ``/v1``.

A client written against those samples (``https://api.tktchurch.com/v1/auth/devices/users/...``)
works with only the host changed: the same handlers, access rules and token-row error bodies
as the documented paths.
"""

from __future__ import annotations

import pytest
from support.account_helpers import audit_actions, current_session_of
from support.admin_helpers import LONDON, active_session_ids, user_id_of
from support.agents import IPHONE
from support.shapes import DEVICE_INFO_KEYS, ROW_KEYS

NOBODY_ID = "00000000-0000-4000-8000-000000000000"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.data[:300]
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body


def _signed_in(browser) -> bool:
    return b'id="devices"' in browser.get("/").data


@pytest.fixture
def phone(app, auth):
    """Alice's phone: (browser, session id)."""
    browser = auth.new_client("alice", user_agent=IPHONE, remote_addr=LONDON)
    return browser, current_session_of(browser, app).id


@pytest.fixture
def bob(app, auth):
    browser = auth.new_client("bob", user_agent=IPHONE, remote_addr=LONDON)
    return {"id": user_id_of(app, "bob"), "browser": browser}


# -- /v1/auth/devices -------------------------------------------------------------------------


def test_v1_auth_devices_lists_the_same_token_rows_as_auth_devices(client, auth, phone):
    headers = auth.bearer("alice")
    response = client.get("/v1/auth/devices", headers=headers)
    assert response.status_code == 200
    rows = response.get_json()
    assert {row["id"] for row in rows} >= {str(phone[1])}
    for row in rows:
        assert list(row) == ROW_KEYS and list(row["deviceInfo"]) == DEVICE_INFO_KEYS
    assert rows == client.get("/auth/devices", headers=headers).get_json()


def test_v1_delete_auth_device_ends_that_session(app, client, auth, phone):
    browser, session_id = phone
    response = client.delete(f"/v1/auth/devices/{session_id}", headers=auth.bearer("alice"))
    assert response.status_code == 204 and response.data == b""
    assert not _signed_in(browser)
    [event] = audit_actions(app, "revoke_session")
    assert event.session_id == session_id


def test_v1_auth_devices_revoke_all_keeps_the_callers_session(app, client, auth, phone):
    headers = auth.bearer("alice")
    assert client.post("/v1/auth/devices/revoke-all", headers=headers).status_code == 204
    assert not _signed_in(phone[0])
    assert len(client.get("/v1/auth/devices", headers=headers).get_json()) == 1


def test_v1_self_service_errors_are_token_row_errors(client, auth, bob):
    body = assert_error(
        client.delete("/v1/auth/devices/not-a-uuid", headers=auth.bearer("alice")),
        400,
        "invalid_id",
    )
    assert body["error"]["message"] == "Device id must be a UUID"
    [bobs_session] = active_session_ids(client.application, "bob")
    assert_error(
        client.delete(f"/v1/auth/devices/{bobs_session}", headers=auth.bearer("alice")),
        404,
        "not_found",
    )
    assert _signed_in(bob["browser"])
    read_only = auth.bearer("alice", scope="openid devices:read")
    assert_error(client.post("/v1/auth/devices/revoke-all", headers=read_only), 403, "forbidden")
    assert_error(client.get("/v1/auth/devices"), 401, "unauthorized")


# -- /v1/auth/devices/users/{userId} ----------------------------------------------------------


def test_v1_admin_lists_a_users_active_sessions(app, client, auth, bob):
    response = client.get(f"/v1/auth/devices/users/{bob['id']}", headers=auth.bearer("viewer"))
    assert response.status_code == 200
    [row] = response.get_json()
    assert list(row) == ROW_KEYS and row["id"] == str(active_session_ids(app, "bob")[0])
    assert len(audit_actions(app, "view_user_devices")) == 1


def test_v1_admin_revokes_one_session(app, client, auth, bob):
    [sid] = active_session_ids(app, "bob")
    response = client.delete(
        f"/v1/auth/devices/users/{bob['id']}/{sid}", headers=auth.bearer("manager")
    )
    assert response.status_code == 204 and response.data == b""
    assert active_session_ids(app, "bob") == []
    assert not _signed_in(bob["browser"])


def test_v1_admin_revokes_all_of_a_users_sessions(app, client, auth, bob):
    auth.new_client("bob")
    response = client.post(
        f"/v1/auth/devices/users/{bob['id']}/revoke-all", headers=auth.bearer("manager")
    )
    assert response.status_code == 204 and response.data == b""
    assert active_session_ids(app, "bob") == []


@pytest.mark.parametrize(
    ("login", "method", "path", "status", "code"),
    [
        ("alice", "GET", "{bob}", 403, "forbidden"),
        ("viewer", "DELETE", "{bob}/{sid}", 403, "forbidden"),
        ("viewer", "POST", "{bob}/revoke-all", 403, "forbidden"),
        (None, "GET", "{bob}", 401, "unauthorized"),
        ("viewer", "GET", "not-a-uuid", 400, "bad_request"),
        ("viewer", "GET", NOBODY_ID, 404, "not_found"),
        ("manager", "DELETE", "{bob}/xyz", 400, "bad_request"),
        ("manager", "POST", f"{NOBODY_ID}/revoke-all", 404, "not_found"),
    ],
)
def test_v1_admin_routes_keep_the_documented_rules_and_errors(
    app, client, auth, bob, login, method, path, status, code
):
    [sid] = active_session_ids(app, "bob")
    url = "/v1/auth/devices/users/" + path.format(bob=bob["id"], sid=sid)
    headers = auth.bearer(login) if login else {}
    assert_error(client.open(url, method=method, headers=headers), status, code)
    assert active_session_ids(app, "bob") == [sid]


# -- Answers before routing -------------------------------------------------------------------


def test_a_method_a_v1_path_does_not_allow_is_a_token_row_405(client, auth):
    response = client.put("/v1/auth/devices", headers=auth.bearer("alice"))
    assert_error(response, 405, "method_not_allowed")


def test_an_unknown_path_under_v1_auth_devices_is_a_token_row_404(client, auth):
    response = client.get("/v1/auth/devices/users/a/b/c", headers=auth.bearer("alice"))
    assert_error(response, 404, "not_found")
