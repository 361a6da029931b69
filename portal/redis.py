"""The app's Redis client, shared by every instance of the portal: None without PORTAL_REDIS_URL.

    from portal.redis import redis_client
    r = redis_client()          # the current app's client, or None
    if r is not None: ...

One client (one connection pool) per app, made in ``create_app``; it connects on first use, and
after a fork (gunicorn workers) redis-py opens new connections in the child by itself. Short
socket timeouts, so a Redis that stopped answering costs a request two seconds at most; options
in the URL's query string (``?socket_timeout=5``) override them.
"""

from __future__ import annotations

import redis
from flask import Flask, current_app

EXTENSION = "portal_redis"
TIMEOUTS = {"socket_connect_timeout": 2.0, "socket_timeout": 2.0, "health_check_interval": 30}


def init_app(app: Flask) -> None:
    url = app.config.get("REDIS_URL")
    app.extensions[EXTENSION] = redis.Redis.from_url(url, **TIMEOUTS) if url else None


def redis_client(app: Flask | None = None) -> redis.Redis | None:
    """The app's Redis client (the current app's by default); None when Redis is not set up."""
    return (app or current_app).extensions.get(EXTENSION)
