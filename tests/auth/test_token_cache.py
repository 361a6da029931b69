"""Verified tokens are remembered until they expire, in each worker and, with Redis, by every
instance; the session row is still read on every request, so a revoke holds at once."""

from __future__ import annotations

import pytest
from support.redis_server import RedisServer

import portal.api.auth as api_auth
from portal import create_app
from portal.extensions import db


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer.start()
    yield server
    server.stop()


def _refuse_verification(monkeypatch):
    """From here on, a token that needs verifying fails: only remembered tokens pass."""

    def refuse(*args, **kwargs):
        raise AssertionError("the token was verified again")

    monkeypatch.setattr(api_auth, "validate_access_token", refuse)


def test_a_token_seen_before_is_not_verified_again(app, client, auth, monkeypatch):
    headers = auth.bearer("alice")
    assert client.get("/devices", headers=headers).status_code == 200
    _refuse_verification(monkeypatch)

    assert client.get("/devices", headers=headers).status_code == 200


def test_a_remembered_token_is_refused_once_its_session_is_revoked(app, client, auth):
    headers = auth.bearer("alice")
    [session] = client.get("/sessions", headers=headers).get_json()["sessions"]
    assert client.post(f"/sessions/{session['id']}/revoke", headers=headers).status_code == 200

    again = client.get("/devices", headers=headers)

    assert again.status_code == 401
    assert again.get_json()["error"] == "The access token has been revoked"


def test_instances_sharing_redis_know_each_others_tokens_and_revokes(
    app_config, database_url, auth, redis_server, monkeypatch
):
    redis_server.client().flushdb()
    config = {**app_config, "REDIS_URL": redis_server.url}
    first, second = create_app(config), create_app(config)
    try:
        headers = auth.bearer("alice")
        assert first.test_client().get("/devices", headers=headers).status_code == 200
        assert redis_server.client().keys("portal:token:*")
        _refuse_verification(monkeypatch)

        assert second.test_client().get("/devices", headers=headers).status_code == 200
        [session] = first.test_client().get("/sessions", headers=headers).get_json()["sessions"]
        revoke = first.test_client().post(f"/sessions/{session['id']}/revoke", headers=headers)
        assert revoke.status_code == 200
        assert second.test_client().get("/devices", headers=headers).status_code == 401
    finally:
        for instance in (first, second):
            with instance.app_context():
                db.engine.dispose()


def test_a_redis_that_is_down_only_costs_a_verification(app_config, auth, monkeypatch):
    dead = "redis://127.0.0.1:9/0"  # nothing listens there
    config = {**app_config, "REDIS_URL": dead}
    first, second = create_app(config), create_app(config)
    verified = []
    real = api_auth.validate_access_token
    monkeypatch.setattr(
        api_auth, "validate_access_token", lambda *a, **k: verified.append(1) or real(*a, **k)
    )
    try:
        headers = auth.bearer("alice")
        assert first.test_client().get("/devices", headers=headers).status_code == 200
        assert second.test_client().get("/devices", headers=headers).status_code == 200
        assert len(verified) == 2  # each instance verified it: nothing was shared
    finally:
        for instance in (first, second):
            with instance.app_context():
                db.engine.dispose()
