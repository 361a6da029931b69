"""Where a decision depends on a time (the audit log, login histories), the exact time is on
the page, not only on hover: UTC text in a <time datetime> element (the browser's script puts it
in the reader's zone), with how long ago beside it."""

from __future__ import annotations

import re

from support.account_helpers import current_session_of

EXACT = re.compile(
    r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" data-local>'
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time> <small class=\"muted ago\">just now</small>"
)


def test_the_audit_log_shows_exact_utc_times_with_how_long_ago(auth):
    page = auth.new_client("admin").get("/admin/audit").get_data(as_text=True)
    assert EXACT.search(page)
    assert '<script src="/static/js/localtime.js" defer></script>' in page


def test_a_login_history_shows_exact_times(app, auth):
    alice = auth.new_client("alice")
    device_id = current_session_of(alice, app).device_id
    history = alice.get(f"/account/devices/{device_id}").get_data(as_text=True)
    assert EXACT.search(history.split('id="login-history"', 1)[1])


def test_the_local_time_script_is_served_as_a_static_file(client):
    response = client.get("/static/js/localtime.js")
    assert response.status_code == 200 and b"Intl.DateTimeFormat" in response.data
