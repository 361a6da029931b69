"""The one place that reaches into Flask-Limiter's and limits' private names.

``portal.ratelimit`` changes three things neither library offers a public way to change: which
requests Flask-Limiter checks at all, how often it resolves an endpoint's limits, and the timer
thread limits' memory storage starts. Each private name it needs is used here only, behind a
public method that ``ratelimit`` overrides or calls. ``tests/platform/test_limiter_adapter.py``
checks that every one of them still exists with the shape used here (and that the overrides are
still called), so an upgrade that renames or reshapes one fails there, by name, rather than quietly
undoing what ``ratelimit`` changes. mypy, which does not mangle ``__names``, sees none of the
name-mangled ones: each use says so (``type: ignore[attr-defined]``, "name-mangled").
"""

from __future__ import annotations

from flask_limiter import Limiter
from limits.storage import MemoryStorage


class LimiterAdapter(Limiter):
    """Flask-Limiter, with the private steps ``ratelimit`` changes as public methods."""

    def checks_request(self) -> bool:
        """Whether this request's limits are checked at all (each one, as Flask-Limiter does)."""
        return True

    def filter_limits(self, endpoint, blueprint, callable_name, in_middleware=False) -> list:
        """The limits that apply to an endpoint (Flask-Limiter's own answer, unless overridden)."""
        return self.stock_filter_limits(endpoint, blueprint, callable_name, in_middleware)

    def stock_filter_limits(self, endpoint, blueprint, callable_name, in_middleware=False) -> list:
        """Flask-Limiter's own resolution of the limits that apply to an endpoint."""
        return Limiter._Limiter__filter_limits(  # type: ignore[attr-defined]  # (name-mangled)
            self, endpoint, blueprint, callable_name, in_middleware
        )

    @property
    def storage_dead(self) -> bool:
        """Whether the shared storage is unreachable (the limits counted in the fallback)."""
        return self._storage_dead

    # Flask-Limiter's private steps, routed to the methods above.

    def _check_request_limit(self, *args, **kwargs):
        if not self.checks_request():
            return None
        return super()._check_request_limit(*args, **kwargs)

    def _Limiter__filter_limits(self, endpoint, blueprint, callable_name, in_middleware=False):
        return self.filter_limits(endpoint, blueprint, callable_name, in_middleware)


class MemoryStorageAdapter(MemoryStorage):
    """limits' process-memory storage, with its expiry timer as public methods."""

    def stop_timer(self) -> None:
        """Cancels the timer thread the storage starts when it is made."""
        self.timer.cancel()

    def expire_events(self) -> None:
        """Drops the counters whose window has run out (what the timer thread does)."""
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]  # (name-mangled)

    def schedule_expiry(self) -> None:
        """Called after each change of a counter: the stock storage starts a timer thread
        unless one is running."""
        MemoryStorage._MemoryStorage__schedule_expiry(self)  # type: ignore[attr-defined]  # (name-mangled)

    # limits' private step, routed to the method above.

    def _MemoryStorage__schedule_expiry(self) -> None:
        self.schedule_expiry()
