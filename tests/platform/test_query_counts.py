"""Requests cost a fixed number of queries, however many devices and sessions a user has."""

from __future__ import annotations

from support.account_helpers import user_id
from support.queries import count_queries

from portal.extensions import db
from portal.services.sessions import opening
from portal.services.sessions.opening import ClientInfo
from portal.services.sessions.policy import SessionPolicy

UAS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
]


def _add_devices(app, email: str, count: int) -> None:
    from portal.services.users.identity import find_user_by_email

    with app.app_context():
        user = find_user_by_email(email)
        policy = SessionPolicy.from_config(app.config)
        for i in range(count):
            opening.record_sign_in(
                user,
                device_secret=None,
                client=ClientInfo(ip_address="81.2.69.142", user_agent=UAS[i % 2]),
                policy=policy,
                geoip_database=app.config["GEOIP_DATABASE"],
            )
        db.session.commit()


def _queries(app, call) -> int:
    with app.app_context():
        engine = db.engine
    with count_queries(engine) as statements:
        response = call()
        assert response.status_code == 200
    return len(statements)


def test_my_devices_page_query_count_does_not_grow_with_devices(app, auth):
    browser = auth.new_client("alice")
    _add_devices(app, "alice@example.test", 2)
    browser.get("/")  # warm: the once-a-minute activity stamp may write on the first request
    few = _queries(app, lambda: browser.get("/"))
    _add_devices(app, "alice@example.test", 25)
    many = _queries(app, lambda: browser.get("/"))
    assert many == few
    # The session with its user, device and grants in one row, then the devices, then the
    # recent security activity (one statement): no commit mid-way, so nothing is loaded twice.
    assert few == 3


def test_get_devices_query_count_does_not_grow_with_devices(app, client, auth):
    headers = auth.bearer("alice")
    client.get("/devices", headers=headers)  # first use records the token's session
    _add_devices(app, "alice@example.test", 2)
    few = _queries(app, lambda: client.get("/devices", headers=headers))
    _add_devices(app, "alice@example.test", 25)
    many = _queries(app, lambda: client.get("/devices", headers=headers))
    assert many == few
    # A token seen before: its session with user, device and grants in one row; the devices.
    assert few == 2


def test_a_users_devices_for_an_admin_cost_four_statements_however_many_sessions(app, client, auth):
    headers = auth.bearer("admin")
    auth.new_client("alice")
    target = user_id(app, "alice")
    client.get(f"/devices/users/{target}", headers=headers)  # the token's first use
    few = _queries(app, lambda: client.get(f"/devices/users/{target}", headers=headers))
    _add_devices(app, "alice@example.test", 25)
    many = _queries(app, lambda: client.get(f"/devices/users/{target}", headers=headers))
    assert many == few
    # The caller's session (with grants), the target user, their sessions with devices, and
    # the audit event of the look.
    assert few == 4


def _record_device_events(app, email: str) -> None:
    """One audit event naming each of the user's devices."""
    from sqlalchemy import select

    from portal.models import Device
    from portal.services.audit import record as audit
    from portal.services.users.identity import find_user_by_email

    with app.app_context():
        user = find_user_by_email(email)
        for device in db.session.execute(select(Device).where(Device.user_id == user.id)).scalars():
            audit.record(
                audit.Actions.RENAME_DEVICE, actor=user, target_user=user, device_id=device.id
            )
        db.session.commit()


def test_the_audit_log_names_its_devices_at_no_cost_per_event(app, auth):
    auth.new_client("alice")
    admin = auth.new_client("admin")
    admin.get("/admin/audit")  # warm
    _add_devices(app, "alice@example.test", 2)
    _record_device_events(app, "alice@example.test")
    few = _queries(app, lambda: admin.get("/admin/audit"))
    _add_devices(app, "alice@example.test", 30)
    _record_device_events(app, "alice@example.test")
    many = _queries(app, lambda: admin.get("/admin/audit"))
    assert many == few
    # The caller, the count and the page (events with their people and their devices' names).
    assert few == 3
