"""The audit log: a row for every audited action, append-only, and the /admin/audit page."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from support.admin_helpers import (
    active_session_ids,
    audit_actions,
    backdate_latest_event,
    csrf_token,
    make_user,
    user_id_of,
)

from portal.extensions import db
from portal.models import AuditEvent, Device, utcnow
from portal.models.audit import AuditLogIsAppendOnly
from portal.services.audit import record as audit

# -- a row for every audited action ---------------------------------------------------------


def test_sign_in_and_sign_out_are_audited(app, auth):
    browser = auth.new_client("alice", remote_addr="81.2.69.142")
    browser.post("/logout", data={"csrf_token": csrf_token(browser)})
    sign_in, sign_out = audit_actions(app)
    alice = user_id_of(app, "alice")
    assert (sign_in.action, sign_in.actor_id, sign_in.ip_address) == (
        "sign_in",
        alice,
        "81.2.69.142",
    )
    assert sign_in.session_id and sign_in.device_id
    assert (sign_out.action, sign_out.actor_id, sign_out.session_id) == (
        "sign_out",
        alice,
        sign_in.session_id,
    )


def test_viewing_another_users_page_is_audited_but_your_own_is_not(app, auth):
    auth.new_client("bob")
    viewer = auth.new_client("viewer")
    viewer.get(
        f"/admin/users/{user_id_of(app, 'bob')}", environ_base={"REMOTE_ADDR": "89.160.20.112"}
    )
    viewer.get(f"/admin/users/{user_id_of(app, 'viewer')}")
    [event] = audit_actions(app, "view_user_devices")
    assert event.actor_id == user_id_of(app, "viewer")
    assert event.target_user_id == user_id_of(app, "bob")
    assert event.ip_address == "89.160.20.112" and event.detail == {"via": "page"}


def test_viewing_another_users_devices_through_the_api_is_audited(app, client, auth):
    auth.new_client("bob")
    client.get(f"/devices/users/{user_id_of(app, 'bob')}", headers=auth.bearer("viewer"))
    [event] = audit_actions(app, "view_user_devices")
    assert event.detail == {"via": "api"} and event.target_user_id == user_id_of(app, "bob")


def test_a_refused_look_is_not_recorded_as_a_view(app, client, auth):
    auth.new_client("bob")
    client.get(f"/devices/users/{user_id_of(app, 'bob')}", headers=auth.bearer("alice"))
    auth.new_client("alice").get(f"/admin/users/{user_id_of(app, 'bob')}")
    assert audit_actions(app, "view_user_devices") == []


def test_every_admin_revoke_is_audited_with_what_it_ended(app, client, auth):
    auth.new_client("bob")
    auth.new_client("bob")
    bob = user_id_of(app, "bob")
    first, second = active_session_ids(app, "bob")
    manager = auth.new_client("manager")
    token = csrf_token(manager)
    manager.post(f"/admin/users/{bob}/sessions/{first}/revoke", data={"csrf_token": token})
    with app.app_context():
        device_id = db.session.execute(
            select(Device.id).join(Device.sessions).where(Device.sessions.any(id=second))
        ).scalar()
    manager.post(f"/admin/users/{bob}/devices/{device_id}/revoke", data={"csrf_token": token})
    auth.new_client("bob")
    manager.post(f"/admin/users/{bob}/revoke-all", data={"csrf_token": token})
    auth.new_client("bob")
    [api_target] = active_session_ids(app, "bob")
    client.delete(f"/devices/users/{bob}/{api_target}", headers=auth.bearer("manager"))
    client.post(f"/devices/users/{bob}/revoke-all", headers=auth.bearer("manager"))

    events = [
        e
        for e in audit_actions(app)
        if e.action in ("revoke_session", "revoke_device", "revoke_all_sessions")
    ]
    assert [(e.action, e.detail.get("via")) for e in events] == [
        ("revoke_session", "page"),
        ("revoke_device", "page"),
        ("revoke_all_sessions", "page"),
        ("revoke_session", "api"),
        ("revoke_all_sessions", "api"),
    ]
    manager_id = user_id_of(app, "manager")
    assert all(e.actor_id == manager_id and e.target_user_id == bob for e in events)
    assert events[0].session_id == first and events[1].device_id == device_id
    assert events[3].session_id == api_target
    assert [e.detail["ended"] for e in events] == [1, 1, 1, 1, 0]


def test_trust_and_rename_by_the_user_are_audited(app, auth):
    browser = auth.new_client("alice")
    with app.app_context():
        device_id = db.session.execute(select(Device.id)).scalar_one()
    token = csrf_token(browser)
    browser.post(f"/account/devices/{device_id}/trust", data={"csrf_token": token, "level": "HIGH"})
    browser.post(
        f"/account/devices/{device_id}/rename", data={"csrf_token": token, "name": "Work laptop"}
    )
    [trust] = audit_actions(app, "trust_device")
    [rename] = audit_actions(app, "rename_device")
    assert trust.device_id == rename.device_id == device_id
    assert trust.actor_id == rename.actor_id == user_id_of(app, "alice")


def test_csv_exports_are_audited(app, auth):
    auth.new_client("bob")
    admin = auth.new_client("admin")
    admin.get(f"/admin/users/{user_id_of(app, 'bob')}/devices.csv")
    admin.get("/admin/audit.csv?action=sign_in")
    user_export, log_export = audit_actions(app, "export_csv")
    assert user_export.detail == {"export": "user_devices"}
    assert user_export.target_user_id == user_id_of(app, "bob")
    assert log_export.detail == {"export": "audit_log", "filters": {"action": "sign_in"}}


def test_audit_rows_cannot_be_changed_or_deleted(app, auth):
    auth.new_client("alice")
    with app.app_context():
        event = db.session.execute(select(AuditEvent)).scalar_one()
        event.action = "nothing_happened"
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.flush()
        db.session.rollback()
        db.session.delete(db.session.execute(select(AuditEvent)).scalar_one())
        with pytest.raises(AuditLogIsAppendOnly):
            db.session.flush()
        db.session.rollback()


def test_the_code_has_no_path_that_updates_or_deletes_audit_rows():
    """Only ``audit.record.record`` writes AuditEvent; no code issues UPDATE or DELETE on the
    table."""
    from pathlib import Path

    orm_write = re.compile(r"(update|delete)\(\s*AuditEvent")
    sql_write = re.compile(r"(?i)(update|delete\s+from)\s+audit_events")
    # What the patterns are for, spelled as code would.
    assert orm_write.search("db.session.execute(delete(AuditEvent).where(...))")
    assert sql_write.search('text("UPDATE audit_events SET detail = NULL")')
    root = Path(__file__).resolve().parents[2] / "portal"
    paths = sorted(root.rglob("*.py"))
    assert root / "services" / "audit" / "record.py" in paths and root / "cli.py" in paths
    for path in paths:
        text = path.read_text()
        assert not orm_write.search(text), path
        assert not sql_write.search(text), path


# -- the /admin/audit page ------------------------------------------------------------------


@pytest.fixture
def log(app, auth):
    """The admin signed in, plus 120 crafted events spread over the last 60 days."""
    admin = auth.new_client("admin")
    now = utcnow()
    with app.app_context():
        carol = make_user("carol", name="Carol Cruz")
        dave = make_user("dave", name="Dave Diaz")
        for i in range(120):
            audit.record(
                audit.Actions.REVOKE_SESSION if i % 2 else audit.Actions.VIEW_USER_DEVICES,
                actor=carol if i % 3 else dave,
                target_user=dave if i % 3 else carol,
                ip_address="10.0.0.1",
                n=i,
            )
            backdate_latest_event(now - timedelta(days=60) + timedelta(hours=12 * i))
        db.session.commit()
    return admin


def _ns(page: str) -> list[int]:
    """The crafted events' numbers, as the page's Details name them (no raw ``n=1`` since
    issue 32)."""
    return [int(n) for n in re.findall(r"<dt>N</dt><dd><code>(\d+)</code>", page)]


def test_audit_log_is_newest_first_and_paginated(log):
    first = log.get("/admin/audit?looks=1&actor=carol").data.decode()
    assert _ns(first)[:3] == [119, 118, 116] and len(_ns(first)) == 50
    assert "80 events" in first and "Page 1 of 2" in first
    second = log.get("/admin/audit?looks=1&actor=carol&page=2").data.decode()
    assert len(_ns(second)) == 30 and _ns(second)[-1] == 1


def test_audit_log_filters_by_actor_target_action_and_dates(app, log):
    assert set(_ns(log.get("/admin/audit?looks=1&actor=dave").data.decode())) == set(
        range(0, 120, 3)
    )
    by_target = _ns(log.get("/admin/audit?looks=1&target=Carol Cruz").data.decode())
    assert set(by_target) == set(range(0, 120, 3))
    dave_id = user_id_of(app, "dave")
    assert _ns(log.get(f"/admin/audit?looks=1&target={dave_id}&page=2").data.decode())
    revokes = log.get("/admin/audit?action=revoke_session&actor=carol").data.decode()
    assert set(_ns(revokes)) == {i for i in range(1, 120, 2) if i % 3}
    today = utcnow().date()
    window = f"since={today - timedelta(days=10)}&until={today - timedelta(days=6)}"
    dated = _ns(log.get(f"/admin/audit?looks=1&actor=carol&{window}").data.decode())
    assert dated and all(100 <= n <= 110 for n in dated)


def test_audit_log_ignores_a_malformed_date_and_says_so(log):
    page = log.get("/admin/audit?since=yesterday").data.decode()
    assert "Ignored the since date" in page and "events" in page


def test_audit_log_csv_export_has_the_filtered_rows(log):
    response = log.get("/admin/audit.csv?actor=dave")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="audit-log.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 40 and {r["actor"] for r in rows} == {"dave@example.test"}
    assert rows[0]["detail"] == '{"n": 117}' and rows[0]["occurred_at"].endswith("Z")
