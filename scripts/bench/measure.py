"""Measurements besides the load: statement counts, the events feed's lag, the bulk job, py-spy."""

from __future__ import annotations

import re
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from . import BENCH_DIR, ROOT, BenchError, say
from .load import run_wrk
from .routes import (
    BULK_JOB_SESSIONS,
    INCIDENT_SESSIONS,
    RESPONDERS,
    RESPONDERS_QUERY,
    Route,
    check_answer,
)
from .serve import Callers, py_spy


def add_incident(app, count: int = INCIDENT_SESSIONS) -> int:
    """Sign-ins from INCIDENT_BLOCK on the browsers of ``count`` users (one each, the last
    day), inserted with Core so the column default fills their address keys."""
    from sqlalchemy import insert, select

    from portal.extensions import db
    from portal.models import Device, UserSession, utcnow

    now = utcnow()
    with app.app_context():
        devices = db.session.execute(
            select(Device.id, Device.user_id).where(Device.kind == "browser").limit(count * 10)
        ).all()
        seen, rows = set(), []
        for device_id, user_id in devices:
            if user_id in seen:
                continue
            seen.add(user_id)
            n = len(rows)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "user_id": user_id,
                    "device_id": device_id,
                    "login_method": "oidc",
                    "created_at": now - timedelta(seconds=60 + n * 80),
                    "last_used_at": now,
                    "expires_at": now + timedelta(days=3650),
                    "absolute_expires_at": now + timedelta(days=3650),
                    "ip_address": f"203.0.113.{n % 254 + 1}",
                    "sign_in_flags": 0,
                }
            )
            if len(rows) == count:
                break
        db.session.execute(insert(UserSession.__table__), rows)
        db.session.commit()
        db.session.remove()
    return len(rows)


def add_responders(app, count: int = RESPONDERS) -> int:
    """``count`` users whose email, name and subject hold RESPONDERS_QUERY, which no generated
    user's does: the user search's answer of the same size at every size of dataset, so its
    growth is the cost of finding them, where ``user12``'s answer grows with the table."""
    from sqlalchemy import insert

    from portal.extensions import db
    from portal.models import User, utcnow

    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "issuer": "https://bench.invalid",
            "subject": f"{RESPONDERS_QUERY}-{n:02d}",
            "email": f"{RESPONDERS_QUERY}{n:02d}@example.test",
            "name": f"Incident {RESPONDERS_QUERY.title()} {n:02d}",
            "groups": ["staff"],
            "created_at": now,
            "last_seen_at": now - timedelta(minutes=n),
        }
        for n in range(count)
    ]
    with app.app_context():
        db.session.execute(insert(User.__table__), rows)
        db.session.commit()
        db.session.remove()
    return len(rows)


def bench_bulk_job(app, wanted: int = BULK_JOB_SESSIONS) -> dict:
    """A bulk sign-out of the ``wanted`` newest active sessions (or half of all, on a small
    dataset), made as the admin's request makes it and worked by
    ``operations.run_bulk_job_batch`` in its batches, each committed, as the background worker
    does; timed."""
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import UserSession
    from portal.services import operations
    from portal.services.incidents import bulk_jobs, search

    with app.app_context():
        active = db.session.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.ended_at.is_(None))
        )
        n = min(wanted, active // 2)
        since = db.session.scalar(
            select(UserSession.created_at)
            .where(UserSession.ended_at.is_(None))
            .order_by(UserSession.created_at.desc())
            .offset(n - 1)
            .limit(1)
        )
        t0 = time.perf_counter()
        job, _ = bulk_jobs.create_sign_out_job(
            search.parse_filter(since=since.isoformat(), active=True),
            created_by_id=None,
            actor_label="bench",
            actor_ip=None,
            via="cli",
            idempotency_key=None,
        )
        db.session.commit()
        made = time.perf_counter() - t0
        t1 = time.perf_counter()
        batches = 0
        while operations.run_bulk_job_batch():
            db.session.commit()
            batches += 1
        worked = time.perf_counter() - t1
        job = bulk_jobs.get_job(job.id)
        result = {
            "sessions": job.total,
            "users": job.users,
            "ended": job.ended,
            "status": job.status,
            "batches": batches,
            "create_seconds": round(made, 2),
            "run_seconds": round(worked, 1),
        }
        db.session.remove()
    return result


def count_statements(app, routes: list[Route], callers: Callers) -> dict[str, tuple[int, int]]:
    """SQL statements one request of each route sends, in this process with the test client
    against the same database: (the first request, the next one)."""
    from support.queries import count_queries

    from portal.extensions import db

    counts: dict[str, tuple[int, int]] = {}
    client = app.test_client(use_cookies=False)  # the Cookie header is ours to send
    with app.app_context():
        engine = db.engine
    for route in routes:
        if route.server != "portal":
            continue
        headers = callers.headers.get(route.auth, {}) if route.auth else {}
        if route.revalidate:
            tag = client.get(route.path, headers=headers).headers["ETag"]
            headers = {**headers, "If-None-Match": tag}
        got = []
        for _ in range(2):
            with count_queries(engine) as statements:
                response = client.open(route.path, method=route.method, headers=headers)
            problem = check_answer(route, response.status_code, response.get_data(as_text=True))
            if problem:
                if route.optional and response.status_code == 404:
                    break
                raise BenchError(f"{route.label}: {problem}")
            got.append(len(statements))
        if len(got) == 2:
            counts[route.key] = (got[0], got[1])
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return counts


# ----------------------------------------------------------------------------- events feed


def measure_event_lag(app, url: str, headers: dict, events: int = 100) -> dict:
    """How long a committed audit event takes to appear in GET /audit/events: two writers
    commit ``events`` events (each holding its transaction open a few milliseconds, so commits
    interleave), while a reader polls the feed over HTTP every 20 ms from its end, as a
    security tool would. Lag is from each commit to the answer that first held the event."""
    import random
    import threading

    import requests
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import AuditEvent
    from portal.services.audit import record as audit
    from portal.services.audit.feed import encode_cursor

    with app.app_context():
        last = db.session.execute(
            select(AuditEvent.xact_id, AuditEvent.id)
            .order_by(AuditEvent.xact_id.desc(), AuditEvent.id.desc())
            .limit(1)
        ).first()
        db.session.remove()
    next_url = f"{url}/audit/events?limit=1000&cursor={encode_cursor(tuple(last or (0, 0)))}"
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}

    def write(worker: int) -> None:
        rng = random.Random(worker)
        with app.app_context():
            for n in range(worker, events, 2):
                audit.record("bench_lag", actor=None, actor_label="bench", n=n)
                time.sleep(rng.uniform(0.001, 0.01))
                db.session.commit()
                committed[n] = time.monotonic()
                time.sleep(rng.uniform(0, 0.02))
            db.session.remove()

    writers = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for thread in writers:
        thread.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(seen) < events:
        answer = requests.get(next_url, headers=headers, timeout=30)
        answer.raise_for_status()
        now = time.monotonic()
        for event in answer.json():
            if event["action"] == "bench_lag":
                seen.setdefault(event["details"]["n"], now)
        link = answer.headers["Link"]
        next_url = link[1 : link.index(">")]
        time.sleep(0.02)
    for thread in writers:
        thread.join()
    lags = sorted((seen[n] - committed[n]) * 1000 for n in seen)
    return {
        "events": events,
        "seen": len(seen),
        "p50_ms": statistics.median(lags) if lags else None,
        "max_ms": lags[-1] if lags else None,
    }


# ----------------------------------------------------------------------------- profile


def run_profile(args, wrk, script, live, results, url_of, headers_of, portal, tag) -> list[dict]:
    """py-spy on both workers while wrk drives the slowest route (or --profile-route, or
    every route with --profile-route all); a text summary of each."""
    candidates = [r for r in live if r.server == "portal" and results[r.key].runs]
    if args.profile_route and args.profile_route != "all":
        candidates = [r for r in candidates if r.key == args.profile_route]
    elif not args.profile_route:
        candidates = sorted(candidates, key=lambda r: results[r.key].median("rps") or 0)[:1]
    profiles = []
    for route in candidates:
        out = BENCH_DIR / f"profile-{tag}-{route.key}.txt"
        say(f"py-spy on the workers while wrk drives {route.label} ({args.profile_seconds:g} s)")
        spy = subprocess.Popen(
            [
                py_spy(),
                "record",
                "--pid",
                str(portal.pid),
                "--subprocesses",
                "--duration",
                str(int(args.profile_seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(out),
                "--nonblocking",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(1.0)
        run_wrk(
            wrk, script, url_of(route), headers_of(route), args, args.profile_seconds, route.method
        )
        spy_out, _ = spy.communicate(timeout=120)
        if spy.returncode != 0 or not out.exists():
            say(f"py-spy failed: {spy_out.strip()[-500:]}")
            profiles.append({"route": route.label, "error": spy_out.strip()[-500:]})
            continue
        summary = summarise_stacks(out)
        profiles.append({"route": route.label, "file": str(out.relative_to(ROOT)), **summary})
    return profiles


def summarise_stacks(path: Path, top: int = 15) -> dict:
    """Self and inclusive shares of frames in py-spy's collapsed stacks (``a;b;c count``).

    Shares are of the workers' main threads (the requests, and gunicorn around them).
    Background threads are counted apart: py-spy takes a thread that wakes every few
    milliseconds (Flask-Limiter's in-memory storage runs such a timer) for a busy one.
    """
    self_time: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = background = in_requests = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        if "Thread._bootstrap" in stack:
            background += n
            continue
        total += n
        in_requests += n if "handle_request" in stack else 0
        frames = [_frame(f) for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        self_time[frames[-1]] = self_time.get(frames[-1], 0) + n
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + n

    def ranked(table: dict[str, int], keep: Callable[[str], bool]) -> list[tuple[str, float]]:
        rows = sorted(((k, v) for k, v in table.items() if keep(k)), key=lambda kv: -kv[1])
        return [(k, round(100.0 * v / max(1, total), 1)) for k, v in rows[:top]]

    return {
        "samples": total,
        "background_samples": background,
        "in_requests": round(100.0 * in_requests / max(1, total), 1),
        "self": ranked(self_time, lambda k: True),
        "portal_inclusive": ranked(inclusive, lambda k: "portal/" in k),
        "libraries_inclusive": ranked(
            inclusive,
            lambda k: any(s in k for s in ("sqlalchemy/", "flask", "jinja2/", "werkzeug/")),
        ),
    }


def _frame(raw: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file path from the package root)``."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", raw.strip())
    if not match:
        return raw.strip()
    func, path = match.groups()
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{func} ({path})"
