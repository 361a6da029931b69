"""`make bench`'s growth table: every size of one database side by side, and the cost per
request at the largest size against the smallest, judged against the issue's 1.25x."""

from __future__ import annotations

from scripts.bench.report import growth_rows, short
from scripts.bench.routes import Result, Route


def report(users: int, ratios: dict[str, float], p99: float = 10.0) -> dict:
    results = {}
    for key, ratio in {"bare": 1.0, **ratios}.items():
        route = Route(key, f"/{key}", f"/{key}", server="bare" if key == "bare" else "portal")
        results[key] = Result(route, runs=[{"rps": 1000 * ratio, "p99": p99}], ratio=ratio)
    return {"database": "sqlite", "users": users, "results": results}


def test_the_growth_table_has_every_size_and_judges_the_cost_from_smallest_to_largest():
    reports = [
        report(1_000_000, {"devices": 0.24, "search": 0.15}, p99=30.0),
        report(1000, {"devices": 0.25, "search": 0.25}),
        report(100_000, {"devices": 0.25, "search": 0.2}, p99=20.0),
    ]
    header, rows = growth_rows(reports)
    assert header == [
        "route",
        "x bare 1k",
        "x bare 100k",
        "x bare 1M",
        "p99 ms 1k",
        "p99 ms 100k",
        "p99 ms 1M",
        "cost 1M/1k",
        "target",
    ]
    by_route = {row[0]: row for row in rows}
    assert set(by_route) == {"/devices", "/search"}  # not the bare route itself
    assert by_route["/devices"][1:] == [
        "0.250",
        "0.250",
        "0.240",
        "10.0",
        "20.0",
        "30.0",
        "1.04x",
        "≤ 1.25x: met",
    ]
    assert by_route["/search"][-2:] == ["1.67x", "≤ 1.25x: NOT MET"]


def test_a_route_missing_at_one_size_gets_no_verdict():
    small = report(1000, {"devices": 0.25})
    large = report(1_000_000, {"devices": 0.25})
    large["results"]["devices"].skipped = "not served (404)"
    _, rows = growth_rows([small, large])
    assert rows == [["/devices", "0.250", "-", "10.0", "-", "-", "?"]]


def test_sizes_are_named_shortly():
    assert [short(n) for n in (1000, 100_000, 1_000_000, 1234)] == ["1k", "100k", "1M", "1,234"]


def test_the_open_loop_p95_target_takes_the_worst_share_and_fails_on_a_timeout():
    from scripts.bench.routes import Result, Route, Target

    result = Result(Route("k", "label", "/"))
    target = Target("open-p95", 50)
    assert target.met(result) is None  # no open-loop runs: not judged
    result.open_loop = [
        {"share": 25, "p95": 12.0, "timeouts": 0},
        {"share": 50, "p95": 49.0, "timeouts": 0},
        {"share": None, "p95": 900.0, "timeouts": 0},  # a fixed rate has a target of its own
    ]
    assert target.met(result) is True
    result.open_loop.append({"share": 75, "p95": 51.0, "timeouts": 0})
    assert target.met(result) is False
    result.open_loop[-1] = {"share": 75, "p95": 10.0, "timeouts": 3}
    assert target.met(result) is False
