"""PORTAL_REDIS_URL: the app's one Redis client, and rate limits every instance counts together."""

from __future__ import annotations

import pytest
import redis
from limits.storage import MemoryStorage, RedisStorage
from support.idp import free_port
from support.redis_server import RedisServer

from portal import create_app
from portal.config import ConfigError
from portal.extensions import db
from portal.redis import redis_client


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer.start()
    yield server
    server.stop()


def _dispose(*apps) -> None:
    for app in apps:
        client = redis_client(app)
        if client is not None:
            client.close()
        with app.app_context():
            db.engine.dispose()


def test_without_redis_there_is_no_client_and_limits_count_in_process_memory(app):
    assert app.config["REDIS_URL"] is None
    assert redis_client(app) is None
    with app.app_context():
        assert redis_client() is None
    assert isinstance(app.extensions["portal_limiter"].storage, MemoryStorage)


def test_with_redis_the_app_has_one_client_and_the_limiter_shares_its_pool(app_config):
    app = create_app({**app_config, "REDIS_URL": "redis://127.0.0.1:1/3"})
    try:
        client = redis_client(app)
        assert isinstance(client, redis.Redis)
        assert client.connection_pool.connection_kwargs["db"] == 3
        assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:1/3"
        storage = app.extensions["portal_limiter"].storage
        assert isinstance(storage, RedisStorage)
        assert storage.storage.connection_pool is client.connection_pool
        with app.app_context():
            assert redis_client() is client
    finally:
        _dispose(app)


def test_an_explicit_rate_limit_storage_uri_still_wins(app_config):
    app = create_app(
        {**app_config, "REDIS_URL": "redis://127.0.0.1:1/0", "RATELIMIT_STORAGE_URI": "memory://"}
    )
    try:
        assert isinstance(redis_client(app), redis.Redis)
        assert isinstance(app.extensions["portal_limiter"].storage, MemoryStorage)
    finally:
        _dispose(app)


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "localhost:6379", "memcached://x"])
def test_a_redis_url_of_another_kind_stops_start_up_naming_the_variable(app_config, url):
    with pytest.raises(ConfigError, match="PORTAL_REDIS_URL"):
        create_app({**app_config, "REDIS_URL": url})


def test_the_start_up_error_does_not_repeat_a_password(app_config):
    with pytest.raises(ConfigError) as raised:
        create_app({**app_config, "REDIS_URL": "http://:hunter2@cache:6379"})
    assert "hunter2" not in str(raised.value)


def test_two_apps_on_one_redis_count_one_limit(app_config, redis_server):
    """Two instances (here two apps in one process) share the counter, so 3 per minute means
    3 requests in all, whichever instance answers them."""
    redis_server.client().flushdb()
    config = {**app_config, "REDIS_URL": redis_server.url, "RATELIMIT_SIGN_IN": "3 per minute"}
    first, second = create_app(config), create_app(config)
    try:
        a, b = first.test_client(), second.test_client()
        assert [a.get("/login").status_code, b.get("/login").status_code] == [302, 302]
        assert a.get("/login").status_code == 302
        assert b.get("/login").status_code == 429
        assert a.get("/login").status_code == 429
        assert redis_server.client().keys("LIMITS*")
    finally:
        _dispose(first, second)


def test_an_unreachable_redis_falls_back_to_process_memory_instead_of_failing(app_config):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app({**app_config, "REDIS_URL": closed, "RATELIMIT_SIGN_IN": "2 per minute"})
    try:
        client = app.test_client()
        assert client.get("/login").status_code == 302
        assert client.get("/login").status_code == 302
        assert client.get("/login").status_code == 429  # still limited, in this process
    finally:
        _dispose(app)
