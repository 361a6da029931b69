"""GET /audit/events: the audit log for security tools, followed by cursor from the first event
to the last, never skipping or repeating one while new events are written."""

from __future__ import annotations

import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, update
from test_personal_tokens import bearer, make_token

from portal.extensions import db
from portal.models import AuditEvent, utcnow
from portal.services.audit_events import encode_cursor


@pytest.fixture
def app_config(app_config):
    app_config["AUDIT_EVENTS_SETTLE_SECONDS"] = 0
    return app_config


def _reader(auth, login="admin") -> dict:
    browser = auth.new_client(login)
    return bearer(make_token(browser, name="siem", scopes=("audit:read",)))


def _next(response) -> str:
    link = response.headers["Link"]
    assert link.endswith('>; rel="next"') and link.startswith("<")
    url = urlsplit(link[1 : link.index(">")])
    return f"{url.path}?{url.query}"


def follow(client, headers, first="/audit/events?limit=2") -> list[dict]:
    """Every event from the first page's to the last, following Link headers."""
    seen, url = [], first
    while True:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        url = _next(response)
        if not page:
            return seen
        seen.extend(page)


def _all_ids(app) -> list[int]:
    with app.app_context():
        return list(db.session.execute(select(AuditEvent.id).order_by(AuditEvent.id)).scalars())


def test_a_script_follows_cursors_from_the_first_event_to_the_last(app, client, auth):
    headers = _reader(auth)
    auth.new_client("alice")
    auth.new_client("bob")
    events = follow(client, headers)
    assert [e["id"] for e in events] == _all_ids(app)
    sign_in = next(e for e in events if e["action"] == "sign_in")
    assert set(sign_in) == {
        "id",
        "time",
        "action",
        "actor",
        "target",
        "device",
        "session",
        "ip",
        "location",
        "via",
        "details",
    }
    assert sign_in["via"] == "page" and sign_in["actor"]["email"].endswith("@example.test")
    created = next(e for e in events if e["action"] == "personal_token_created")
    assert created["details"]["scopes"] == ["audit:read"] and created["via"] == "page"
    used = next(e for e in events if e["action"] == "personal_token_new_address")
    assert used["via"] == "api"
    # Reading the stream is not itself audited: following it again ends at the same event.
    assert [e["id"] for e in follow(client, headers)] == [e["id"] for e in events]


def test_new_events_come_after_the_last_cursor(app, client, auth):
    headers = _reader(auth)
    client.get("/audit/events", headers=headers)  # its first use (from a new address) audited
    first = client.get("/audit/events?limit=1000", headers=headers)
    resume = _next(first)
    auth.new_client("alice")
    later = client.get(resume, headers=headers).get_json()
    assert [e["action"] for e in later] == ["sign_in"]
    assert later[0]["id"] > max(e["id"] for e in first.get_json())


def test_since_chooses_the_first_page(app, client, auth):
    headers = _reader(auth)
    since = (utcnow() + timedelta(seconds=-1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    auth.new_client("alice")
    page = client.get(f"/audit/events?since={since}", headers=headers)
    assert page.status_code == 200
    assert "sign_in" in [e["action"] for e in page.get_json()]
    future = client.get("/audit/events?since=2999-01-01T00:00:00Z", headers=headers)
    assert future.get_json() == []
    assert parse_qs(urlsplit(_next(future)).query)["since"] == ["2999-01-01T00:00:00Z"]


def test_unsettled_events_wait_and_a_page_stops_at_the_first_of_them(app, client, auth):
    """An event younger than the settle window is not handed out yet, and neither is any
    event after it: a transaction that took a smaller id may still commit."""
    headers = _reader(auth)
    ids = _all_ids(app)
    app.config["AUDIT_EVENTS_SETTLE_SECONDS"] = 60
    with app.app_context():
        db.session.execute(
            update(AuditEvent)
            .where(AuditEvent.id != ids[1])
            .values(occurred_at=utcnow() - timedelta(minutes=5))
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    page = client.get("/audit/events", headers=headers)
    assert [e["id"] for e in page.get_json()] == [ids[0]]
    with app.app_context():
        db.session.execute(
            update(AuditEvent)
            .where(AuditEvent.id == ids[1])
            .values(occurred_at=utcnow() - timedelta(minutes=5))
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    rest = client.get(_next(page), headers=headers).get_json()
    assert [e["id"] for e in rest] == ids[1:]


def test_events_written_while_a_reader_follows_are_each_read_once(app, client, auth):
    headers = _reader(auth)
    writers_done = threading.Event()

    def write():
        for _ in range(6):
            auth.new_client("alice")
        writers_done.set()

    thread = threading.Thread(target=write)
    thread.start()
    seen, url = [], "/audit/events?limit=3"
    while True:
        finished = writers_done.is_set()
        response = client.get(url, headers=headers)
        page = response.get_json()
        url = _next(response)
        seen.extend(e["id"] for e in page)
        if finished and not page:
            break
    thread.join()
    assert seen == _all_ids(app)  # every one, once, in order


def test_the_stream_needs_view_audit_log_and_the_audit_read_scope(app, client, auth):
    # No viewAuditLog: alice cannot even put audit:read on a token; her devices token is 403.
    alice = bearer(make_token(auth.new_client("alice"), scopes=("devices:read",)))
    refused = client.get("/audit/events", headers=alice)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    admin_devices_only = bearer(make_token(auth.new_client("admin"), scopes=("devices:read",)))
    assert client.get("/audit/events", headers=admin_devices_only).status_code == 403
    assert client.get("/audit/events", headers=auth.bearer("admin")).status_code == 403
    missing = client.get("/audit/events")
    assert missing.status_code == 401 and "error" in missing.get_json()


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=1001",
        "limit=ten",
        "since=yesterday",
        "since=99999-01-01T00:00:00Z",
        "cursor=not-a-cursor",
        "cursor=" + encode_cursor(1) + "!",
        "cursor=",
        "cursor=C1",
    ],
)
def test_bad_parameters_answer_400_in_the_token_row_shape(app, client, auth, query):
    headers = _reader(auth)
    response = client.get(f"/audit/events?{query}", headers=headers)
    assert response.status_code == 400
    assert set(response.get_json()["error"]) == {"code", "message"}


def test_a_405_on_the_stream_is_in_its_shape(client):
    response = client.post("/audit/events")
    assert response.status_code == 405 and response.headers["Allow"]
    assert set(response.get_json()["error"]) == {"code", "message"}
