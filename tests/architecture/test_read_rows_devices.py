"""Pages and JSON routes read devices and sessions as plain rows (``services.device_reads``):
none of them loads a ``Device`` or ``UserSession`` model to show them. Models are for writes."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import event
from support.account_helpers import devices_of, page_csrf, sessions_of, user_id
from support.queries import count_queries

from portal.extensions import db
from portal.models import Device, UserSession
from portal.services.devices import reads
from portal.services.devices.reads import DeviceRow, SessionDevice, SessionRow
from portal.services.sessions import opening
from portal.services.sessions.opening import ClientInfo
from portal.services.sessions.policy import SessionPolicy
from portal.services.users.identity import find_user_by_email

PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)


@contextlib.contextmanager
def models_loaded():
    """The ``Device`` and ``UserSession`` models loaded while the block runs."""
    loaded: list[object] = []

    def load(target, context):
        loaded.append(target)

    for model in (Device, UserSession):
        event.listen(model, "load", load)
    try:
        yield loaded
    finally:
        for model in (Device, UserSession):
            event.remove(model, "load", load)


@pytest.fixture
def alice(app, auth):
    """Alice's browser, a second device of hers with two sessions (one of them revoked by an
    admin), and a token of hers used once."""
    browser = auth.new_client("alice")
    with app.app_context():
        user = find_user_by_email("alice@example.test")
        alice_id = user.id
        policy = SessionPolicy.from_config(app.config)
        for _ in range(2):
            opening.record_sign_in(
                user,
                device_secret="phone-secret",
                client=ClientInfo(ip_address="81.2.69.142", user_agent=PHONE),
                policy=policy,
                geoip_database=app.config["GEOIP_DATABASE"],
            )
        db.session.commit()
    headers = auth.bearer("alice")
    assert app.test_client().get("/devices", headers=headers).status_code == 200
    own, phone = devices_of(app, "alice")
    first, second = sessions_of(app, "alice", phone.id)
    admin = auth.new_client("admin")
    revoke = f"/admin/users/{alice_id}/sessions/{first.id}/revoke"
    ended = admin.post(revoke, data={"csrf_token": page_csrf(admin, revoke)})
    assert ended.status_code == 302
    return browser, headers, admin, own.id, phone.id, second.id


def _paths(alice_id, own, phone, session_id):
    browser = [
        "/",
        f"/account/devices/{own}",
        f"/account/devices/{phone}",
        f"/account/devices/{phone}/sign-out",
        f"/account/devices/{phone}/untrust",
        f"/account/devices/{phone}/remove",
        f"/account/devices/{phone}/report",
        f"/account/sessions/{session_id}/sign-out",
        "/account/sign-out-others",
        "/account/sign-out-everywhere",
    ]
    bearer = ["/devices", f"/devices/{phone}", "/sessions", "/auth/devices"]
    admin = [
        f"/admin/users/{alice_id}",
        f"/admin/users/{alice_id}/devices.csv",
        f"/admin/users/{alice_id}/sessions/{session_id}/revoke",
        f"/admin/users/{alice_id}/devices/{phone}/revoke",
    ]
    return browser, bearer, admin


def test_pages_and_routes_of_devices_and_sessions_load_no_model(app, auth, alice):
    browser, headers, admin, own, phone, session_id = alice
    alice_id = user_id(app, "alice")
    admin_headers = auth.bearer("admin")
    on_browser, on_token, on_admin = _paths(alice_id, own, phone, session_id)
    calls = [(browser.get, path, {}) for path in on_browser]
    calls += [(app.test_client().get, path, {"headers": headers}) for path in on_token]
    calls += [(admin.get, path, {}) for path in on_admin]
    calls += [(app.test_client().get, f"/devices/users/{alice_id}", {"headers": admin_headers})]
    for get, path, options in calls:
        get(path, **options)  # warm: a first use may open or stamp the caller's session
        with models_loaded() as loaded:
            response = get(path, **options)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
        assert loaded == [], path


def test_the_admin_page_reads_the_name_of_who_ended_a_session(app, alice):
    admin = alice[2]
    page = admin.get(f"/admin/users/{user_id(app, 'alice')}").get_data(as_text=True)
    assert "Revoked by an admin, " in page


def test_the_reads_hand_out_rows(app, alice):
    *_, phone, session_id = alice
    with app.app_context():
        uid = user_id(app, "alice")
        devices = reads.device_rows(uid, current_device_id=phone)
        assert len(devices) == 3 and {type(d) for d in devices} == {DeviceRow}  # and the token's
        assert devices[0].id == phone  # the current device first
        assert [s.id for s in devices[0].active] == [session_id]
        assert all(type(s) is SessionRow for d in devices for s in d.active)
        listed = reads.session_rows(uid, ended_by=True)
        assert {type(s) for s in listed} == {SessionRow}
        assert {type(s.device) for s in listed} == {SessionDevice}
        bare = reads.device_rows(uid, sessions=False)
        with pytest.raises(ValueError):  # read without its sessions: it does not say it has none
            _ = bare[0].signed_in


def test_a_device_with_its_sessions_is_one_statement(app, alice):
    browser, headers, _, _, phone, _ = alice
    with app.app_context():
        engine = db.engine
    client = app.test_client()
    for get, path, options in [
        (client.get, f"/devices/{phone}", {"headers": headers}),
        (browser.get, f"/account/devices/{phone}/remove", {}),
    ]:
        get(path, **options)
        with count_queries(engine) as statements:
            assert get(path, **options).status_code == 200
        # The caller's standing, then the device with its active sessions.
        assert len(statements) == 2, (path, statements)
