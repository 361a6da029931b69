"""TKT admin routes under ``/devices/users/{userId}``, exactly as documented."""

from __future__ import annotations

import uuid

import pytest
from support.admin_helpers import LONDON, active_session_ids, csrf_token, user_id_of
from support.agents import IPHONE
from support.shapes import DEVICE_INFO_KEYS, ISO_Z, ROW_KEYS

NOBODY_ID = "00000000-0000-4000-8000-000000000000"


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.data[:300]
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body


@pytest.fixture
def bob(app, auth):
    """Bob signed in on his iPhone from London, and nowhere else."""
    browser = auth.new_client("bob", remote_addr=LONDON, user_agent=IPHONE)
    return {"id": user_id_of(app, "bob"), "browser": browser}


# -- GET /devices/users/{userId} ------------------------------------------------------------


def test_viewer_lists_another_users_active_sessions_as_token_rows(app, client, auth, bob):
    ended = auth.new_client("bob")
    ended.post("/logout", data={"csrf_token": csrf_token(ended)})
    response = client.get(f"/devices/users/{bob['id']}", headers=auth.bearer("viewer"))
    assert response.status_code == 200
    rows = response.get_json()
    assert isinstance(rows, list) and len(rows) == 1  # the signed-out session is not listed
    [row] = rows
    assert list(row) == ROW_KEYS and list(row["deviceInfo"]) == DEVICE_INFO_KEYS
    assert row["id"] == str(active_session_ids(app, "bob")[0])
    assert uuid.UUID(row["deviceInfo"]["deviceId"])
    assert row["deviceInfo"] == {
        **row["deviceInfo"],
        "deviceType": "mobile",
        "deviceName": "Safari on iPhone",
        "deviceModel": "iPhone",
        "osName": "iOS",
        "osVersion": "17.1",
        "ipAddress": LONDON,
        "userAgent": IPHONE,
        "lastLocation": "London, GB",
    }
    assert all(ISO_Z.match(row[k]) for k in ("lastUsedAt", "createdAt", "expiresAt"))


def test_a_user_without_sessions_is_an_empty_list(client, auth, bob):
    bob["browser"].post("/logout", data={"csrf_token": csrf_token(bob["browser"])})
    response = client.get(f"/devices/users/{bob['id']}", headers=auth.bearer("viewer"))
    assert response.status_code == 200 and response.get_json() == []


def test_get_with_a_malformed_user_id_is_400(client, auth):
    body = assert_error(
        client.get("/devices/users/not-a-uuid", headers=auth.bearer("viewer")), 400, "bad_request"
    )
    assert "user id" in body["error"]["message"].lower()


def test_get_for_an_unknown_user_is_404(client, auth):
    assert_error(
        client.get(f"/devices/users/{NOBODY_ID}", headers=auth.bearer("viewer")), 404, "not_found"
    )


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic abc"])
def test_get_without_a_valid_token_is_401(client, bob, header):
    headers = {"Authorization": header} if header else {}
    response = client.get(f"/devices/users/{bob['id']}", headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_get_with_only_a_browser_cookie_is_401(auth, bob):
    admin_browser = auth.new_client("admin")
    assert_error(admin_browser.get(f"/devices/users/{bob['id']}"), 401, "unauthorized")


def test_get_without_view_permission_is_403(client, auth, bob):
    body = assert_error(
        client.get(f"/devices/users/{bob['id']}", headers=auth.bearer("alice")), 403, "forbidden"
    )
    assert "viewUserDevices" in body["error"]["message"]


def test_get_without_devices_read_scope_is_403(client, auth, bob):
    headers = auth.bearer("viewer", scope="openid devices:write")
    assert_error(client.get(f"/devices/users/{bob['id']}", headers=headers), 403, "forbidden")


def test_permission_comes_from_the_tokens_groups_claim(client, auth, bob, app):
    # Viewer's token says "helpdesk"; take that group's permission away and the token is refused.
    app.config["GROUP_PERMISSIONS"] = {"helpdesk": []}
    assert_error(
        client.get(f"/devices/users/{bob['id']}", headers=auth.bearer("viewer")), 403, "forbidden"
    )


# -- DELETE /devices/users/{userId}/{deviceId} ----------------------------------------------


def test_manager_revokes_one_session_and_that_browser_is_signed_out(app, client, auth, bob):
    other = auth.new_client("bob")
    sid, other_sid = active_session_ids(app, "bob")
    response = client.delete(f"/devices/users/{bob['id']}/{sid}", headers=auth.bearer("manager"))
    assert response.status_code == 204 and response.data == b""
    assert active_session_ids(app, "bob") == [other_sid]
    assert b"hero-sign-in" in bob["browser"].get("/").data
    assert b"My devices" in other.get("/").data


def test_revoked_token_row_stops_working_at_once(app, client, auth, bob):
    alice_headers = auth.bearer("alice")
    assert client.get("/devices", headers=alice_headers).status_code == 200
    [token_session] = active_session_ids(app, "alice")
    alice = user_id_of(app, "alice")
    headers = auth.bearer("manager")
    assert client.delete(
        f"/devices/users/{alice}/{token_session}", headers=headers
    ).status_code == (204)
    assert client.get("/devices", headers=alice_headers).status_code == 401


def test_viewer_without_manage_gets_403_on_delete(app, client, auth, bob):
    [sid] = active_session_ids(app, "bob")
    response = client.delete(f"/devices/users/{bob['id']}/{sid}", headers=auth.bearer("viewer"))
    body = assert_error(response, 403, "forbidden")
    assert "manageUserDevices" in body["error"]["message"]
    assert active_session_ids(app, "bob") == [sid]


def test_delete_without_devices_write_scope_is_403(app, client, auth, bob):
    [sid] = active_session_ids(app, "bob")
    headers = auth.bearer("manager", scope="openid devices:read")
    assert_error(
        client.delete(f"/devices/users/{bob['id']}/{sid}", headers=headers), 403, "forbidden"
    )


def test_delete_without_a_token_is_401(app, client, bob):
    [sid] = active_session_ids(app, "bob")
    assert_error(client.delete(f"/devices/users/{bob['id']}/{sid}"), 401, "unauthorized")


def test_delete_with_a_malformed_user_id_is_400(app, client, auth, bob):
    [sid] = active_session_ids(app, "bob")
    response = client.delete(f"/devices/users/bob/{sid}", headers=auth.bearer("manager"))
    assert_error(response, 400, "bad_request")


def test_delete_for_an_unknown_user_is_404(app, client, auth, bob):
    [sid] = active_session_ids(app, "bob")
    response = client.delete(f"/devices/users/{NOBODY_ID}/{sid}", headers=auth.bearer("manager"))
    assert_error(response, 404, "not_found")
    assert active_session_ids(app, "bob") == [sid]


def test_delete_of_another_users_session_is_404(app, client, auth, bob):
    auth.new_client("alice")
    [alice_sid] = active_session_ids(app, "alice")
    response = client.delete(
        f"/devices/users/{bob['id']}/{alice_sid}", headers=auth.bearer("manager")
    )
    assert_error(response, 404, "not_found")
    assert active_session_ids(app, "alice") == [alice_sid]


def test_delete_of_an_unknown_or_already_ended_session_is_404(app, client, auth, bob):
    [sid] = active_session_ids(app, "bob")
    headers = auth.bearer("manager")
    url = f"/devices/users/{bob['id']}"
    assert_error(client.delete(f"{url}/{NOBODY_ID}", headers=headers), 404, "not_found")
    assert client.delete(f"{url}/{sid}", headers=headers).status_code == 204
    assert_error(client.delete(f"{url}/{sid}", headers=headers), 404, "not_found")


def test_delete_with_a_malformed_session_id_is_400(client, auth, bob):
    response = client.delete(f"/devices/users/{bob['id']}/xyz", headers=auth.bearer("manager"))
    assert_error(response, 400, "bad_request")


# -- POST /devices/users/{userId}/revoke-all ------------------------------------------------


def test_manager_revokes_all_of_a_users_sessions(app, client, auth, bob):
    auth.new_client("bob")
    auth.bearer("bob")  # a token: a session too, once used
    response = client.post(f"/devices/users/{bob['id']}/revoke-all", headers=auth.bearer("manager"))
    assert response.status_code == 204 and response.data == b""
    assert active_session_ids(app, "bob") == []
    assert b"hero-sign-in" in bob["browser"].get("/").data


def test_revoke_all_of_yourself_keeps_the_calling_tokens_session(app, client, auth):
    browser = auth.new_client("manager")
    manager = user_id_of(app, "manager")
    headers = auth.bearer("manager")
    response = client.post(f"/devices/users/{manager}/revoke-all", headers=headers)
    assert response.status_code == 204
    assert len(active_session_ids(app, "manager")) == 1
    assert client.get(f"/devices/users/{manager}", headers=headers).status_code == 200
    assert b"hero-sign-in" in browser.get("/").data


@pytest.mark.parametrize(
    ("login", "path", "status", "code"),
    [
        ("viewer", "{bob}", 403, "forbidden"),
        ("alice", "{bob}", 403, "forbidden"),
        ("manager", "not-a-uuid", 400, "bad_request"),
        ("manager", NOBODY_ID, 404, "not_found"),
    ],
)
def test_revoke_all_error_cases(app, client, auth, bob, login, path, status, code):
    url = "/devices/users/" + path.format(bob=bob["id"]) + "/revoke-all"
    assert_error(client.post(url, headers=auth.bearer(login)), status, code)
    assert len(active_session_ids(app, "bob")) == 1


def test_revoke_all_without_a_token_is_401(client, bob):
    assert_error(client.post(f"/devices/users/{bob['id']}/revoke-all"), 401, "unauthorized")
