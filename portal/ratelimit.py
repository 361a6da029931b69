"""Rate limits (Flask-Limiter): sign-in and the JSON routes, per client address.

The limiter belongs to the app (not a module global), so each app counts on its own. Storage is
``PORTAL_RATELIMIT_STORAGE_URI`` when given, else Redis when ``PORTAL_REDIS_URL`` is set (through
the app's one client, so every instance and worker counts together), else process memory (each
worker counts apart). While a shared store is unreachable the limits are counted in process
memory instead, and the store is tried again now and then: Redis trouble never answers 500.

What this changes in Flask-Limiter and limits goes through ``limiter_adapter``, the one module
that touches their private names.
"""

from __future__ import annotations

import time

from flask import request
from flask_limiter.util import get_remote_address

from . import metrics
from .limiter_adapter import LimiterAdapter, MemoryStorageAdapter
from .redis import redis_client

# A blueprint that carries limits names its setting in this attribute (``rate_limit =
# "RATELIMIT_API"``); the limiter finds them among the app's blueprints, so it needs to know
# none of them.
RATE_LIMIT_ATTR = "rate_limit"


class PortalLimiter(LimiterAdapter):
    """Flask-Limiter, consulted only for the blueprints that carry limits.

    Flask-Limiter checks every request, and resolving (no) limits is a measurable share of a
    cheap request such as ``/livez``; pages and health checks have no limits, so they skip it.
    """

    limited_blueprints: frozenset[str] = frozenset()

    def __init__(self, *args, **kwargs):
        self._resolved: dict[tuple, list] = {}
        super().__init__(*args, **kwargs)

    def checks_request(self) -> bool:
        return request.blueprint in self.limited_blueprints

    def filter_limits(self, endpoint, blueprint, callable_name, in_middleware=False):
        """Which limits apply to an endpoint, worked out once per endpoint (Flask-Limiter
        resolves them again on every request, walking its exemptions and defaults). Only while
        the storage is up: during an outage the fallback limits are resolved as usual.

        The limits here are all per blueprint, fixed at start-up, and checked once per
        request (no view carries a limit of its own), so the answer cannot change."""
        if self.storage_dead:
            return self.stock_filter_limits(endpoint, blueprint, callable_name, in_middleware)
        key = (endpoint, blueprint, callable_name, in_middleware)
        found = self._resolved.get(key)
        if found is None:
            found = self.stock_filter_limits(endpoint, blueprint, callable_name, in_middleware)
            self._resolved[key] = found
        return found


class SweepingMemoryStorage(MemoryStorageAdapter):
    """limits' process-memory storage, swept of expired counters at most once a second, inline.

    The stock storage starts a new timer thread whenever the last one has finished, so under
    load nearly every request starts a thread and waits for it to run (what that cost:
    docs/performance.md). Counters expire on read all the same (``get`` checks the expiry),
    so the sweep only frees memory and may be late.
    """

    STORAGE_SCHEME = ["portal-memory"]
    SWEEP_EVERY = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.stop_timer()
        self._swept_at = time.monotonic()

    def schedule_expiry(self) -> None:  # replaces the per-call timer thread
        now = time.monotonic()
        if now - self._swept_at >= self.SWEEP_EVERY:
            self._swept_at = now
            self.expire_events()


def init_app(app) -> None:
    storage_uri = app.config["RATELIMIT_STORAGE_URI"]
    if storage_uri.startswith("memory://"):
        storage_uri = "portal-" + storage_uri
    options = {}
    client = redis_client(app)
    if client is not None and storage_uri == app.config["REDIS_URL"]:
        options["connection_pool"] = client.connection_pool
    shared = not storage_uri.startswith("portal-memory://")
    hooks_before = {name: list(funcs.get(None, ())) for name, funcs in _hook_lists(app)}
    limiter = PortalLimiter(
        get_remote_address,  # request.remote_addr, after ProxyFix applied PORTAL_TRUSTED_PROXIES
        app=app,
        storage_uri=storage_uri,
        storage_options=options,
        in_memory_fallback_enabled=shared,
        swallow_errors=shared,
        headers_enabled=True,
        on_breach=_count_refusal,
    )
    app.extensions["portal_limiter"] = limiter
    limited = [bp for bp in app.blueprints.values() if getattr(bp, RATE_LIMIT_ATTR, None)]
    for bp in limited:
        limiter.limit(app.config[getattr(bp, RATE_LIMIT_ATTR)])(bp)
    limiter.limited_blueprints = frozenset(bp.name for bp in limited)
    _only_where_limited(app, limiter, hooks_before)


def _count_refusal(_limit) -> None:
    """A request refused by a limit, counted by its route family (the blueprint)."""
    metrics.rate_limited(request.blueprint or "none")


def _hook_lists(app):
    return (("after", app.after_request_funcs), ("teardown", app.teardown_request_funcs))


def _only_where_limited(app, limiter: PortalLimiter, hooks_before: dict) -> None:
    """Flask-Limiter's after-request (its headers) and teardown hooks run for every request;
    wrapped here so that they run only for the blueprints that carry limits (the others have
    nothing to add or release)."""
    for name, funcs in _hook_lists(app):
        hooks = funcs.get(None, [])
        for i, hook in enumerate(hooks):
            if hook not in hooks_before[name]:
                hooks[i] = _limited_only(limiter, hook, passes_response=name == "after")


def _limited_only(limiter: PortalLimiter, hook, passes_response: bool):
    def only_where_limited(arg):
        if request.blueprint in limiter.limited_blueprints:
            return hook(arg)
        return arg if passes_response else None

    return only_where_limited
