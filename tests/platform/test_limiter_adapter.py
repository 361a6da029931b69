"""portal.limiter_adapter reaches into Flask-Limiter's and limits' private names: these tests
fail, naming the name, the day an upgrade renames or reshapes one, or stops calling it."""

from __future__ import annotations

import inspect
import re
import threading
from pathlib import Path

import limits.storage.memory
import pytest
from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import MemoryStorage, storage_from_string

from portal.limiter_adapter import LimiterAdapter, MemoryStorageAdapter
from portal.ratelimit import SweepingMemoryStorage

PORTAL = Path(__file__).resolve().parents[2] / "portal"

# Every private method the adapter uses, with its parameters on the installed versions.
PRIVATE_METHODS = [
    (Limiter, "_check_request_limit", ["self", "callable_name", "in_middleware"]),
    (
        Limiter,
        "_Limiter__filter_limits",
        ["self", "endpoint", "blueprint", "callable_name", "in_middleware"],
    ),
    (MemoryStorage, "_MemoryStorage__schedule_expiry", ["self"]),
    (MemoryStorage, "_MemoryStorage__expire_events", ["self"]),
]


@pytest.mark.parametrize(("owner", "name", "parameters"), PRIVATE_METHODS)
def test_each_private_method_the_adapter_uses_is_there_with_its_parameters(owner, name, parameters):
    method = getattr(owner, name, None)
    assert callable(method), f"{owner.__module__}.{owner.__name__} has no {name} any more"
    assert list(inspect.signature(method).parameters) == parameters, f"{name} changed its shape"


def test_each_private_attribute_the_adapter_uses_is_there_with_its_type():
    limiter = Limiter(get_remote_address)
    assert isinstance(getattr(limiter, "_storage_dead", None), bool), "Limiter._storage_dead"
    storage = MemoryStorage()
    try:
        assert isinstance(getattr(storage, "timer", None), threading.Timer), "MemoryStorage.timer"
    finally:
        storage.timer.cancel()


@pytest.mark.parametrize(
    ("adapter", "library", "ours"),
    [
        (
            LimiterAdapter,
            Limiter,
            {"checks_request", "filter_limits", "stock_filter_limits", "storage_dead"},
        ),
        (MemoryStorageAdapter, MemoryStorage, {"stop_timer", "expire_events", "schedule_expiry"}),
    ],
)
def test_the_adapters_own_names_shadow_nothing_of_the_library(adapter, library, ours):
    assert ours <= set(vars(adapter)), adapter
    assert {name for name in ours if hasattr(library, name)} == set()


class _Recording(LimiterAdapter):
    def __init__(self, *args, checks: bool, **kwargs):
        self.checks, self.calls = checks, []
        super().__init__(*args, **kwargs)

    def checks_request(self) -> bool:
        self.calls.append("checks_request")
        return self.checks

    def filter_limits(self, *args):
        self.calls.append("filter_limits")
        return super().filter_limits(*args)


def _limited_app(checks: bool) -> tuple[Flask, _Recording]:
    app = Flask(__name__)
    app.get("/")(lambda: "ok")
    limiter = _Recording(
        get_remote_address,
        checks=checks,
        app=app,
        default_limits=["1 per minute"],
        storage_uri="memory://",
    )
    return app, limiter


def test_flask_limiter_still_asks_the_adapter_whether_to_check_and_which_limits():
    app, limiter = _limited_app(checks=True)
    client = app.test_client()
    assert client.get("/").status_code == 200
    assert limiter.calls == ["checks_request", "filter_limits"]
    assert not limiter.storage_dead
    assert client.get("/").status_code == 429  # the stock limits, as Flask-Limiter found them


def test_a_request_the_adapter_does_not_check_is_never_limited():
    app, limiter = _limited_app(checks=False)
    client = app.test_client()
    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 200]
    assert limiter.calls == ["checks_request"] * 3


class _Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


def test_limits_still_calls_the_storage_hook_and_the_sweep_still_drops_expired_counters(
    monkeypatch,
):
    calls = []

    class Recording(MemoryStorageAdapter):
        def schedule_expiry(self) -> None:
            calls.append("schedule_expiry")

    clock = _Clock()
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    storage = Recording()
    storage.stop_timer()
    storage.timer.join(1)
    assert not storage.timer.is_alive()
    storage.incr("k", expiry=10)
    assert calls == ["schedule_expiry"]
    clock.now += 10
    storage.expire_events()
    assert "k" not in storage.storage


def test_the_portal_storage_scheme_is_the_sweeping_storage_and_memory_stays_stock():
    assert type(storage_from_string("portal-memory://")) is SweepingMemoryStorage
    stock = storage_from_string("memory://")
    stock.timer.cancel()
    assert type(stock) is MemoryStorage


# Flask-Limiter's and limits' private names: a leading underscore on one of their classes, a
# name-mangled one, a private module, or the memory storage's timer.
_PRIVATE = re.compile(
    r"_(?:Limiter|MemoryStorage)__\w+|\._(?:storage_dead|check_request_limit)\b"
    r"|\bdef _check_request_limit\b|(?:flask_limiter|limits)(?:\.\w+)*\._\w+|\.timer\b"
)


def test_no_module_but_the_adapter_touches_those_private_names():
    touching = {
        str(path.relative_to(PORTAL.parent))
        for path in PORTAL.rglob("*.py")
        if _PRIVATE.search(path.read_text())
    }
    assert touching == {"portal/limiter_adapter.py"}
