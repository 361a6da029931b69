"""The command line: options, then every build, then every run."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

from . import BENCH_DIR, ROOT, say
from . import __doc__ as PACKAGE_DOC
from .databases import (
    SERVE_SETTINGS,
    Cluster,
    postgres_head,
    postgres_run_copy,
    sqlite_head,
    sqlite_run_copy,
)
from .dataset import DEVICES_PER_USER, LARGE, LARGE_DEVICES_PER_USER, DatasetSpec
from .host import cpu_busy, machine
from .load import WRK_SCRIPT
from .report import growth, print_report, save, save_growth, side_by_side
from .routes import routes_for
from .run import bench_size
from .serve import preflight, start_idp


def _percentages(text: str) -> list[int]:
    shares = [int(x) for x in text.split(",") if x.strip()]
    if any(not 0 <= x <= 100 for x in shares):
        raise argparse.ArgumentTypeError("shares are percentages from 0 to 100")
    return [x for x in shares if x]


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench",
        description=PACKAGE_DOC.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--users",
        default="100000",
        help="bulk users; a comma list runs each size (default 100000)",
    )
    parser.add_argument(
        "--devices-per-user",
        type=int,
        help=f"browsers per bulk user (default {DEVICES_PER_USER}, {LARGE_DEVICES_PER_USER} "
        f"from {LARGE:,} users), each with an ended and an open session",
    )
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--both", action="store_true", help="SQLite, then PostgreSQL")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds per route first (0: none)")
    parser.add_argument(
        "--rates",
        type=_percentages,
        default=[25, 50, 75],
        help="open-loop rates as %% of each route's measured capacity (comma list; 0: none)",
    )
    parser.add_argument("--open-seconds", type=int, default=10, help="seconds per open-loop run")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c")
    parser.add_argument("--timeout", type=float, default=2, help="wrk --timeout, seconds")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn -w")
    parser.add_argument("--port", type=int, default=9480, help="portal port (bare: +1)")
    parser.add_argument("--idp-port", type=int, default=9477, help="fixed: datasets carry it")
    parser.add_argument("--routes", help="only these route keys (comma list), e.g. devices")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the dataset")
    parser.add_argument(
        "--no-bulk-job", action="store_true", help="skip the 50,000-session bulk sign-out"
    )
    parser.add_argument(
        "--build-only",
        action="store_true",
        help="build the dataset (and its copy at head) and stop",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra PORTAL_ setting for the portal (repeatable)",
    )
    parser.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a PostgreSQL setting while serving (repeatable), e.g. synchronous_commit=off",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the slowest route")
    parser.add_argument("--profile-route", help="py-spy this route key instead, or all")
    parser.add_argument("--profile-seconds", type=int, default=10)
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(x.replace("_", "")) for x in str(args.users).split(",")]
    except ValueError:
        parser.error("--users takes whole numbers, e.g. 100000 or 100000,1000")
    if any(n < 1 for n in args.sizes):
        parser.error("--users must be at least 1")
    if args.devices_per_user is not None and args.devices_per_user < 1:
        parser.error("--devices-per-user must be at least 1")
    keys = [r.key for r in routes_for("id", "email")]
    unknown = set((args.routes or "").split(",")) - set(keys) - {""}
    if unknown or args.profile_route not in (None, "all", *keys):
        parser.error(f"route keys are {', '.join(keys)} (and all for --profile-route)")
    args.profile = args.profile or bool(args.profile_route)
    if args.duration < 1 or args.rounds < 1 or args.warmup < 0 or args.profile_seconds < 1:
        parser.error("--duration, --rounds and --profile-seconds are whole numbers >= 1")
    return args


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # so every finally and ExitStack callback runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    (BENCH_DIR / "logs").mkdir(parents=True, exist_ok=True)
    kinds = ["sqlite", "postgresql"] if args.both else ["postgresql" if args.postgres else "sqlite"]
    issuer = f"http://127.0.0.1:{args.idp_port}"
    serve = SERVE_SETTINGS + args.pg_setting
    wrk = preflight(args)
    host = machine()
    busy = cpu_busy()
    say(
        f"machine: {host['cores']} cores, {host['cpu']}; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; CPU busy before start {busy:.0f}%"
    )
    host["busy_before"] = round(busy)
    reports: list[dict] = []
    failed = False
    with contextlib.ExitStack() as stack:
        cluster = None
        if "postgresql" in kinds:
            cluster = Cluster(BENCH_DIR / "pg")
            stack.callback(cluster.stop)
            cluster.start(serve)
            host["postgresql"] = cluster.version()
        specs = [
            DatasetSpec.for_size(kind, users, issuer, args.devices_per_user)
            for kind in kinds
            for users in args.sizes
        ]
        for spec in specs:  # every build (and migration to head) first, then the runs
            if spec.kind == "postgresql":
                postgres_head(spec, cluster, args.rebuild, serve)
            else:
                sqlite_head(spec, args.rebuild)
        if args.build_only:
            return 0
        script = Path(tempfile.mkdtemp(prefix="portal-bench-")) / "report.lua"
        stack.callback(shutil.rmtree, script.parent, True)
        script.write_text(WRK_SCRIPT)
        idp = start_idp(args.idp_port)
        stack.callback(idp.stop)
        for spec in specs:
            say(f"== {spec.kind}, {spec.describe()}")
            with contextlib.ExitStack() as run:
                if spec.kind == "postgresql":
                    db = postgres_run_copy(spec, cluster, False, serve)
                else:
                    db = sqlite_run_copy(spec, False)
                run.callback(db.cleanup)
                pg = cluster if spec.kind == "postgresql" else None
                report = bench_size(args, wrk, script, db, idp, pg, run)
            md = print_report(report, args, host)
            path = save(report, args, host, md)
            say(f"saved {path.relative_to(ROOT)} (with the table in Markdown)")
            reports.append(report)
            failed = failed or any(r.errors or r.problems for r in report["results"].values())
    for kind in kinds:
        md = growth([r for r in reports if r["database"] == kind])
        if md:
            path = save_growth(kind, md)
            say(f"saved {path.relative_to(ROOT)}")
    if len(kinds) > 1:
        side_by_side(reports)
    if failed:
        print()
        print(
            "!! some routes answered errors under load: their figures are not valid "
            "(the portal's log says why: instance/bench/logs/portal-*.log)"
        )
        return 1
    return 0
