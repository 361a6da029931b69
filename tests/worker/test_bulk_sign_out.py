"""Sign out what a search matched: a bulk job, made by an admin, worked by the background
worker in batches (``operations.run_bulk_job_batch``), exactly once per session even across a
crash."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from support.admin_helpers import (
    LONDON,
    active_session_ids,
    audit_actions,
    make_user,
    sign_in_at,
    user_id_of,
)
from support.alert_helpers import run_worker
from support.browsers import Alice, alice, browsers, next_second  # noqa: F401  (fixtures)

from portal import create_app
from portal.extensions import db
from portal.models import AuditEvent, BulkJob, EndReason, User, UserSession, utcnow
from portal.services import operations

BLOCK = "198.51.100.0/24"


def _in_block(n: int) -> str:
    return f"198.51.100.{n % 250 + 1}"


@pytest.fixture
def crowd(app):
    """30 users: each has one sign-in from the block and one from London."""
    inside, outside = [], []
    now = utcnow()
    with app.app_context():
        for n in range(30):
            user = make_user(f"bulk{n:02d}")
            row, _ = sign_in_at(app, user, now - timedelta(minutes=n), _in_block(n))
            inside.append(row.id)
            row, _ = sign_in_at(app, user, now - timedelta(minutes=n, seconds=30), LONDON)
            outside.append(row.id)
        db.session.commit()
    return {"inside": inside, "outside": outside}


def run_all(app, batch_size: int = 7) -> int:
    """What the worker does: batches, each committed, until no job has work left."""
    calls = 0
    with app.app_context():
        while operations.run_bulk_job_batch(batch_size=batch_size):
            db.session.commit()
            calls += 1
        db.session.remove()
    return calls


def _ended(app, ids) -> dict:
    with app.app_context():
        rows = db.session.execute(
            select(UserSession.id, UserSession.end_reason).where(UserSession.id.in_(ids))
        ).all()
        return {r.id: r.end_reason for r in rows}


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _key(page: str) -> str:
    return re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)


def _confirm_form(client, query: str) -> dict:
    page = client.get(f"/admin/sign-ins/sign-out?{query}").get_data(as_text=True)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    return {"page": page, "form": form}


# -- permissions ----------------------------------------------------------------------------


def test_a_helpdesk_user_can_search_but_not_sign_out(app, client, auth, crowd):
    viewer = auth.new_client("viewer")
    assert viewer.get(f"/admin/sign-ins?ip={BLOCK}").status_code == 200
    assert viewer.get(f"/admin/sign-ins/sign-out?ip={BLOCK}").status_code == 403
    response = client.post("/sign-ins/revoke", json={"ip": BLOCK}, headers=auth.bearer("viewer"))
    assert response.status_code == 403
    assert "manageUserDevices" in response.get_json()["error"]["message"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BulkJob)) == 0
    assert all(reason is None for reason in _ended(app, crowd["inside"]).values())


def test_the_post_needs_a_csrf_token(app, auth, crowd):
    manager = auth.new_client("manager")
    form = _confirm_form(manager, f"ip={BLOCK}")["form"]
    form.pop("csrf_token")
    assert manager.post("/admin/sign-ins/sign-out", data=form).status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BulkJob)) == 0


# -- the page flow --------------------------------------------------------------------------


def test_the_job_ends_exactly_the_matched_sessions_and_is_audited_once(app, auth, crowd):
    manager = auth.new_client("manager")
    confirm = _confirm_form(manager, f"ip={BLOCK}")
    assert "30 active sessions</strong> of <strong>30 users" in confirm["page"]
    assert confirm["page"].count("198.51.100.") >= 10  # the sample

    started = manager.post("/admin/sign-ins/sign-out", data=confirm["form"])
    assert started.status_code == 302 and "/admin/jobs/" in started.headers["Location"]
    progress = manager.get(started.headers["Location"]).get_data(as_text=True)
    assert '<meta http-equiv="refresh"' in progress and 'data-status="queued"' in progress

    assert run_all(app) == 5  # 30 sessions, 7 a batch: 5 batches (the last finds fewer)

    done = manager.get(started.headers["Location"]).get_data(as_text=True)
    assert 'data-status="done"' in done and "http-equiv" not in done
    assert "30 sessions signed out" in done
    ended = _ended(app, crowd["inside"])
    assert set(ended.values()) == {EndReason.REVOKED_BY_ADMIN.value}
    assert all(reason is None for reason in _ended(app, crowd["outside"]).values())
    (bulk,) = audit_actions(app, "bulk_sign_out")
    assert bulk.detail["filters"] == {"ip": BLOCK}
    assert (bulk.detail["sessions"], bulk.detail["users"]) == (30, 30)
    assert bulk.actor_label == "manager@example.test" and bulk.via == "page"
    # Each session's own event, as an admin's single revoke writes it (the user pages show it).
    per_session = audit_actions(app, "revoke_session")
    assert sorted(e.session_id for e in per_session) == sorted(crowd["inside"])
    manager_id = user_id_of(app, "manager")
    assert {(e.actor_id, e.detail.get("via"), e.detail.get("ended")) for e in per_session} == {
        (manager_id, "page", 1)
    }
    with app.app_context():
        marked = db.session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.subject.like("bulk%"), User.reauth_required_after.is_not(None))
        )
    assert marked == 30  # each user's next sign-in of those devices must give credentials


def test_the_done_page_says_done_and_leads_back_to_the_search(app, auth, crowd):
    """Issue 32: the finished job's page says it is done in its heading and links back to
    the search it came from, filters kept; while it runs, it offers no way back but the
    breadcrumb."""
    manager = auth.new_client("manager")
    started = manager.post(
        "/admin/sign-ins/sign-out", data=_confirm_form(manager, f"ip={BLOCK}")["form"]
    )
    running = manager.get(started.headers["Location"]).get_data(as_text=True)
    assert 'id="back-to-search"' not in running and "<h1>Signing out 30 sessions" in running
    run_all(app)
    done = manager.get(started.headers["Location"]).get_data(as_text=True)
    assert "<h1>Done: the sign-out of 30 sessions of 30 users</h1>" in done
    back = re.search(r'<a href="([^"]+)"[^>]*id="back-to-search">Back to the search</a>', done)
    assert back and back.group(1).replace("&amp;", "&") == f"/admin/sign-ins?ip={BLOCK}"


def test_pressing_the_button_twice_makes_one_job(app, auth, crowd):
    manager = auth.new_client("manager")
    form = _confirm_form(manager, f"ip={BLOCK}")["form"]
    first = manager.post("/admin/sign-ins/sign-out", data=form)
    second = manager.post("/admin/sign-ins/sign-out", data=form)
    assert first.headers["Location"] == second.headers["Location"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BulkJob)) == 1
    assert len(audit_actions(app, "bulk_sign_out")) == 1
    run_all(app)
    assert len(audit_actions(app, "revoke_session")) == 30


def test_sessions_that_start_after_the_job_is_made_are_not_touched(app, auth, crowd):
    manager = auth.new_client("manager")
    manager.post("/admin/sign-ins/sign-out", data=_confirm_form(manager, f"ip={BLOCK}")["form"])
    with app.app_context():
        late_user = make_user("late")
        late, _ = sign_in_at(app, late_user, utcnow(), _in_block(3))
        db.session.commit()
        late_id = late.id
    run_all(app)
    assert _ended(app, [late_id]) == {late_id: None}


# -- a crash half-way -------------------------------------------------------------------------


def test_a_worker_that_dies_half_way_is_resumed_and_nothing_is_done_twice(
    app, app_config, auth, crowd
):
    manager = auth.new_client("manager")
    manager.post("/admin/sign-ins/sign-out", data=_confirm_form(manager, f"ip={BLOCK}")["form"])
    with app.app_context():
        assert operations.run_bulk_job_batch(batch_size=10)  # one batch, committed
        db.session.commit()
        assert operations.run_bulk_job_batch(
            batch_size=10
        )  # a second one, never committed: it dies
        db.session.remove()
        db.engine.dispose()
    assert sum(r is not None for r in _ended(app, crowd["inside"]).values()) == 10

    restarted = create_app(app_config)  # a new worker process
    calls = run_all(restarted, batch_size=10)
    assert calls == 3  # the two batches left, and the call that finds none left
    with restarted.app_context():
        job = db.session.execute(select(BulkJob)).scalar_one()
        assert (job.status, job.done, job.total, job.ended) == ("done", 30, 30, 30)
        per_session = db.session.execute(
            select(AuditEvent.session_id, func.count())
            .where(AuditEvent.action == "revoke_session")
            .group_by(AuditEvent.session_id)
        ).all()
        db.session.remove()
        restarted.extensions["sqlalchemy"].engines[None].dispose()
    assert sorted(s for s, _ in per_session) == sorted(crowd["inside"])
    assert {n for _, n in per_session} == {1}
    assert len(audit_actions(app, "bulk_sign_out")) == 1
    assert set(_ended(app, crowd["inside"]).values()) == {EndReason.REVOKED_BY_ADMIN.value}


# -- the JSON routes --------------------------------------------------------------------------


def test_the_api_answers_202_with_the_job_and_its_progress(app, client, auth, crowd):
    headers = auth.bearer("manager")
    response = client.post("/sign-ins/revoke", json={"ip": BLOCK}, headers=headers)
    assert response.status_code == 202, response.data
    body = response.get_json()
    assert list(body) == ["jobId", "matched"] and body["matched"] == 30
    assert response.headers["Location"] == f"/jobs/{body['jobId']}"
    state = client.get(response.headers["Location"], headers=headers).get_json()
    assert state == {"status": "queued", "done": 0, "total": 30}
    run_all(app)
    state = client.get(response.headers["Location"], headers=headers).get_json()
    assert state == {"status": "done", "done": 30, "total": 30}
    (bulk,) = audit_actions(app, "bulk_sign_out")
    assert bulk.via == "api" and bulk.detail["filters"] == {"ip": BLOCK}


def test_the_api_refuses_no_filter_and_unknown_keys(app, client, auth, crowd):
    headers = auth.bearer("manager")
    for body in ({}, {"countr": "GB"}, {"ip": "nonsense"}):
        response = client.post("/sign-ins/revoke", json=body, headers=headers)
        assert response.status_code == 400, body
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BulkJob)) == 0


def test_an_idempotency_key_makes_a_retried_post_answer_with_the_first_job(client, auth, crowd):
    headers = {**auth.bearer("manager"), "Idempotency-Key": "retry-1"}
    first = client.post("/sign-ins/revoke", json={"ip": BLOCK}, headers=headers).get_json()
    second = client.post("/sign-ins/revoke", json={"ip": BLOCK}, headers=headers).get_json()
    assert first == second


def test_an_unknown_job_is_404(client, auth):
    response = client.get(
        "/jobs/00000000-0000-4000-8000-000000000000", headers=auth.bearer("manager")
    )
    assert response.status_code == 404


def test_the_token_and_browser_of_a_matched_session_stop_and_the_others_keep_working(
    app, client, auth
):
    """Real sessions: Bob's browser and token from the block end; Alice's, from elsewhere,
    keep working."""
    bob_browser = auth.new_client("bob", remote_addr="198.51.100.20")
    alice_browser = auth.new_client("alice", remote_addr=LONDON)
    alice_token = auth.bearer("alice")
    assert client.get("/devices", headers=alice_token).status_code == 200
    bob_sessions = active_session_ids(app, "bob")
    headers = auth.bearer("manager")
    started = client.post("/sign-ins/revoke", json={"user": "bob@"}, headers=headers)
    assert started.get_json()["matched"] == len(bob_sessions) == 1
    run_all(app)
    assert b"hero-sign-in" in bob_browser.get("/").data  # signed out
    assert b"My devices" in alice_browser.get("/").data
    assert client.get("/devices", headers=alice_token).status_code == 200
    assert active_session_ids(app, "bob") == []


def test_the_next_sign_in_of_a_signed_out_browser_must_give_credentials(app, auth, alice):  # noqa: F811
    """The phone's session matched (it started last); the IdP's single sign-on cannot bring
    it back, as after an admin's single revoke. The laptop stays signed in."""
    with app.app_context():
        phone_started = db.session.execute(
            select(UserSession.created_at)
            .join(User, User.id == UserSession.user_id)
            .where(User.subject == "alice", UserSession.device_id == alice.phone_device)
        ).scalar_one()
    api = app.test_client()
    response = api.post(
        "/sign-ins/revoke",
        json={"user": "alice@", "since": phone_started.isoformat()},
        headers=auth.bearer("admin"),
    )
    assert response.get_json()["matched"] == 1
    run_all(app)
    assert alice.laptop.signed_in() and not alice.phone.signed_in()
    page = alice.phone.press_sign_in()
    assert alice.phone.at_idp_login_form(page)
    next_second()


def test_the_cli_drains_the_queue_in_batches(app, client, auth, crowd):
    client.post("/sign-ins/revoke", json={"ip": BLOCK}, headers=auth.bearer("manager"))
    result = app.test_cli_runner().invoke(args=["portal", "run-jobs", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    assert "ran 4 batches" in result.output
    assert set(_ended(app, crowd["inside"]).values()) == {EndReason.REVOKED_BY_ADMIN.value}


def test_the_background_worker_does_the_job(app, client, auth, crowd):
    """``flask --app wsgi worker --once`` works the queued job to its end, beside the mail."""
    headers = auth.bearer("manager")
    location = client.post("/sign-ins/revoke", json={"ip": BLOCK}, headers=headers).headers[
        "Location"
    ]
    output = run_worker(app)
    assert client.get(location, headers=headers).get_json() == {
        "status": "done",
        "done": 30,
        "total": 30,
    }
    assert "items handled" in output
    assert set(_ended(app, crowd["inside"]).values()) == {EndReason.REVOKED_BY_ADMIN.value}
    assert all(reason is None for reason in _ended(app, crowd["outside"]).values())
