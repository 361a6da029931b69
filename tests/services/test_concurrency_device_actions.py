"""Concurrent actions on one device never leave it half-updated.

Real parallel HTTP requests against the threaded live server and the file-backed database
(SQLite by default, PostgreSQL with PORTAL_TEST_DATABASE=postgresql): trust while untrusting
and revoking, renames racing each other, trust racing a removal.
"""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from support.account_helpers import (
    audit_actions,
    current_session_of,
    device,
    http_csrf,
    http_sign_in,
)
from support.agents import IPHONE

ROUNDS = 8


@pytest.fixture
def target(app, auth):
    """Alice's phone, the device every request fights over: (device id, session id)."""
    phone = auth.new_client("alice", user_agent=IPHONE)
    row = current_session_of(phone, app)
    return row.device_id, row.id


@pytest.fixture
def api(live_server, auth):
    """Call the live server's JSON routes with one of Alice's tokens (its session made once)."""
    headers = auth.bearer("alice")
    assert requests.get(live_server.url + "/devices", headers=headers, timeout=10).ok

    def call(method: str, path: str, **kwargs) -> int:
        response = requests.request(
            method, live_server.url + path, headers=headers, timeout=30, **kwargs
        )
        return response.status_code

    return call


def _run_in_parallel(jobs) -> list[tuple[str, int]]:
    random.Random(7).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=12) as pool:
        futures = [(kind, pool.submit(job)) for kind, job in jobs]
        return [(kind, future.result()) for kind, future in futures]


def _assert_trust_is_whole(row) -> None:
    """Trusted with a level and an expiry, or untrusted with neither: never a mix."""
    trusted = (row.is_trusted, row.trust_level in ("HIGH", "MEDIUM", "LOW"), row.trust_expires_at)
    assert trusted[:2] in ((True, True), (False, False)), trusted
    assert (row.trust_expires_at is not None) == row.is_trusted, trusted


def test_trust_untrust_revoke_and_renames_in_parallel_leave_the_device_whole(
    app, live_server, idp, api, target
):
    device_id, session_id = target
    fingerprint = device(app, device_id).fingerprint
    laptop = http_sign_in(live_server, idp, "alice")  # renames come from Alice's other browser
    token = http_csrf(laptop, live_server)
    names = [f"Phone {i}" for i in range(ROUNDS)]
    levels = ["HIGH", "MEDIUM", "LOW"]

    def rename(name):
        return laptop.post(
            f"{live_server.url}/account/devices/{device_id}/rename",
            data={"csrf_token": token, "name": name, "next": "/"},
            allow_redirects=False,
            timeout=30,
        ).status_code

    jobs = []
    for i in range(ROUNDS):
        body = {"fingerprint": fingerprint, "trustLevel": levels[i % 3]}
        jobs.append(("trust", lambda b=body: api("POST", "/devices/trust", json=b)))
        jobs.append(("untrust", lambda: api("POST", f"/devices/{device_id}/untrust")))
        jobs.append(("rename", lambda n=names[i]: rename(n)))
    for _ in range(4):
        jobs.append(("revoke", lambda: api("POST", f"/sessions/{session_id}/revoke")))

    results = _run_in_parallel(jobs)

    statuses = Counter(results)
    assert statuses[("trust", 200)] == ROUNDS, statuses
    assert statuses[("untrust", 200)] == ROUNDS, statuses
    assert statuses[("rename", 302)] == ROUNDS, statuses
    # Untrust may end the phone's session first; at most one revoke can find it open.
    assert (
        statuses[("revoke", 200)] <= 1
        and sum(n for (kind, _), n in statuses.items() if kind == "revoke")
        == statuses[("revoke", 200)] + statuses[("revoke", 404)]
    )

    row = device(app, device_id)
    _assert_trust_is_whole(row)
    assert row.name in names and row.removed_at is None
    events = Counter(e.action for e in audit_actions(app))
    assert events["trust_device"] == ROUNDS
    assert events["untrust_device"] == ROUNDS
    assert events["rename_device"] == ROUNDS
    assert events["revoke_session"] == statuses[("revoke", 200)]


def test_trust_racing_a_removal_never_trusts_a_removed_device(app, live_server, api, target):
    device_id, _ = target
    fingerprint = device(app, device_id).fingerprint
    jobs = [
        ("trust", lambda: api("POST", "/devices/trust", json={"fingerprint": fingerprint}))
        for _ in range(2 * ROUNDS)
    ]
    jobs.insert(ROUNDS, ("remove", lambda: api("DELETE", f"/devices/{device_id}")))
    with ThreadPoolExecutor(max_workers=12) as pool:
        futures = [(kind, pool.submit(job)) for kind, job in jobs]
        results = [(kind, future.result()) for kind, future in futures]

    statuses = Counter(results)
    assert statuses[("remove", 200)] == 1, statuses
    assert statuses[("trust", 200)] + statuses[("trust", 404)] == 2 * ROUNDS, statuses

    row = device(app, device_id)
    assert row.removed_at is not None
    assert (row.is_trusted, row.trust_level, row.trust_expires_at) == (False, "UNKNOWN", None)
    # Every trust that answered 200 happened before the removal, and was audited once.
    actions = [e.action for e in audit_actions(app) if e.device_id == device_id]
    assert actions.count("trust_device") == statuses[("trust", 200)]
    assert actions[-1] == "remove_device"
