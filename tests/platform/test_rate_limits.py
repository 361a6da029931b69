"""Sign-in and the JSON routes are rate-limited per client address, with clear answers."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_config(app_config):
    return {**app_config, "RATELIMIT_SIGN_IN": "3 per minute", "RATELIMIT_API": "2 per minute"}


def test_too_many_sign_in_attempts_get_a_friendly_429_page(client):
    for _ in range(3):
        assert client.get("/login").status_code == 302
    response = client.get("/login")
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert b"Something went wrong" in response.data and b"Traceback" not in response.data
    assert "Retry-After" in response.headers


def test_too_many_api_calls_get_429_in_each_documented_shape(client, auth):
    headers = auth.bearer("alice")
    for _ in range(2):
        assert client.get("/devices", headers=headers).status_code == 200
    limited = client.get("/devices", headers=headers)
    assert limited.status_code == 429
    body = limited.get_json()
    assert body["success"] is False and "limit" in body["error"].lower()

    for _ in range(2):
        client.get("/auth/devices", headers=headers)
    limited = client.get("/auth/devices", headers=headers)
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "too_many_requests"


def test_other_clients_are_not_limited_by_one_noisy_address(client):
    noisy = [client.get("/login", environ_base={"REMOTE_ADDR": "10.9.9.9"}) for _ in range(4)]
    assert [r.status_code for r in noisy] == [302, 302, 302, 429]
    assert client.get("/login", environ_base={"REMOTE_ADDR": "10.9.9.10"}).status_code == 302


def test_a_limit_counted_in_process_memory_starts_no_thread_per_request(client, monkeypatch):
    """The stock memory storage started a timer thread on nearly every request under load."""
    import threading

    started = []
    original = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda t: (started.append(t), original(t)))
    for _ in range(3):
        client.get("/login", environ_base={"REMOTE_ADDR": "10.8.8.8"})
    assert client.get("/login", environ_base={"REMOTE_ADDR": "10.8.8.8"}).status_code == 429
    assert started == []


class _Clock:
    """Stands in for the ``time`` module of limits' memory storage and of portal.ratelimit:
    time moves only when the test says so."""

    def __init__(self):
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


def test_counters_in_process_memory_expire_with_their_window(monkeypatch):
    import limits.storage.memory

    from portal import ratelimit
    from portal.ratelimit import SweepingMemoryStorage

    clock = _Clock()
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    monkeypatch.setattr(ratelimit, "time", clock)
    storage = SweepingMemoryStorage("portal-memory://")
    assert storage.incr("k", expiry=60) == 1
    clock.now += 59
    assert storage.incr("k", expiry=60) == 2  # still within its window
    clock.now += 1
    assert storage.get("k") == 0  # the window has run out

    storage.incr("other", expiry=10)
    clock.now += 10
    storage.incr("new", expiry=60)  # sweeps what ran out (a second after the last sweep)
    assert "other" not in storage.storage and storage.get("new") == 1
