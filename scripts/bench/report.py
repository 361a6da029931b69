"""The report: tables, Markdown, growth across sizes, the saved results."""

from __future__ import annotations

import json
import statistics
from datetime import datetime
from pathlib import Path

from . import BENCH_DIR
from .routes import Result


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def verdicts(result: Result) -> str:
    parts = []
    for target in result.route.targets:
        met = target.met(result)
        word = "?" if met is None else "met" if met else "NOT MET"
        parts.append(f"{target.text()}: {word}")
    return "; ".join(parts)


def table_rows(report: dict) -> list[list[str]]:
    rows = []
    for result in report["results"].values():
        r = result.route
        if result.skipped:
            rows.append([r.label, result.skipped, "", "", "", "", "", "", verdicts(result)])
            continue
        stmts = "-" if r.server == "bare" else fmt(result.statements, "d")
        if result.statements_first not in (None, result.statements):
            stmts += f" (first {result.statements_first})"
        problems = []
        if result.errors:
            problems.append(f"!! {result.errors} errors")
        if result.timeouts:
            problems.append(f"!! {result.timeouts} timeouts")
        if result.problems:
            problems.append("!! " + "; ".join(result.problems))
        rows.append(
            [
                r.label,
                fmt(result.median("rps"), ",.0f"),
                fmt(result.ratio, ".2f"),
                fmt(result.median("p50")),
                fmt(result.median("p95")),
                fmt(result.median("p99")),
                stmts,
                ", ".join(problems) or "0",
                verdicts(result),
            ]
        )
    return rows


HEADER = [
    "route",
    "req/s",
    "x bare",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "statements",
    "errors",
    "targets",
]


OPEN_LOOP_HEADER = [
    "route",
    "req/s",
    "of capacity",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "failed",
    "target",
]


def open_loop_rows(report: dict) -> list[list[str]]:
    rows = []
    for result in report["results"].values():
        for run in result.open_loop:
            target = run.get("target_p99")
            verdict = ""
            if target is not None:
                met = run["p99"] is not None and run["p99"] <= target and not run["timeouts"]
                verdict = f"p99 ≤ {target:g} ms: {'met' if met else 'NOT MET'}"
            rows.append(
                [
                    result.route.label,
                    f"{run['rate']:,}",
                    f"{run['share']}%" if run.get("share") else "fixed",
                    fmt(run["p50"]),
                    fmt(run.get("p95")),
                    fmt(run["p99"]),
                    fmt(run["max"]),
                    str(run["errors"] + run["status"] + run["timeouts"]),
                    verdict,
                ]
            )
    return rows


def print_table(rows: list[list[str]], header: list[str] = HEADER) -> None:
    """Columns padded (the first to the left, the rest to the right), the last left as it is."""
    last = len(header) - 1
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(last)]
    for row in [header, *rows]:
        cells = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(last)
        ]
        print("  ".join(cells) + "  " + row[last])


def markdown(rows: list[list[str]], header: list[str] = HEADER) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


def print_report(report: dict, args, host: dict) -> str:
    rows = table_rows(report)
    built = report["built"] or {}
    print()
    head = report.get("head") or {}
    print(
        f"== {report['database']} {report['database_version']}: {report['dataset']} "
        f"(dataset built in {built.get('total', 0):.0f} s, "
        f"migrated to head in {head.get('seconds', 0):.0f} s, both once)"
    )
    print(
        f"   wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, "
        f"{args.rounds} interleaved rounds, medians; gunicorn -w {args.workers}"
    )
    print(f"   code: {host['code']}")
    others = [r["others_cpu"] for x in report["results"].values() for r in x.runs]
    if others:
        print(
            f"   other processes took {statistics.median(others):.0f}% of the CPU during a "
            f"median wrk run (max {max(others)}%)"
        )
    print(
        f"   machine: {host['cores']} cores ({host['cpu']}), {host['memory']}; load average "
        f"before {' '.join(f'{x:.2f}' for x in report['load_before'])}, after "
        f"{' '.join(f'{x:.2f}' for x in report['load_after'])}"
    )
    print()
    print_table(rows)
    open_rows = open_loop_rows(report)
    if open_rows:
        print("\nOpen loop: latency at fixed rates, from each request's scheduled send time")
        print_table(open_rows, OPEN_LOOP_HEADER)
    lag = report.get("event_lag")
    if lag:
        print(
            f"\nGET /audit/events, commit to visible (polled every 20 ms): {lag['seen']} of "
            f"{lag['events']} events seen, p50 {fmt(lag['p50_ms'])} ms, max {fmt(lag['max_ms'])} ms"
        )
    note = metrics_note(report)
    if note:
        print("\n" + note)
    for profile in report.get("profile") or []:
        if not profile.get("samples"):
            continue
        print()
        print(
            f"py-spy, {profile['route']} ({profile['samples']} samples of the workers' main "
            f"threads, {profile['in_requests']}% of them in handle_request; "
            f"{profile['background_samples']} more in background threads; {profile['file']}):"
        )
        print("  self time (on CPU; native code counts for the Python frame calling it):")
        for name, share in profile["self"][:10]:
            print(f"    {share:5.1f}%  {name}")
        print("  portal functions, inclusive:")
        for name, share in profile["portal_inclusive"][:10]:
            print(f"    {share:5.1f}%  {name}")
    md = markdown(rows) + (f"\n\n{note}" if note else "")
    if open_rows:
        return md + "\n\n" + markdown(open_rows, OPEN_LOOP_HEADER)
    return md


def metrics_note(report: dict) -> str | None:
    """GET /devices with metrics on and off, from the same interleaved rounds, and the ratio."""
    results = report["results"]
    off, on = results.get("devices"), results.get("devices-metrics")
    if off is None or on is None or not off.median("rps") or not on.median("rps"):
        return None
    ratio = on.median("rps") / off.median("rps")
    return (
        f"Metrics: GET /devices with metrics on (PORTAL_METRICS_DIR and PORTAL_METRICS_TOKEN) "
        f"{fmt(on.median('rps'), ',.0f')} req/s, p99 {fmt(on.median('p99'))} ms; off "
        f"{fmt(off.median('rps'), ',.0f')} req/s, p99 {fmt(off.median('p99'))} ms: on/off "
        f"{ratio:.3f}"
    )


# A route's cost per request (the bare route's req/s over its own, both measured in the same
# run) may grow this much from the smallest size to the largest (issue 21).
GROWTH_LIMIT = 1.25


def growth_rows(reports: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Each route at every size of one database, smallest first: its req/s as a share of the
    bare route's, its p99, and its cost at the largest size against the smallest (how many
    times the work per request, as the ratio to the bare route measures it) with a verdict."""
    sizes = sorted(reports, key=lambda r: r["users"])
    small, large = sizes[0], sizes[-1]
    header = ["route"]
    header += [f"x bare {short(r['users'])}" for r in sizes]
    header += [f"p99 ms {short(r['users'])}" for r in sizes]
    header += [f"cost {short(large['users'])}/{short(small['users'])}", "target"]
    rows = []
    for key, first in small["results"].items():
        if first.route.server == "bare":
            continue
        results = [r["results"].get(key) for r in sizes]
        row = [first.route.label]
        row += [fmt(r.ratio, ".3f") if r and not r.skipped else "-" for r in results]
        row += [fmt(r.median("p99")) if r and not r.skipped else "-" for r in results]
        a, b = results[0], results[-1]
        if a and b and a.ratio and b.ratio and not (a.skipped or b.skipped):
            cost = a.ratio / b.ratio
            word = "met" if cost <= GROWTH_LIMIT else "NOT MET"
            row += [f"{cost:.2f}x", f"≤ {GROWTH_LIMIT:g}x: {word}"]
        else:
            row += ["-", "?"]
        rows.append(row)
    return header, rows


def short(users: int) -> str:
    """1000 -> 1k, 100000 -> 100k, 1000000 -> 1M (other sizes as they are)."""
    for unit, word in ((1_000_000, "M"), (1000, "k")):
        if users >= unit and users % unit == 0:
            return f"{users // unit:,}{word}"
    return f"{users:,}"


def growth(reports: list[dict]) -> str | None:
    """The growth table of one database's sizes, printed; returns it in Markdown."""
    if len(reports) < 2:
        return None
    header, rows = growth_rows(reports)
    sizes = ", ".join(f"{r['users']:,}" for r in sorted(reports, key=lambda r: r["users"]))
    print()
    print(
        f"growth on {reports[0]['database']}, {sizes} users: req/s as a share of the bare "
        f"route's, p99, and the cost per request at the largest size against the smallest"
    )
    print_table(rows, header)
    return markdown(rows, header)


def side_by_side(reports: list[dict]) -> None:
    """Both databases in one table per size, as issue 9 lays it out."""
    for users in sorted({r["users"] for r in reports}, reverse=True):
        by_kind = {r["database"]: r for r in reports if r["users"] == users}
        if len(by_kind) < 2:
            continue
        lite, pg = by_kind["sqlite"]["results"], by_kind["postgresql"]["results"]
        print()
        print(f"side by side, {by_kind['sqlite']['dataset']}:")
        rows = [
            "| route | SQLite req/s (x bare) | PostgreSQL req/s (x bare) | p99 ms | statements |",
            "|---|---|---|---|---|",
        ]
        for key, a in lite.items():
            b = pg.get(key)
            if b is None:
                continue

            def cell(r: Result) -> str:
                if r.skipped:
                    return r.skipped
                flag = f", {r.timeouts} timeouts" if r.timeouts else ""
                flag += f", {r.errors} errors" if r.errors else ""
                return f"{fmt(r.median('rps'), ',.0f')} ({fmt(r.ratio, '.2f')}){flag}"

            p99 = f"{fmt(a.median('p99'))} / {fmt(b.median('p99'))}"
            stmts = "-" if a.route.server == "bare" else f"{fmt(a.statements, 'd')}"
            if b.statements != a.statements and a.route.server != "bare":
                stmts += f" / {fmt(b.statements, 'd')}"
            rows.append(f"| {a.route.label} | {cell(a)} | {cell(b)} | {p99} | {stmts} |")
        print("\n".join(rows))


def save(report: dict, args, host: dict, md: str) -> Path:
    out = BENCH_DIR / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = out / f"{stamp}-{report['database']}-u{report['users']}.json"
    data = {
        **{k: v for k, v in report.items() if k != "results"},
        "machine": host,
        "args": vars(args),
        "markdown": md,
        "results": {
            k: {
                "label": r.route.label,
                "path": r.route.path,
                "statements": r.statements,
                "statements_first": r.statements_first,
                "ratio": r.ratio,
                "runs": r.runs,
                "open_loop": r.open_loop,
                "problems": r.problems,
                "skipped": r.skipped,
                "targets": verdicts(r),
            }
            for k, r in report["results"].items()
        },
    }
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def save_growth(database: str, md: str) -> Path:
    out = BENCH_DIR / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{database}-growth.md"
    path.write_text(md + "\n")
    return path
