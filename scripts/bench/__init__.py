"""`make bench`: the portal under gunicorn, driven by wrk, on a database of realistic size.

    make bench                                        # 100,003 users on SQLite
    make bench BENCH_ARGS="--postgres"                # the same on PostgreSQL
    make bench BENCH_ARGS="--both --users 1000000,100000,1000"  # both databases, the growth
    .venv/bin/python -m scripts.bench --users 1000 --duration 5 --rounds 3
    .venv/bin/python -m scripts.bench --users 1000 --profile  # and py-spy on the slowest route
    .venv/bin/python -m scripts.bench --users 1000 --routes devices --profile-route all

Builds the dataset once per size (users with their devices, sessions and audit events, as
``DatasetSpec`` shapes them) with a bulk path, caches it under instance/bench/, and serves a
fresh copy of it for every run: the portal (``wsgi:app``) and a bare Flask route
(scripts/bench_bare.py) under the same gunicorn, the real test IdP minting the bearer tokens.
Then wrk drives every route in interleaved rounds; the table gives medians of req/s, p50, p95,
p99, the ratio to the bare route and the SQL statements one request sends, next to the targets
of issue 9. A route that answers errors is flagged and makes the exit status 1.

The parts: ``dataset`` (the spec and its people), ``generate`` and ``build`` (the rows and the
bulk load), ``databases`` (SQLite files, the PostgreSQL cluster, each run's copy), ``serve``
(gunicorn, the IdP, the callers), ``routes``, ``load`` (wrk and the open-loop driver),
``measure`` (statement counts, the events feed's lag, the bulk job, py-spy), ``host``, ``run``
(one size), ``report`` and ``cli``. What it measures and how to read it: docs/performance.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
for _path in (ROOT, ROOT / "tests"):  # the portal, and the tests' support (IdP, PostgreSQL)
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

BENCH_DIR = ROOT / "instance" / "bench"
GEOIP = ROOT / "tests" / "data" / "geoip" / "GeoLite2-City-Test.mmdb"
IDP_MODULES = ROOT / "tests" / "idp" / "node_modules" / "oidc-provider"


class BenchError(RuntimeError):
    """Something the bench needs is missing or broken; the message says what to do."""


def words(text: str) -> list[str]:
    return text.split()


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)
