"""Polled lists answer ``If-None-Match`` with 304: GET /devices, GET /sessions and
GET /devices/users/{userId}.

Their ETags are the version of the user's device set (moved by every change the lists show,
in the change's transaction), the next expiry in the list, and who asks: so a poll is 304
exactly while the list it would get is the one the caller holds. Each change below is made the
way the product makes it (a route, a page, an operation, the prune), then the old tag is sent.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import select, update
from support.account_helpers import (
    audit_actions,
    current_session_of,
    http_sign_in,
    page_csrf,
    user_id,
)
from support.agents import IPHONE
from support.queries import count_queries

from portal.extensions import db
from portal.models import Device, User, UserSession, utcnow
from portal.services import common, operations, tokens
from portal.services.audit.record import Actions
from portal.services.sessions import policy as sessions
from portal.services.sessions import retention

LISTS = ("/devices", "/sessions")


def _execute(app, stmt) -> None:
    with app.app_context():
        db.session.execute(stmt)
        db.session.commit()


def _tag(client, path: str, headers: dict) -> str:
    answer = client.get(path, headers=headers)
    assert answer.status_code == 200, answer.data[:300]
    return answer.headers["ETag"]


def _poll(client, path: str, headers: dict, tag: str):
    return client.get(path, headers={**headers, "If-None-Match": tag})


@pytest.fixture
def alice(app, client, auth):
    """Alice with a phone signed in (a browser session) and a token that polls (used once)."""
    phone = auth.new_client("alice", user_agent=IPHONE)
    headers = auth.bearer("alice")
    assert client.get("/devices", headers=headers).status_code == 200
    return SimpleNamespace(
        phone=phone,
        phone_session=current_session_of(phone, app),
        headers=headers,
        id=user_id(app, "alice"),
    )


@pytest.fixture
def admin(app, client, auth):
    """An admin token (used once), polling Alice's sessions."""
    headers = auth.bearer("admin")
    assert client.get("/devices", headers=headers).status_code == 200
    return headers


def _changed(client, alice, before: dict, paths=LISTS) -> None:
    """Every list in ``paths`` answers the old tag with the whole list and a new tag."""
    for path in paths:
        answer = _poll(client, path, alice.headers, before[path])
        assert answer.status_code == 200, f"{path} still answered {answer.status_code}"
        assert answer.headers["ETag"] != before[path]


def _tags(client, alice, paths=LISTS) -> dict:
    return {path: _tag(client, path, alice.headers) for path in paths}


# -- the answers --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", LISTS)
def test_a_list_carries_a_weak_etag_and_must_be_revalidated(client, alice, path):
    answer = client.get(path, headers=alice.headers)
    assert answer.status_code == 200
    assert answer.headers["ETag"].startswith('W/"')
    assert answer.headers["Cache-Control"] == "private, no-cache"
    assert "Authorization" in answer.headers["Vary"]


@pytest.mark.parametrize("path", LISTS)
def test_an_unchanged_poll_is_answered_304_with_no_body(client, alice, path):
    tag = _tag(client, path, alice.headers)
    answer = _poll(client, path, alice.headers, tag)
    assert answer.status_code == 304
    assert answer.data == b""
    assert answer.headers["ETag"] == tag
    assert answer.headers["Cache-Control"] == "private, no-cache"
    assert "Content-Type" not in answer.headers and "Content-Length" not in answer.headers


def test_if_none_match_star_a_list_of_tags_and_the_strong_form_all_match(client, alice):
    tag = _tag(client, "/devices", alice.headers)
    strong = tag.removeprefix("W/")
    for asked in ("*", f'"other", {tag}, W/"more"', strong):
        assert _poll(client, "/devices", alice.headers, asked).status_code == 304, asked
    for asked in ('W/"other"', '"other", W/"more"', "garbage"):
        assert _poll(client, "/devices", alice.headers, asked).status_code == 200, asked


def test_a_304_costs_one_read_of_the_caller_with_the_lists_horizon(app, client, alice):
    """The caller's row brings the list's version and horizon: a poll answered 304 reads
    nothing else, and the list itself is one read more."""
    with app.app_context():
        engine = db.engine
    for path in LISTS:
        tag = _tag(client, path, alice.headers)
        with count_queries(engine) as statements:
            assert _poll(client, path, alice.headers, tag).status_code == 304
        assert len(statements) == 1, statements
        with count_queries(engine) as statements:  # the list with its tag: no read more
            assert client.get(path, headers=alice.headers).status_code == 200
        assert len(statements) == 2, statements


def test_an_admins_poll_is_304_and_still_audited(app, client, alice, admin):
    path = f"/devices/users/{alice.id}"
    tag = _tag(client, path, admin)
    looks = len(audit_actions(app, Actions.VIEW_USER_DEVICES))
    with app.app_context():
        engine = db.engine
    with count_queries(engine) as statements:
        answer = _poll(client, path, admin, tag)
    assert answer.status_code == 304 and answer.headers["ETag"] == tag
    # The caller, the user's version (the check that the user exists), the audit event.
    assert len(statements) == 3, statements
    assert len(audit_actions(app, Actions.VIEW_USER_DEVICES)) == looks + 1
    assert _poll(client, f"/v1/auth/devices/users/{alice.id}", admin, tag).status_code in (
        200,
        304,
    )


def test_an_admins_poll_of_an_unknown_user_is_404_whatever_the_tag(client, admin):
    answer = _poll(client, f"/devices/users/{uuid.uuid4()}", admin, "*")
    assert answer.status_code == 404


# -- checks come before the 304 ------------------------------------------------------------------


def test_a_revoked_token_with_a_matching_tag_gets_401(app, client, alice):
    tag = _tag(client, "/devices", alice.headers)
    _execute(app, update(UserSession).values(ended_at=utcnow()))
    assert _poll(client, "/devices", alice.headers, tag).status_code == 401


def test_a_token_without_the_scope_gets_403_not_304(client, auth, alice):
    narrow = auth.bearer("alice", scope="openid devices:write")
    assert _poll(client, "/devices", narrow, "*").status_code == 403


def test_an_admin_who_lost_view_user_devices_gets_403_not_304(app, client, auth, alice):
    viewer = auth.bearer("viewer")  # helpdesk: viewUserDevices through its group
    path = f"/devices/users/{alice.id}"
    tag = _tag(client, path, viewer)
    app.config["GROUP_PERMISSIONS"] = {**app.config["GROUP_PERMISSIONS"], "helpdesk": []}
    assert _poll(client, path, viewer, tag).status_code == 403


# -- the tag is the caller's ---------------------------------------------------------------------


def test_two_callers_of_one_user_on_different_devices_get_different_device_tags(app, client, alice):
    """GET /devices lists the caller's device first: the same tag would hand a client the
    other device's order."""
    with app.app_context():
        owner = db.session.get(User, alice.id)
        _, secret = tokens.create(owner, name="poller", scopes=["devices:read"], days=1)
        db.session.commit()
    script = {"Authorization": f"Bearer {secret}"}
    client.get("/devices", headers=script)  # its first use describes its device
    mine, theirs = _tag(client, "/devices", alice.headers), _tag(client, "/devices", script)
    assert mine != theirs
    assert _poll(client, "/devices", script, mine).status_code == 200


def test_another_users_tag_never_matches_even_at_the_same_version(app, client, auth, alice):
    bob = auth.bearer("bob")
    assert client.get("/sessions", headers=bob).status_code == 200
    # The same version and the same expiries for both: only who they are tells them apart.
    later = utcnow().replace(microsecond=0) + timedelta(hours=2)
    _execute(app, update(User).values(device_set_version=41))
    _execute(
        app, update(UserSession).where(UserSession.ended_at.is_(None)).values(expires_at=later)
    )
    tag = _tag(client, "/sessions", alice.headers)
    assert _poll(client, "/sessions", bob, tag).status_code == 200


# -- time changes a list with nothing written ----------------------------------------------------


def test_a_session_that_expires_between_two_polls_changes_the_tag(app, client, alice):
    soon = utcnow() + timedelta(seconds=1.5)
    _execute(
        app,
        update(UserSession).where(UserSession.id == alice.phone_session.id).values(expires_at=soon),
    )
    tag = _tag(client, "/sessions", alice.headers)
    assert _poll(client, "/sessions", alice.headers, tag).status_code == 304
    time.sleep(max(0.0, (soon - utcnow()).total_seconds()) + 0.2)
    answer = _poll(client, "/sessions", alice.headers, tag)
    assert answer.status_code == 200
    assert str(alice.phone_session.id) not in answer.get_data(as_text=True)


def test_a_trust_that_runs_out_between_two_polls_changes_the_tag(app, client, alice):
    soon = utcnow() + timedelta(seconds=1.5)
    _execute(
        app,
        update(Device)
        .where(Device.id == alice.phone_session.device_id)
        .values(is_trusted=True, trust_level="HIGH", trust_expires_at=soon),
    )
    tag = _tag(client, "/devices", alice.headers)
    assert _poll(client, "/devices", alice.headers, tag).status_code == 304
    time.sleep(max(0.0, (soon - utcnow()).total_seconds()) + 0.2)
    answer = _poll(client, "/devices", alice.headers, tag)
    assert answer.status_code == 200
    phone = next(
        d for d in answer.get_json()["devices"] if d["id"] == str(alice.phone_session.device_id)
    )
    assert phone["isTrusted"] is False


# -- every change the lists show moves the tag ---------------------------------------------------


def test_a_new_browser_sign_in_changes_the_lists(client, auth, alice):
    before = _tags(client, alice)
    auth.new_client("alice")
    _changed(client, alice, before)


def test_revoking_one_session_changes_the_lists(client, alice):
    before = _tags(client, alice)
    sid = alice.phone_session.id
    assert client.post(f"/sessions/{sid}/revoke", headers=alice.headers).status_code == 200
    _changed(client, alice, before, ["/sessions"])


def test_revoking_all_other_sessions_changes_the_lists(client, alice):
    before = _tags(client, alice)
    assert client.post("/auth/devices/revoke-all", headers=alice.headers).status_code == 204
    _changed(client, alice, before, ["/sessions"])


def test_a_browsers_own_sign_out_changes_the_lists(client, alice):
    before = _tags(client, alice)
    phone = alice.phone
    assert phone.post("/logout", data={"csrf_token": page_csrf(phone)}).status_code == 302
    _changed(client, alice, before, ["/sessions"])


def test_a_back_channel_logout_changes_the_lists(app, client, alice):
    with app.app_context():
        sid = db.session.get(UserSession, alice.phone_session.id).idp_sid
    assert sid
    before = _tags(client, alice)
    with app.app_context():
        issuer = db.session.get(User, alice.id).issuer
        assert operations.idp_logout(issuer, sid=sid, subject=None, now=utcnow()) == 1
        db.session.commit()
    _changed(client, alice, before, ["/sessions"])


def test_a_bulk_sign_out_batch_changes_the_lists(app, client, alice):
    """A bulk job's batch is ``operations.revoke_sessions`` (test_bulk_sign_out)."""
    before = _tags(client, alice)
    with app.app_context():
        actor = operations.Actor(None, via="cli", label="bench")
        assert operations.revoke_sessions(actor, [(alice.id, alice.phone_session.id)]) == 1
        db.session.commit()
    _changed(client, alice, before, ["/sessions"])
    with app.app_context():  # and ended as a revoke ends one: the phone must sign in again
        assert db.session.get(Device, alice.phone_session.device_id).revoked_at is not None
        assert db.session.get(User, alice.id).reauth_required_after is not None


def test_deactivating_the_account_changes_an_admins_view(app, client, alice, admin):
    path = f"/devices/users/{alice.id}"
    tag = _tag(client, path, admin)
    with app.app_context():
        user = db.session.get(User, alice.id)
        assert operations.deactivate_user(operations.Actor(None, via="cli", label="t"), user)
        db.session.commit()
    answer = _poll(client, path, admin, tag)
    assert answer.status_code == 200 and answer.get_json() == []


def test_trusting_a_device_changes_the_devices_list(app, client, alice):
    with app.app_context():
        fingerprint = db.session.get(Device, alice.phone_session.device_id).fingerprint
    before = _tags(client, alice, ["/devices"])
    body = {"fingerprint": fingerprint}
    answer = client.post("/devices/trust", json=body, headers=alice.headers)
    assert answer.status_code == 200, answer.data
    _changed(client, alice, before, ["/devices"])


def test_renaming_a_device_changes_the_lists(app, client, alice):
    before = _tags(client, alice)
    with app.app_context():
        owner = operations.Actor(db.session.get(User, alice.id))
        operations.rename_device(owner, alice.phone_session.device_id, "Pocket")
        db.session.commit()
    _changed(client, alice, before)


def test_removing_a_device_changes_the_lists(client, alice):
    before = _tags(client, alice)
    device_id = alice.phone_session.device_id
    assert client.delete(f"/devices/{device_id}", headers=alice.headers).status_code == 200
    _changed(client, alice, before)


def test_a_heartbeat_that_moves_an_expiry_changes_the_lists_one_that_does_not_leaves_them(
    app, client, alice
):
    sid = alice.phone_session.id
    beat = f"/sessions/{sid}/heartbeat"
    before = _tags(client, alice, ["/sessions"])
    assert client.post(beat, headers=alice.headers).status_code == 200  # not due: no write
    assert _poll(client, "/sessions", alice.headers, before["/sessions"]).status_code == 304
    with app.app_context():
        row = db.session.get(UserSession, sid)
        earlier = row.expires_at - timedelta(minutes=30)
    _execute(app, update(UserSession).where(UserSession.id == sid).values(expires_at=earlier))
    before = _tags(client, alice, ["/sessions"])
    assert client.post(beat, headers=alice.headers).status_code == 200  # due: it moves
    _changed(client, alice, before, ["/sessions"])


def test_the_once_a_minute_activity_stamp_changes_the_lists(app, client, alice):
    """A poll a minute after the last one moves the caller's lastSeen and lastActivity: it
    must not be told 304 for the list from before."""
    a_minute_ago = utcnow() - sessions.TOUCH_INTERVAL + timedelta(seconds=1)
    _execute(
        app,
        update(UserSession)
        .where(UserSession.user_id == alice.id, UserSession.login_method == "bearer")
        .values(last_used_at=a_minute_ago),
    )
    before = _tags(client, alice)  # read before the minute is over: nothing written
    time.sleep(1.2)
    _changed(client, alice, before, ["/sessions"])


def test_the_prune_ending_an_idle_browser_session_changes_the_lists(app, client, alice):
    sid = alice.phone_session.id
    with app.app_context():
        policy = sessions.SessionPolicy.from_config(app.config)
    idle = utcnow() - policy.idle_timeout - timedelta(minutes=1)
    _execute(app, update(UserSession).where(UserSession.id == sid).values(last_used_at=idle))
    before = _tags(client, alice, ["/sessions"])
    with app.app_context():
        assert retention.expire_sessions(policy, now=utcnow()) == 1
        db.session.commit()
    _changed(client, alice, before, ["/sessions"])


def test_a_personal_token_made_or_used_from_a_new_address_changes_the_lists(app, client, alice):
    before = _tags(client, alice)
    with app.app_context():
        owner = db.session.get(User, alice.id)
        _, secret = tokens.create(owner, name="script", scopes=["devices:read"], days=1)
        db.session.commit()
    _changed(client, alice, before)
    script = {"Authorization": f"Bearer {secret}"}
    client.get("/devices", headers=script, environ_base={"REMOTE_ADDR": "81.2.69.142"})
    before = _tags(client, alice, ["/devices"])
    client.get("/devices", headers=script, environ_base={"REMOTE_ADDR": "81.2.69.160"})
    _changed(client, alice, before, ["/devices"])


def test_the_version_moves_in_the_changes_transaction_and_not_without_it(app, alice):
    """A change rolled back leaves the version where it was."""
    with app.app_context():
        version = db.session.execute(
            select(User.device_set_version).where(User.id == alice.id)
        ).scalar_one()
        common.lock_account(alice.id)
        db.session.rollback()
        assert (
            db.session.execute(
                select(User.device_set_version).where(User.id == alice.id)
            ).scalar_one()
            == version
        )


# -- lock order --------------------------------------------------------------------------------


def test_sign_ins_and_revokes_in_parallel_never_deadlock(app, live_server, idp, auth):
    """Sign-ins (browsers finishing at the callback, tokens used for the first time), revokes
    and polls of the same user at once: each change moves the user's version, all in the one
    lock order, so none fails (a deadlock is a 503 here, any other failure a 500)."""
    url = live_server.url
    revoker = auth.bearer("alice")
    assert requests.get(f"{url}/devices", headers=revoker, timeout=30).ok
    browsers = [http_sign_in(live_server, idp, "alice") for _ in range(3)]
    listed = requests.get(f"{url}/sessions", headers=revoker, timeout=30).json()["sessions"]
    ids = [s["id"] for s in listed if s["loginMethod"] == "oidc"]  # the browsers'
    assert len(ids) == len(browsers)

    def pending_sign_in():
        """A browser back from the IdP, about to finish its sign-in at the callback."""
        http = requests.Session()
        start = http.get(f"{url}/login", allow_redirects=False, timeout=10)
        callback = idp.login_through(requests.Session(), start.headers["Location"], "alice")
        return lambda: http.get(callback, allow_redirects=False, timeout=30).status_code

    def call(method, path, headers):
        return lambda: requests.request(method, url + path, headers=headers, timeout=30).status_code

    jobs = [("browser", pending_sign_in()) for _ in range(6)]
    jobs += [("token", call("GET", "/devices", auth.bearer("alice"))) for _ in range(6)]
    jobs += [("revoke-all", call("POST", "/auth/devices/revoke-all", revoker)) for _ in range(3)]
    jobs += [("revoke", call("POST", f"/sessions/{sid}/revoke", revoker)) for sid in ids * 2]
    jobs += [("poll", call("GET", "/sessions", revoker)) for _ in range(4)]
    rng = random.Random(11)
    rng.shuffle(jobs)

    def staggered(job, delay):  # spread over a moment, so each kind meets every other
        time.sleep(delay)
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [(kind, pool.submit(staggered, job, rng.random() / 4)) for kind, job in jobs]
        results = Counter((kind, future.result()) for kind, future in futures)

    assert not [r for r in results if r[1] >= 500], results
    assert results[("revoke-all", 204)] == 3, results
    # Settled: the list as it is now answers its own tag with 304.
    answer = requests.get(f"{url}/sessions", headers=revoker, timeout=30)
    again = requests.get(
        f"{url}/sessions", headers={**revoker, "If-None-Match": answer.headers["ETag"]}, timeout=30
    )
    assert again.status_code == 304


def test_a_revoke_all_queues_at_the_users_row_before_taking_any_session(app, alice):
    """The order, step by step: a revoke of one session holds the account and is about to take
    the session's row, while a revoke-all of the same user starts. The revoke-all must wait at
    the user's row (where its version moves) holding nothing else; had it taken the sessions
    first, the two would wait on each other (PostgreSQL ends one as a deadlock)."""
    failures: list[Exception] = []

    def revoke_all():
        with app.app_context():
            try:
                user = db.session.get(User, alice.id)
                actor = operations.Actor(None, via="cli", label="second")
                operations.revoke_all_sessions(actor, user, include_current=False)
                db.session.commit()
            except Exception as exc:  # what the request would answer 503 for
                failures.append(exc)
                db.session.rollback()

    with app.app_context():
        common.lock_account(alice.id)  # the first revoke holds the account
        second = threading.Thread(target=revoke_all)
        second.start()
        time.sleep(0.3)  # the revoke-all is now waiting for what the first holds
        found = sessions.lock_session_of_user(alice.id, alice.phone_session.id)
        assert found is not None
        first = operations.Actor(None, via="cli", label="first")
        operations.revoke_session(first, found.id, user_id=alice.id)
        db.session.commit()
    second.join(timeout=30)
    assert failures == []
