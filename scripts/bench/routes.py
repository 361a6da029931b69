"""The routes measured, their targets, and what one route's measurements hold."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Target:
    what: str  # ratio | p95 | p99 | statements | timeouts | open-p95
    limit: float

    def text(self) -> str:
        return {
            "ratio": f"≥ {self.limit:g}x bare",
            "p95": f"p95 ≤ {self.limit:g} ms",
            "p99": f"p99 ≤ {self.limit:g} ms",
            "statements": f"≤ {self.limit:g} statements",
            "timeouts": "no timeouts",
            "open-p95": f"p95 ≤ {self.limit:g} ms at every fixed share of capacity",
        }[self.what]

    def met(self, row: Result) -> bool | None:
        if row.skipped:
            return False  # a route the portal does not serve meets nothing
        value = {
            "ratio": row.ratio,
            "p95": row.median("p95"),
            "p99": row.median("p99"),
            "statements": row.statements,
            "timeouts": sum(r["timeout"] for r in row.runs) if row.runs else None,
            "open-p95": row.worst_open_loop_p95(),
        }[self.what]
        if value is None:
            return None
        return value >= self.limit if self.what == "ratio" else value <= self.limit


@dataclass
class Route:
    key: str
    label: str
    path: str
    server: str = "portal"  # portal | bare | metrics (the portal counting into PORTAL_METRICS_DIR)
    auth: str | None = None  # user-token | admin-token | user-cookie | admin-cookie
    marker: str | None = None
    targets: list[Target] = field(default_factory=list)
    optional: bool = False
    # Open-loop rates (req/s) measured besides the shares of capacity, each with a p99 target.
    fixed_rates: tuple[tuple[int, float], ...] = ()
    # An unchanged poll: sent with If-None-Match of the ETag a GET got just before each run
    # (the token's once-a-minute activity stamp moves it), so it answers 304.
    revalidate: bool = False
    method: str = "GET"


def routes_for(target_id: str, target_email: str, session_id: str = "id") -> list[Route]:
    return [
        Route("bare", "bare Flask route", "/", server="bare", marker='"status"'),
        Route("livez", "/livez", "/livez", targets=[Target("ratio", 0.8)], optional=True),
        Route("healthz", "/healthz", "/healthz"),
        Route(
            "devices",
            "GET /devices (user token)",
            "/devices",
            auth="user-token",
            marker='"devices"',
            targets=[Target("ratio", 0.35), Target("p99", 25), Target("statements", 3)],
        ),
        Route(
            "devices-metrics",
            "GET /devices, metrics on (user token)",
            "/devices",
            server="metrics",
            auth="user-token",
            marker='"devices"',
        ),
        Route(
            "devices-304",
            "GET /devices, unchanged: 304 (user token)",
            "/devices",
            auth="user-token",
            revalidate=True,
            targets=[Target("ratio", 0.6), Target("statements", 2)],
        ),
        Route(
            "heartbeat",
            "POST /sessions/{id}/heartbeat (user token)",
            f"/sessions/{session_id}/heartbeat",
            method="POST",
            auth="user-write-token",
            marker='"newExpiry"',
            targets=[Target("ratio", 0.35), Target("statements", 2)],
        ),
        Route(
            "user-devices",
            "GET /devices/users/{id} (admin token)",
            f"/devices/users/{target_id}",
            auth="admin-token",
            marker='"id"',
            targets=[Target("ratio", 0.25), Target("statements", 4)],
        ),
        Route(
            "my-devices",
            "My devices GET / (user cookie)",
            "/",
            auth="user-cookie",
            marker='id="devices"',
            targets=[Target("ratio", 0.2), Target("p95", 30)],
            fixed_rates=((300, 25.0),),
        ),
        Route(
            "user-page",
            "/admin/users/{id} (admin cookie)",
            f"/admin/users/{target_id}",
            auth="admin-cookie",
            marker=target_email,
            targets=[Target("ratio", 0.1)],
        ),
        Route(
            "sign-ins",
            f"/admin/sign-ins?ip={INCIDENT_BLOCK} (admin cookie)",
            f"/admin/sign-ins?ip={INCIDENT_BLOCK}",
            auth="admin-cookie",
            marker="data-session-id",
            # Latency at fixed rates (open loop) besides the closed loop's, whose p95 at 16
            # connections is mostly queueing: 16 / capacity (docs/performance.md).
            targets=[Target("p95", 50), Target("open-p95", 50), Target("timeouts", 0)],
        ),
        Route(
            "api-sign-ins",
            f"GET /sign-ins?ip={INCIDENT_BLOCK} (admin token)",
            f"/sign-ins?ip={INCIDENT_BLOCK}",
            auth="admin-token",
            marker='"signedInAt"',
            targets=[Target("p95", 50), Target("open-p95", 50), Target("timeouts", 0)],
        ),
        Route(
            "search",
            "/admin/users?q=user12 (admin cookie)",
            "/admin/users?q=user12",
            auth="admin-cookie",
            marker="user12",
            targets=[Target("p95", 50), Target("timeouts", 0)],
        ),
        Route(
            "search-50",
            f"/admin/users?q={RESPONDERS_QUERY} (50 at every size; admin cookie)",
            f"/admin/users?q={RESPONDERS_QUERY}",
            auth="admin-cookie",
            marker=f"{RESPONDERS_QUERY}49@",
            targets=[Target("p95", 50), Target("timeouts", 0)],
        ),
    ]


@dataclass
class Result:
    route: Route
    statements: int | None = None
    statements_first: int | None = None
    runs: list[dict] = field(default_factory=list)
    ratio: float | None = None
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None
    open_loop: list[dict] = field(default_factory=list)

    def median(self, key: str) -> float | None:
        values = [r[key] for r in self.runs if r.get(key) is not None]
        return statistics.median(values) if values else None

    @property
    def errors(self) -> int:
        return sum(r["status"] + r["connect"] + r["read"] + r["write"] for r in self.runs)

    @property
    def timeouts(self) -> int:
        return sum(r["timeout"] for r in self.runs)

    def worst_open_loop_p95(self) -> float | None:
        """The highest p95 of the open-loop runs at shares of capacity (infinite when one of
        them had timeouts or no answers); None without such runs."""
        shares = [r for r in self.open_loop if r.get("share")]
        if not shares:
            return None
        if any(r["timeouts"] or r.get("p95") is None for r in shares):
            return float("inf")
        return max(r["p95"] for r in shares)


# The attacker's block of the sign-in search's routes: INCIDENT_SESSIONS sign-ins from it, of
# as many users, added to each run's copy (the cached datasets predate the search).
INCIDENT_BLOCK = "203.0.113.0/24"
INCIDENT_SESSIONS = 1000
# The user search's answer of one size at every size of dataset (``search-50``): RESPONDERS
# users added to each run's copy, whose email, name and subject hold RESPONDERS_QUERY.
RESPONDERS = 50
RESPONDERS_QUERY = "responder"
BULK_JOB_SESSIONS = 50_000


def check_answer(route: Route, status: int, body: str) -> str | None:
    """Why an answer is not the page or document the route should give; None when it is."""
    expected = 304 if route.revalidate else 200
    if status != expected:
        return f"answered {status}: {body[:200]!r}"
    if route.marker and route.marker not in body:
        return f"answered 200 without {route.marker!r}: {body[:200]!r}"
    return None
