"""Flashback device-session-management routes: a user acts on their own devices and sessions.

Success and error bodies exactly as documented; another user's id is "not found", like an id
that does not exist.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from support.account_helpers import audit_actions, current_session_of, device, sessions_of
from support.agents import IPHONE
from support.queries import count_queries
from support.shapes import DEVICE_KEYS, ISO_Z, SESSION_KEYS

from portal.extensions import db
from portal.models import UserSession, utcnow
from portal.services.sessions.policy import HEARTBEAT_STEP_SHARE

MISSING = "00000000-0000-0000-0000-000000000000"


def _parse(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _error(response, status: int, message: str) -> None:
    assert response.status_code == status, response.data[:300]
    assert response.get_json() == {"success": False, "error": message}


@pytest.fixture
def phone(app, auth):
    """Alice's phone, signed in through the real IdP: (browser client, device id, session id)."""
    browser = auth.new_client("alice", user_agent=IPHONE, remote_addr="81.2.69.142")
    row = current_session_of(browser, app)
    return browser, row.device_id, row.id


@pytest.fixture
def bobs_phone(app, auth):
    browser = auth.new_client("bob", user_agent=IPHONE)
    row = current_session_of(browser, app)
    return browser, row.device_id, row.id


def _signed_in(browser) -> bool:
    return b'id="devices"' in browser.get("/").data


# -- GET /devices/{id} ------------------------------------------------------------------------


def test_get_device_returns_its_details_and_its_active_session(app, client, auth, phone):
    _, device_id, session_id = phone
    response = client.get(f"/devices/{device_id}", headers=auth.bearer("alice"))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"success", "device"} and body["success"] is True
    detail = body["device"]
    assert set(detail) == DEVICE_KEYS | {"userAgent", "deviceFingerprint", "sessions"}
    assert detail["id"] == str(device_id)
    assert detail["userAgent"] == IPHONE
    assert re.fullmatch(r"[0-9a-f]{64}", detail["deviceFingerprint"])
    [session] = detail["sessions"]
    assert set(session) == SESSION_KEYS | {"loginMethod"}
    assert session["id"] == str(session_id)
    assert session["ipAddress"] == "81.2.69.142" and session["location"] == "London, GB"
    assert session["loginMethod"] == "oidc"
    for key in ("startedAt", "lastActivity", "expiresAt"):
        assert ISO_Z.match(session[key])


def _detail_session_ids(client, auth, device_id) -> list[str]:
    body = client.get(f"/devices/{device_id}", headers=auth.bearer("alice")).get_json()
    return [s["id"] for s in body["device"]["sessions"]]


def test_get_device_lists_only_its_active_sessions(app, client, auth, phone):
    """The documents: the device "including its active sessions"; the history is on the pages."""
    _, device_id, session_id = phone
    assert _detail_session_ids(client, auth, device_id) == [str(session_id)]

    _set_times(app, session_id, expires_at=utcnow() - timedelta(seconds=1))
    assert _detail_session_ids(client, auth, device_id) == []

    _set_times(app, session_id, expires_at=utcnow() + timedelta(hours=1))
    assert _detail_session_ids(client, auth, device_id) == [str(session_id)]
    client.post(f"/devices/{device_id}/untrust", headers=auth.bearer("alice"))
    assert _detail_session_ids(client, auth, device_id) == []


def test_the_device_page_still_shows_ended_sessions_in_its_login_history(app, client, auth, phone):
    _, device_id, session_id = phone
    page = auth.new_client("alice")
    client.post(f"/sessions/{session_id}/revoke", headers=auth.bearer("alice"))
    assert _detail_session_ids(client, auth, device_id) == []
    history = page.get(f"/account/devices/{device_id}")
    assert history.status_code == 200
    row = history.data.split(f'data-session-id="{session_id}"'.encode())[1].split(b"</tr>")[0]
    assert b"Revoked by you" in row


@pytest.mark.parametrize("which", ["another user's", "missing", "malformed", "removed"])
def test_get_device_that_is_not_the_callers_is_404(app, client, auth, phone, bobs_phone, which):
    device_id = {
        "another user's": bobs_phone[1],
        "missing": MISSING,
        "malformed": "not-a-uuid",
        "removed": phone[1],
    }[which]
    headers = auth.bearer("alice")
    if which == "removed":
        assert client.delete(f"/devices/{device_id}", headers=headers).status_code == 200
    _error(client.get(f"/devices/{device_id}", headers=headers), 404, "Device not found")


# -- POST /devices/trust ----------------------------------------------------------------------


def test_trust_device_by_fingerprint(app, client, auth, phone):
    _, device_id, _ = phone
    fingerprint = device(app, device_id).fingerprint
    before = utcnow().replace(microsecond=0)
    response = client.post(
        "/devices/trust", json={"fingerprint": fingerprint}, headers=auth.bearer("alice")
    )
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"success", "message", "trustExpiresAt"}
    assert body["success"] is True and body["message"] == "Device trusted successfully"
    days = app.config["DEVICE_TRUST_DAYS"]
    expires = _parse(body["trustExpiresAt"])
    assert before + timedelta(days=days) <= expires <= utcnow() + timedelta(days=days)

    row = device(app, device_id)
    assert row.trusted_now() and row.trust_level == "HIGH"
    listed = client.get(f"/devices/{device_id}", headers=auth.bearer("alice")).get_json()
    assert listed["device"]["isTrusted"] is True
    assert listed["device"]["trustExpiresAt"] == body["trustExpiresAt"]
    [event] = audit_actions(app, "trust_device")
    assert event.device_id == device_id and event.detail["trust_level"] == "HIGH"


def test_trust_device_at_a_chosen_level(app, client, auth, phone):
    fingerprint = device(app, phone[1]).fingerprint
    response = client.post(
        "/devices/trust",
        json={"fingerprint": fingerprint, "trustLevel": "LOW"},
        headers=auth.bearer("alice"),
    )
    assert response.status_code == 200
    assert device(app, phone[1]).trust_level == "LOW"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "fingerprint is required"),
        ({"fingerprint": ""}, "fingerprint is required"),
        ({"fingerprint": None}, "fingerprint is required"),
        (
            {"fingerprint": "abc"},
            "fingerprint must be a SHA-256 hex digest (64 hex characters)",
        ),
        (
            {"fingerprint": 12345},
            "fingerprint must be a SHA-256 hex digest (64 hex characters)",
        ),
        (
            {"fingerprint": "g" * 64},
            "fingerprint must be a SHA-256 hex digest (64 hex characters)",
        ),
        (
            {"fingerprint": "a" * 64, "trustLevel": "ULTRA"},
            "trustLevel must be one of HIGH, MEDIUM, LOW",
        ),
        (["a" * 64], "Request body must be a JSON object"),
        ("a" * 64, "Request body must be a JSON object"),
    ],
)
def test_trust_device_with_a_missing_or_malformed_body_is_400(app, client, auth, body, message):
    _error(client.post("/devices/trust", json=body, headers=auth.bearer("alice")), 400, message)
    assert audit_actions(app, "trust_device") == []


def test_trust_device_with_a_body_that_is_not_json_is_400(client, auth):
    response = client.post(
        "/devices/trust",
        data="fingerprint=abc",
        content_type="application/x-www-form-urlencoded",
        headers=auth.bearer("alice"),
    )
    _error(response, 400, "Request body must be a JSON object")
    response = client.post(
        "/devices/trust", data="{not json", content_type="application/json", headers=auth.bearer()
    )
    _error(response, 400, "Request body must be a JSON object")


def test_trust_another_users_device_by_its_fingerprint_is_404(app, client, auth, bobs_phone):
    fingerprint = device(app, bobs_phone[1]).fingerprint
    response = client.post(
        "/devices/trust", json={"fingerprint": fingerprint}, headers=auth.bearer("alice")
    )
    _error(response, 404, "Device not found")
    assert not device(app, bobs_phone[1]).is_trusted


def test_trust_needs_the_devices_write_scope(app, client, auth, phone):
    fingerprint = device(app, phone[1]).fingerprint
    read_only = auth.bearer("alice", scope="openid devices:read")
    response = client.post("/devices/trust", json={"fingerprint": fingerprint}, headers=read_only)
    _error(response, 403, "The access token lacks the devices:write scope")
    assert not device(app, phone[1]).is_trusted


# -- POST /devices/{id}/untrust ---------------------------------------------------------------


def test_untrust_device_drops_trust_and_revokes_its_sessions(app, client, auth, phone):
    browser, device_id, _ = phone
    headers = auth.bearer("alice")
    fingerprint = device(app, device_id).fingerprint
    client.post("/devices/trust", json={"fingerprint": fingerprint}, headers=headers)

    response = client.post(f"/devices/{device_id}/untrust", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "message": "Device untrusted successfully"}
    row = device(app, device_id)
    assert (row.is_trusted, row.trust_level, row.trust_expires_at) == (False, "UNKNOWN", None)
    assert not _signed_in(browser)
    assert [e.action for e in audit_actions(app)][-2:] == ["trust_device", "untrust_device"]


def test_untrust_another_users_device_is_404(app, client, auth, bobs_phone):
    browser, device_id, _ = bobs_phone
    response = client.post(f"/devices/{device_id}/untrust", headers=auth.bearer("alice"))
    _error(response, 404, "Device not found")
    assert _signed_in(browser)


# -- DELETE /devices/{id} ---------------------------------------------------------------------


def test_remove_device_revokes_its_sessions_and_keeps_the_rows(app, client, auth, phone):
    browser, device_id, session_id = phone
    headers = auth.bearer("alice")
    response = client.delete(f"/devices/{device_id}", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "message": "Device removed successfully"}

    assert not _signed_in(browser)
    row = device(app, device_id)
    assert row is not None and row.removed_at is not None
    [session] = sessions_of(app, "alice", device_id)
    assert session.id == session_id and session.end_reason == "device_removed"
    listed = client.get("/devices", headers=headers).get_json()["devices"]
    assert str(device_id) not in {d["id"] for d in listed}
    _error(client.delete(f"/devices/{device_id}", headers=headers), 404, "Device not found")
    assert len(audit_actions(app, "remove_device")) == 1


def test_remove_another_users_device_is_404(app, client, auth, bobs_phone):
    browser, device_id, _ = bobs_phone
    _error(
        client.delete(f"/devices/{device_id}", headers=auth.bearer("alice")),
        404,
        "Device not found",
    )
    assert device(app, device_id).removed_at is None and _signed_in(browser)


# -- GET /sessions ----------------------------------------------------------------------------


def test_list_sessions_shows_the_callers_active_sessions(app, client, auth, phone, bobs_phone):
    session_id = phone[2]
    ended = auth.new_client("alice")
    client.post(
        f"/sessions/{current_session_of(ended, app).id}/revoke", headers=auth.bearer("alice")
    )
    headers = auth.bearer("alice")
    response = client.get("/sessions", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"success", "sessions"} and body["success"] is True
    for row in body["sessions"]:
        assert set(row) == {"id", "deviceName", *SESSION_KEYS, "loginMethod"}
    by_id = {row["id"]: row for row in body["sessions"]}
    # The phone and the two tokens' sessions; not the revoked browser, not Bob's phone.
    assert str(session_id) in by_id and len(by_id) == 3
    assert by_id[str(session_id)]["deviceName"] == "Safari on iPhone"
    assert str(bobs_phone[2]) not in by_id
    assert {row["loginMethod"] for row in by_id.values()} == {"oidc", "bearer"}


# -- POST /sessions/{id}/revoke ---------------------------------------------------------------


def test_revoke_session_signs_that_browser_out(app, client, auth, phone):
    browser, _, session_id = phone
    response = client.post(f"/sessions/{session_id}/revoke", headers=auth.bearer("alice"))
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "message": "Session revoked successfully"}
    assert not _signed_in(browser)
    [row] = [s for s in sessions_of(app, "alice") if s.id == session_id]
    assert row.end_reason == "revoked"
    [event] = audit_actions(app, "revoke_session")
    assert event.session_id == session_id


def test_revoking_the_tokens_own_session_makes_the_token_401(app, client, auth):
    headers = auth.bearer("alice")
    [own] = client.get("/sessions", headers=headers).get_json()["sessions"]
    assert client.post(f"/sessions/{own['id']}/revoke", headers=headers).status_code == 200
    assert client.get("/sessions", headers=headers).status_code == 401


@pytest.mark.parametrize("which", ["another user's", "missing", "malformed", "already ended"])
def test_revoke_session_that_is_not_the_callers_is_404(app, client, auth, phone, bobs_phone, which):
    headers = auth.bearer("alice")
    if which == "already ended":
        client.post(f"/sessions/{phone[2]}/revoke", headers=headers)
    session_id = {
        "another user's": bobs_phone[2],
        "missing": MISSING,
        "malformed": "x",
        "already ended": phone[2],
    }[which]
    _error(client.post(f"/sessions/{session_id}/revoke", headers=headers), 404, "Session not found")
    assert _signed_in(bobs_phone[0])


# -- POST /sessions/revoke-all ----------------------------------------------------------------


def test_revoke_all_sessions_includes_the_callers_own(app, client, auth, phone, bobs_phone):
    headers = auth.bearer("alice")
    response = client.post("/sessions/revoke-all", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {"success": True, "message": "All sessions revoked successfully"}
    assert not _signed_in(phone[0])
    assert client.get("/sessions", headers=headers).status_code == 401
    assert all(s.ended_at is not None for s in sessions_of(app, "alice"))
    assert _signed_in(bobs_phone[0])
    [event] = audit_actions(app, "revoke_all_sessions")
    assert event.detail == {"sessions_ended": 2, "kept_current": False}


# -- POST /sessions/{id}/heartbeat ------------------------------------------------------------


def _set_times(app, session_id, **times) -> None:
    with app.app_context():
        row = db.session.get(UserSession, session_id)
        for key, value in times.items():
            setattr(row, key, value)
        db.session.commit()


def test_heartbeat_answers_session_updated_successfully_and_slides_the_expiry(
    app, client, auth, phone
):
    _, _, session_id = phone
    now = utcnow()
    _set_times(app, session_id, expires_at=now + timedelta(minutes=5))
    response = client.post(f"/sessions/{session_id}/heartbeat", headers=auth.bearer("alice"))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"success", "message", "newExpiry"} and body["success"] is True
    assert body["message"] == "Session updated successfully"
    lifetime = timedelta(seconds=app.config["SESSION_LIFETIME"])
    new_expiry = _parse(body["newExpiry"])
    assert now.replace(microsecond=0) + lifetime <= new_expiry <= utcnow() + lifetime
    [row] = [s for s in sessions_of(app, "alice") if s.id == session_id]
    assert abs(row.expires_at - new_expiry) < timedelta(seconds=1)
    assert len(audit_actions(app, "extend_session")) == 1


def test_a_heartbeat_that_would_move_the_expiry_by_less_than_a_step_writes_nothing(
    app, client, auth, phone
):
    """A client beating every minute: the first beat slides the expiry, the next ones read
    the session, answer the same expiry and write nothing (no UPDATE, no INSERT, no lock, no
    audit event) until the expiry may move by a step again."""
    _, _, session_id = phone
    headers = auth.bearer("alice")
    assert client.get("/devices", headers=headers).status_code == 200  # the token's first use
    _set_times(app, session_id, expires_at=utcnow() + timedelta(minutes=5))
    first = client.post(f"/sessions/{session_id}/heartbeat", headers=headers).get_json()
    with app.app_context(), count_queries(db.engine) as statements:
        again = client.post(f"/sessions/{session_id}/heartbeat", headers=headers)
    assert again.status_code == 200 and again.get_json()["newExpiry"] == first["newExpiry"]
    writes = [s for s in statements if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]
    assert statements and writes == [] and not any("FOR UPDATE" in s for s in statements)
    assert len(statements) == 2, statements  # the caller, and the session's expiries
    assert len(audit_actions(app, "extend_session")) == 1

    step = timedelta(seconds=app.config["SESSION_LIFETIME"]) * HEARTBEAT_STEP_SHARE
    _set_times(app, session_id, expires_at=_parse(first["newExpiry"]) - step)
    later = client.post(f"/sessions/{session_id}/heartbeat", headers=headers).get_json()
    assert _parse(later["newExpiry"]) > _parse(first["newExpiry"]) - step
    assert len(audit_actions(app, "extend_session")) == 2


def test_heartbeat_never_extends_past_the_absolute_cap(app, client, auth, phone):
    _, _, session_id = phone
    cap = (utcnow() + timedelta(minutes=30)).replace(microsecond=0)
    _set_times(app, session_id, expires_at=utcnow() + timedelta(minutes=5), absolute_expires_at=cap)
    body = client.post(f"/sessions/{session_id}/heartbeat", headers=auth.bearer("alice")).get_json()
    assert _parse(body["newExpiry"]) == cap


@pytest.mark.parametrize("which", ["expired", "ended", "another user's", "missing"])
def test_heartbeat_on_a_session_that_is_not_active_and_mine_is_404(
    app, client, auth, phone, bobs_phone, which
):
    session_id = bobs_phone[2] if which == "another user's" else phone[2]
    if which == "missing":
        session_id = uuid.UUID(MISSING)
    if which == "expired":
        _set_times(app, session_id, expires_at=utcnow() - timedelta(seconds=1))
    if which == "ended":
        _set_times(app, session_id, ended_at=utcnow(), end_reason="signed_out")
    response = client.post(f"/sessions/{session_id}/heartbeat", headers=auth.bearer("alice"))
    _error(response, 404, "Session not found or expired")
    assert audit_actions(app, "extend_session") == []


# -- Unexpected failures ----------------------------------------------------------------------


def _database_fails(*args, **kwargs):
    # A failure of the request (an outage, such as a locked database, answers 503 instead:
    # tests/platform/test_outages.py).
    raise IntegrityError("UPDATE sessions ...", {}, Exception("CHECK constraint failed"))


def test_get_device_failure_answers_failed_to_retrieve_device_details(
    client, auth, phone, monkeypatch
):
    from portal.services.devices import reads

    headers = auth.bearer("alice")
    monkeypatch.setattr(reads, "device_row", _database_fails)
    response = client.get(f"/devices/{phone[1]}", headers=headers)
    _error(response, 500, "Failed to retrieve device details")


def test_revoke_all_failure_answers_failed_to_revoke_all_sessions_and_ends_nothing(
    app, client, auth, phone, monkeypatch
):
    from portal.services.sessions import ending

    headers = auth.bearer("alice")
    monkeypatch.setattr(ending, "end_sessions", _database_fails)
    response = client.post("/sessions/revoke-all", headers=headers)
    _error(response, 500, "Failed to revoke all sessions")
    assert _signed_in(phone[0])
    assert client.get("/sessions", headers=headers).status_code == 200
    assert audit_actions(app, "revoke_all_sessions") == []


def test_heartbeat_failure_answers_failed_to_update_session(app, client, auth, phone, monkeypatch):
    from portal.services.sessions import policy

    _, _, session_id = phone
    _set_times(app, session_id, expires_at=utcnow() + timedelta(minutes=5))
    monkeypatch.setattr(policy, "extend_session", _database_fails)
    response = client.post(f"/sessions/{session_id}/heartbeat", headers=auth.bearer("alice"))
    _error(response, 500, "Failed to update session")
    [row] = [s for s in sessions_of(app, "alice") if s.id == session_id]
    assert row.expires_at < utcnow() + timedelta(minutes=6)
    assert audit_actions(app, "extend_session") == []
