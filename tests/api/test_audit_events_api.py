"""GET /audit/events: the audit log for security tools, followed by cursor from the first event
to the last, never skipping or repeating one while new events are written, each handed out
as soon as its transaction has committed."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from support.account_helpers import bearer, make_token

from portal.extensions import db
from portal.models import AuditEvent, utcnow
from portal.services.audit import record as audit
from portal.services.audit.feed import encode_cursor

# A reader that has not reached the end by then never will: fail, naming the loop.
MAX_PAGES = 500


@pytest.fixture
def app_config(app_config):
    """Writers here queue for SQLite's write lock longer than a request would, and readers
    poll faster than the API's limit allows a client."""
    app_config["DATABASE_LOCK_TIMEOUT"] = 30
    app_config["RATELIMIT_API"] = "100000 per minute"
    return app_config


class Writers:
    """Threads that write audit events; an error in any of them fails the test."""

    def __init__(self):
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def start(self, target, *args) -> threading.Thread:
        def run():
            try:
                target(*args)
            except BaseException as exc:
                self.errors.append(exc)

        thread = threading.Thread(target=run)
        self.threads.append(thread)
        thread.start()
        return thread

    def alive(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(60)
        assert not self.alive() and self.errors == []


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
    for _ in range(MAX_PAGES):
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        url = _next(response)
        if not page:
            return seen
        seen.extend(page)
    raise AssertionError(f"no end after {MAX_PAGES} pages")


def _end(client, headers) -> str:
    """The URL a poller that has read everything asks next."""
    url = "/audit/events?limit=1000"
    for _ in range(MAX_PAGES):
        response = client.get(url, headers=headers)
        url = _next(response)
        if not response.get_json():
            return url
    raise AssertionError(f"no end after {MAX_PAGES} pages")


def _all_ids(app) -> list[int]:
    """Every event's id, in the feed's order (writing transaction, then id)."""
    with app.app_context():
        return list(
            db.session.execute(
                select(AuditEvent.id).order_by(AuditEvent.xact_id, AuditEvent.id)
            ).scalars()
        )


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


def _write_event(app, action: str, hold: threading.Event | None = None) -> None:
    """One audit event in a transaction of its own, through the portal's one writer; with
    ``hold``, the transaction stays open (its id taken) until ``hold`` is set."""
    with app.app_context():
        audit.record(action, actor=None, actor_label="test")
        if hold is not None:
            assert hold.wait(30)
        db.session.commit()


def _dialect(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_a_transaction_held_open_holds_back_later_events_until_it_ends(app, client, auth, outcome):
    """A transaction takes an id and stays open while later ones write theirs. The reader hands
    out none of the later events until it ends, then all of them, in order, once (the held one
    too when it committed). On PostgreSQL the later ones commit meanwhile; on SQLite they wait
    for the held one's write lock."""
    headers = _reader(auth)
    start = _end(client, headers)
    release, written = threading.Event(), threading.Event()

    def held():
        with app.app_context():
            audit.record("held", actor=None, actor_label="test")
            written.set()
            assert release.wait(30)
            if outcome == "commit":
                db.session.commit()
            else:
                db.session.rollback()

    writers, later = Writers(), Writers()
    writers.start(held)
    try:
        assert written.wait(10)
        for n in range(3):
            later.start(_write_event, app, f"later_{n}").join(0.5)
        # Committed on PostgreSQL; on SQLite still waiting for the lock.
        assert later.alive() == (_dialect(app) == "sqlite")
        waiting = client.get(start, headers=headers)
        assert waiting.get_json() == []  # none handed out while the held one is open
        assert _next(waiting) == start
    finally:
        release.set()
        writers.join()
        later.join()
    actions = [e["action"] for e in follow(client, headers, start)]
    kept = ["held"] if outcome == "commit" else []
    assert actions[: len(kept)] == kept
    assert sorted(actions) == [*kept, "later_0", "later_1", "later_2"]
    assert follow(client, headers, _next(client.get(start, headers=headers))) == []


def test_fifty_concurrent_writers_and_a_polling_reader_see_every_event_exactly_once(
    app, client, auth
):
    """Fifty transactions commit in an order of their own (each sleeps a little between its
    insert and its commit) while a reader polls: it sees each committed event once, none twice,
    none lost."""
    headers = _reader(auth)
    start = _end(client, headers).replace("limit=1000", "limit=7")
    rng = random.Random(18)
    delays = [rng.uniform(0, 0.2) for _ in range(50)]

    def writer(n: int):
        with app.app_context():
            audit.record(f"concurrent_{n}", actor=None, actor_label="test")
            time.sleep(delays[n])
            db.session.commit()

    writers = Writers()
    for n in range(50):
        writers.start(writer, n)
    seen, url = [], start
    for _ in range(MAX_PAGES):
        finished = not writers.alive()
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        url = _next(response)
        seen.extend(e["action"] for e in page if e["action"].startswith("concurrent_"))
        if finished and not page:
            break
        if not page:
            time.sleep(0.005)
    else:
        raise AssertionError(f"the reader did not reach the end in {MAX_PAGES} polls")
    writers.join()
    assert len(seen) == len(set(seen)) == 50, sorted(seen)


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
        "cursor=" + encode_cursor((0, 1)) + "!",
        "cursor=" + encode_cursor((5, 1)) + ".1",
        "cursor=",
        "cursor=C1",
    ],
)
def test_bad_parameters_answer_400_in_the_token_row_shape(app, client, auth, query):
    headers = _reader(auth)
    response = client.get(f"/audit/events?{query}", headers=headers)
    assert response.status_code == 400
    assert set(response.get_json()["error"]) == {"code", "message"}


@pytest.mark.parametrize("cursor", ["cffffffffffffffff", "c1.ffffffffffffffff"])
def test_a_cursor_beyond_any_id_is_a_page_not_an_error(app, client, auth, cursor):
    """Every string of the cursor's pattern is a cursor, however large its numbers."""
    response = client.get(f"/audit/events?cursor={cursor}", headers=_reader(auth))
    assert response.status_code == 200 and isinstance(response.get_json(), list)


def test_a_cursor_past_every_transaction_is_an_empty_page(app, client, auth):
    response = client.get("/audit/events?cursor=cffffffffffffffff.0", headers=_reader(auth))
    assert response.status_code == 200 and response.get_json() == []


def test_a_cursor_past_any_id_the_column_holds_is_past_the_end(app, client, auth):
    """A hand-made cursor's id beyond 32 bits (the column's range on PostgreSQL) is no 500."""
    response = client.get("/audit/events?cursor=c93.5ebdb67203adbf0d", headers=_reader(auth))
    assert response.status_code == 200 and isinstance(response.get_json(), list)


def test_a_405_on_the_stream_is_in_its_shape(client):
    response = client.post("/audit/events")
    assert response.status_code == 405 and response.headers["Allow"]
    assert set(response.get_json()["error"]) == {"code", "message"}


def test_a_page_is_read_from_index_ranges_not_a_scan(app, auth):
    """A poller's page must not cost more as the log grows: the rest of the cursor's own
    transaction and the transactions after it are each a range of the (transaction, id) index,
    never a walk of the log from its start (which one condition with OR gave SQLite).

    The cursor is the log's first event, inside a log of several transactions, and PostgreSQL
    plans with the table's statistics taken now: with whatever statistics autovacuum last left
    (or none), a cursor past every id was answered from the primary key's empty range instead,
    in one run in several, which says nothing about the index this test is about."""
    from sqlalchemy import func, select, text

    from portal.models import AuditEvent
    from portal.services.audit.feed import page_statements

    for _ in range(5):
        auth.new_client("alice")  # each sign-in writes its events in a transaction of its own
    bounds = ["ix_audit_xact_id (xact_id=? AND id>?)", "ix_audit_xact_id (xact_id>?)"]
    with app.app_context():
        first = db.session.execute(
            select(AuditEvent.xact_id, AuditEvent.id).order_by(AuditEvent.id).limit(1)
        ).one()
        if db.engine.dialect.name == "postgresql":  # SQLite writes one at a time: no xact ids
            transactions = select(func.count(func.distinct(AuditEvent.xact_id)))
            assert db.session.scalar(transactions) >= 5
        statements = page_statements(after=(first.xact_id, first.id), since=None, limit=100)
        assert len(statements) == len(bounds)
        with db.engine.connect() as conn:
            if db.engine.dialect.name == "postgresql":
                conn.execute(text("ANALYZE audit_events"))
            for statement, bound in zip(statements, bounds, strict=True):
                if db.engine.dialect.name == "postgresql":
                    conn.execute(text("SET enable_seqscan = off"))  # a small table would scan
                    compiled = statement.compile(db.engine)
                    explained = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
                    plan = "\n".join(r[0] for r in explained)
                    assert "ix_audit_xact_id" in plan and "Seq Scan on audit_events" not in plan
                else:
                    compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
                    rows = conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
                    steps = [str(r[-1]).strip() for r in rows]
                    assert f"SEARCH audit_events USING INDEX {bound}" in steps, steps
