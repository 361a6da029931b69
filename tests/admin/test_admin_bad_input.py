"""What an admin types into a search or a filter never makes a server error: control characters
(NUL...) match nothing and the page says why; dates outside the years the log can hold are
ignored and said so, and the CSV export is never cut short. PostgreSQL refuses NUL in a
pattern, where SQLite used to take ``%00`` for "everyone": run on both databases.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from support.admin_helpers import backdate_latest_event, make_user

from portal.extensions import db
from portal.models import utcnow
from portal.services.audit import record as audit


@pytest.fixture
def admin(app, auth):
    """The admin signed in, with a few users and audit events to find."""
    browser = auth.new_client("admin")
    with app.app_context():
        carol = make_user("carol", name="Carol Cruz")
        dave = make_user("dave", name="Dave Diaz")
        for i in range(6):
            audit.record(audit.Actions.VIEW_USER_DEVICES, actor=carol, target_user=dave)
            backdate_latest_event(utcnow() - timedelta(days=i))
        db.session.commit()
    return browser


def _text(response) -> str:
    assert response.status_code == 200, response.data[:500]
    return response.get_data(as_text=True)


def _csv_rows(response) -> list[dict]:
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


@pytest.mark.parametrize("q", ["%00", "car%00ol", "%01", "%7F", "a%C2%85b"])
def test_a_nul_in_the_user_search_is_not_a_server_error(admin, q):
    page = _text(admin.get(f"/admin/users?q={q}"))

    assert "No users match." in page and ">0 users" in page
    assert "has control characters" in page


def test_the_user_search_still_finds_without_control_characters(admin):
    page = _text(admin.get("/admin/users?q=carol"))
    assert ">1 user matching" in page and "has control characters" not in page


@pytest.mark.parametrize("name", ["actor", "target"])
def test_a_nul_in_an_audit_filter_is_not_a_server_error(admin, name):
    page = _text(admin.get(f"/admin/audit?{name}=%00"))

    assert "No events match." in page and "has control characters" in page
    assert _csv_rows(admin.get(f"/admin/audit.csv?{name}=car%00ol")) == []


def test_an_audit_filter_without_control_characters_still_filters(admin):
    assert len(_csv_rows(admin.get("/admin/audit.csv?actor=carol"))) == 6


@pytest.mark.parametrize(
    "dates", ["until=9999-12-31", "since=9999-12-31", "since=0001-01-01", "until=0001-01-01"]
)
def test_an_out_of_range_audit_date_is_ignored_and_said_so(admin, dates):
    page = _text(admin.get(f"/admin/audit?looks=1&actor=carol&{dates}"))

    name, _, value = dates.partition("=")
    assert f"Ignored the {name} date “{value}”" in page
    assert ">6 events" in page


def test_the_audit_csv_with_an_out_of_range_date_is_whole(admin):
    rows = _csv_rows(admin.get("/admin/audit.csv?actor=carol&until=9999-12-31&since=0001-01-01"))
    assert len(rows) == 6


def test_the_audit_log_service_takes_the_last_day_there_is(app):
    from datetime import date

    from portal.services.audit.log import AuditFilter, search_events

    with app.app_context():
        assert search_events(AuditFilter(until=date.max, since=date.min)).total >= 0


def test_a_search_page_past_the_last_shows_the_last_page(app, auth):
    viewer = auth.new_client("viewer")
    for page in ("2", "999", str(10**30)):
        answer = viewer.get(f"/admin/users?q=viewer&page={page}")
        assert answer.status_code == 200
        assert "viewer" in answer.get_data(as_text=True)
