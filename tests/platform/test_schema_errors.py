"""A half-applied deployment (a table or column missing) is a fault, not an outage: the JSON
routes answer their documented 500, pages the friendly error page, and /readyz names what is
missing. Only a temporary failure (the database locked or gone) answers 503 with Retry-After,
which ``test_outages.py`` shows."""

from __future__ import annotations

import logging
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

from portal.api.errors import DEFAULT_FAILURE


@contextmanager
def renamed(database_url: str, statement: str, undo: str):
    """Change the schema under the running app for the test's length, then put it back."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(statement))
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(text(undo))
        engine.dispose()


MISSING = {
    "table devices": (
        "ALTER TABLE devices RENAME TO devices_gone",
        "ALTER TABLE devices_gone RENAME TO devices",
    ),
    "table sessions": (
        "ALTER TABLE sessions RENAME TO sessions_gone",
        "ALTER TABLE sessions_gone RENAME TO sessions",
    ),
    "column devices.name": (
        "ALTER TABLE devices RENAME COLUMN name TO name_gone",
        "ALTER TABLE devices RENAME COLUMN name_gone TO name",
    ),
}


@pytest.mark.parametrize("missing", list(MISSING))
def test_json_routes_answer_their_documented_500_and_log_it_with_the_request_id(
    app, client, database_url, signed_in, caplog, missing
):
    _, headers = signed_in
    with renamed(database_url, *MISSING[missing]):
        caplog.clear()
        envelope = client.get("/devices", headers={**headers, "X-Request-Id": "req-env-1"})
        rows = client.get("/auth/devices", headers={**headers, "X-Request-Id": "req-row-1"})

    # (Retry-After here is the rate limiter's window, sent on every limited answer.)
    assert envelope.status_code == 500
    body = envelope.get_json()
    assert body["success"] is False and body["error"] != DEFAULT_FAILURE
    assert "try again" not in body["error"]
    assert rows.status_code == 500
    assert rows.get_json()["error"]["code"] == "internal_error"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert {"req-env-1", "req-row-1"} <= {r.getMessage().rsplit(" ", 1)[-1][:-1] for r in errors}
    assert all(r.exc_info for r in errors)  # the stack trace is in the log, not the answer
    assert client.get("/devices", headers=headers).status_code == 200  # back once it is there


@pytest.mark.parametrize("missing", list(MISSING))
def test_pages_answer_the_friendly_500_page_without_touching_the_database(
    app, database_url, signed_in, missing
):
    browser, _ = signed_in
    with renamed(database_url, *MISSING[missing]):
        page = browser.get("/")

    assert page.status_code == 500 and "Retry-After" not in page.headers
    assert b"Something went wrong" in page.data and b"Traceback" not in page.data
    if missing == "table sessions":  # who is signed in cannot be read: the page leaves it out
        assert b'id="sign-out"' not in page.data
    assert b'id="devices"' in browser.get("/").data


@pytest.mark.parametrize("missing", list(MISSING))
def test_readyz_names_what_the_schema_lacks(client, database_url, missing):
    assert client.get("/readyz").get_json() == {"status": "ready"}
    with renamed(database_url, *MISSING[missing]):
        answer = client.get("/readyz")

    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert answer.get_json() == {
        "status": "unavailable",
        "reason": f"the database schema lacks {missing}",
    }
    assert client.get("/readyz").status_code == 200
