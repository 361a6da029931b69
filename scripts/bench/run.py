"""One size on one database: serve a fresh copy, measure every route."""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path

from . import BENCH_DIR, BenchError, say
from .databases import Cluster, RunDatabase
from .dataset import target_subject
from .host import OtherLoad
from .load import drain, open_loop_rates, run_openloop, run_wrk
from .measure import (
    add_incident,
    add_responders,
    bench_bulk_job,
    count_statements,
    measure_event_lag,
    run_profile,
)
from .report import fmt
from .routes import INCIDENT_BLOCK, RESPONDERS_QUERY, Result, Route, check_answer, routes_for
from .serve import children_of, gunicorn, metrics_env, portal_env, prepare_callers, wait_http


def bench_size(
    args, wrk: str, script: Path, db: RunDatabase, idp, cluster: Cluster | None, stack
) -> dict:
    """Serve one prepared database and measure every route; returns the report's data."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db as portal_db

    spec = db.spec
    env = portal_env(args, db.url, idp.issuer)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        app = create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    logging.getLogger().setLevel(logging.WARNING)
    t0 = time.perf_counter()
    with app.app_context():
        upgrade()
        portal_db.session.remove()
    db.upgrade_seconds = time.perf_counter() - t0
    say(
        f"copied the dataset in {db.copy_seconds:.1f} s, migrated it to head in "
        f"{db.upgrade_seconds:.1f} s"
    )

    callers = prepare_callers(app, idp, spec.users)
    say(f"added {add_incident(app)} sign-ins from {INCIDENT_BLOCK}")
    say(f"added {add_responders(app)} users the search {RESPONDERS_QUERY!r} finds")
    routes = routes_for(
        callers.target_id, f"{target_subject(spec.users)}@example.test", callers.session_id
    )
    if args.routes:
        wanted = set(args.routes.split(",")) | {"bare"}
        routes = [r for r in routes if r.key in wanted]
    results = {r.key: Result(r) for r in routes}

    say("counting statements per request (test client, same database)")
    counts = count_statements(app, routes, callers)
    for route in routes:
        if route.server == "portal" and route.key not in counts:
            results[route.key].skipped = "not served (404)"
        elif route.key in counts:
            results[route.key].statements_first, results[route.key].statements = counts[route.key]

    (BENCH_DIR / "logs").mkdir(parents=True, exist_ok=True)
    logs = f"{spec.kind}-u{spec.users}"
    portal = gunicorn("portal", f"portal-{logs}", "wsgi:app", args.port, args, env, [])
    stack.callback(portal.stop)
    bare_args = ["--pythonpath", "scripts"]
    bare = gunicorn("bare", f"bare-{logs}", "bench_bare:app", args.port + 1, args, env, bare_args)
    stack.callback(bare.stop)
    # The same portal counting every request into PORTAL_METRICS_DIR (the production setting
    # under gunicorn), for GET /devices with metrics on and off in the same rounds.
    metrics = gunicorn(
        "metrics", f"metrics-{logs}", "wsgi:app", args.port + 2, args, metrics_env(env), []
    )
    stack.callback(metrics.stop)
    wait_http(f"http://127.0.0.1:{args.port}/healthz", portal)
    wait_http(f"http://127.0.0.1:{args.port + 1}/", bare)
    wait_http(f"http://127.0.0.1:{args.port + 2}/healthz", metrics)

    live = [r for r in routes if not results[r.key].skipped]

    def url_of(route: Route) -> str:
        port = args.port + {"bare": 1, "metrics": 2}.get(route.server, 0)
        return f"http://127.0.0.1:{port}{route.path}"

    def headers_of(route: Route) -> dict:
        headers = callers.headers.get(route.auth, {}) if route.auth else {}
        if route.revalidate:  # the tag as it is now (see Route.revalidate)
            import requests

            tag = requests.get(url_of(route), headers=headers, timeout=30).headers["ETag"]
            headers = {**headers, "If-None-Match": tag}
        return headers

    def check_over_http(when: str) -> None:
        import requests

        for route in live:
            r = requests.request(route.method, url_of(route), headers=headers_of(route), timeout=30)
            problem = check_answer(route, r.status_code, r.text)
            if problem:
                results[route.key].problems.append(f"{when}: {problem}")

    check_over_http("before")
    broken = [r for r in live if results[r.key].problems]
    if broken:
        for r in broken:
            say(f"!! {r.label}: {results[r.key].problems}")
        raise BenchError("routes answer errors before the load; see above and instance/bench/logs")

    if args.warmup > 0:
        say(f"warming up every route ({args.warmup:g} s each)")
        for route in live:
            run_wrk(wrk, script, url_of(route), headers_of(route), args, args.warmup, route.method)

    say(
        f"{args.rounds} rounds x {len(live)} routes x {args.duration:g} s "
        f"(wrk -t{args.threads} -c{args.connections}, gunicorn -w {args.workers})"
    )
    load_before = os.getloadavg()

    def our_pids() -> list[int]:
        pids = [portal.pid, bare.pid, metrics.pid]
        pids += [*children_of(portal.pid), *children_of(bare.pid), *children_of(metrics.pid)]
        if cluster is not None:
            pids += cluster.pids()
        return pids

    others = OtherLoad(our_pids)
    for n in range(args.rounds):
        for route in live:
            measured: dict = {}
            with others.measure(measured):
                got = run_wrk(
                    wrk, script, url_of(route), headers_of(route), args, args.duration, route.method
                )
            got.update(measured)
            results[route.key].runs.append(got)
            flag = ""
            if got["status"] or got["connect"] or got["read"] or got["write"] or got["timeout"]:
                flag = (
                    f"  !! non-2xx/3xx {got['status']}, socket errors "
                    f"{got['connect'] + got['read'] + got['write']}, timeouts {got['timeout']}"
                )
            say(
                f"  round {n + 1} {route.label:40} {got['rps']:8.0f} req/s  "
                f"p50 {got['p50']:6.1f} ms  p99 {got['p99']:7.1f} ms  "
                f"others {got['others_cpu']:3d}% CPU{flag}"
            )
    load_after = os.getloadavg()
    check_over_http("after")
    say("the audit events feed: commit to visible, 100 events from two writers")
    event_lag = measure_event_lag(
        app, f"http://127.0.0.1:{args.port}", callers.headers["admin-audit"]
    )
    say(
        f"  {event_lag['seen']} of {event_lag['events']} seen; lag p50 "
        f"{fmt(event_lag['p50_ms'])} ms, max {fmt(event_lag['max_ms'])} ms"
    )
    if args.rates:
        say(
            f"open-loop latency at {', '.join(f'{p}%' for p in args.rates)} of each route's "
            f"capacity, {args.open_seconds} s each (measured from each request's send time)"
        )
        for route in live:
            for rate, share, target in open_loop_rates(results[route.key], args.rates):
                got = run_openloop(
                    url_of(route),
                    headers_of(route),
                    rate,
                    args.open_seconds,
                    args.timeout * 5,
                    route.method,
                )
                got.update(share=share, target_p99=target)
                results[route.key].open_loop.append(got)
                drain(f"http://127.0.0.1:{args.port}/livez")
                say(
                    f"  {route.label:40} {rate:6d} req/s ({f'{share}%' if share else 'fixed'}) "
                    f"p50 {fmt(got['p50'])} ms  p95 {fmt(got.get('p95'))} ms  "
                    f"p99 {fmt(got['p99'])} ms  "
                    f"errors {got['errors'] + got['status']}  timeouts {got['timeouts']}"
                )

    bulk = None
    if not args.no_bulk_job:
        say("a bulk sign-out job, worked in batches of 100 as the worker does")
        bulk = bench_bulk_job(app)
        say(
            f"  bulk job: {bulk['sessions']:,} sessions of {bulk['users']:,} users made in "
            f"{bulk['create_seconds']} s, ended in {bulk['run_seconds']} s "
            f"({bulk['batches']} batches, {bulk['status']})"
        )

    profile: list[dict] = []
    if args.profile:
        tag = f"{spec.kind}-u{spec.users}"
        profile = run_profile(args, wrk, script, live, results, url_of, headers_of, portal, tag)

    bare_rps = results["bare"].median("rps")
    for result in results.values():
        rps = result.median("rps")
        if rps is not None and bare_rps:
            result.ratio = rps / bare_rps

    pg_version = cluster.version() if cluster else None
    return {
        "database": spec.kind,
        "database_version": pg_version or sqlite3.sqlite_version,
        "dataset": spec.describe(),
        "users": spec.users,
        "built": db.meta.get("timings"),
        "head": db.meta.get("head"),
        "copy_seconds": round(db.copy_seconds, 1),
        "upgrade_seconds": round(db.upgrade_seconds, 1),
        "load_before": load_before,
        "load_after": load_after,
        "results": results,
        "profile": profile,
        "bulk_job": bulk,
        "event_lag": event_lag,
    }
