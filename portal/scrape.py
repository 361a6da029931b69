"""What a Prometheus scrape reads, and where: ``/metrics`` behind ``PORTAL_METRICS_TOKEN``, and
``flask --app wsgi metrics-serve`` on ``PORTAL_METRICS_BIND``.

A scrape answers the counts of ``portal.metrics`` (added up over every process that writes to
``PORTAL_METRICS_DIR``, else this process's own) and gauges read from the database when it
asks: the outbox (messages waiting and the oldest one's age, by kind), the bulk jobs (running,
queued, sessions left), whether the database answers and how fast, and the build. Nothing is
served to the world by default: without a token ``/metrics`` answers 404.

Why a command of its own for the address: under gunicorn every worker is a process of its own
and only one of them could bind it, and the master runs no app (it would need the database, and
a thread in the process that forks the workers). ``metrics-serve`` is one small process per
machine with an app of its own for the database gauges, reading every worker's files.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import subprocess
import time
import tomllib
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import click
from flask import Blueprint, Flask, Response, abort, current_app, request
from flask.cli import with_appcontext
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from . import metrics
from .authz import access_rule
from .availability import migration_heads
from .extensions import db
from .models import BulkJob, JobStatus, OutboxMessage, OutboxStatus
from .services.outbox import alerts, signals

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
ACCESS_RULE = "metrics_token"
# The outbox kinds always shown (at 0 when none waits), so a rule on them has a series to read.
OUTBOX_KINDS = (alerts.KIND, signals.KIND)


class _ScrapeBlueprint(Blueprint):
    cookieless = True  # read by Prometheus, never by a browser


bp = _ScrapeBlueprint("metrics", __name__)


@lru_cache(maxsize=1)
def build() -> tuple[str, str, str]:
    """(version, commit, schema revision) of what runs, read once: the project's version, the
    checkout's commit (``unknown`` without git), the migrations' head."""
    try:
        version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        version = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return version, commit or "unknown", ",".join(sorted(migration_heads()))


def _gauge(name: str, documentation: str, value: float | None = None, **labels: str) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    if value is not None:
        family.add_metric(list(labels.values()), value)
    return family


class DatabaseCollector(Collector):
    """The gauges read from the database at scrape time: two small queries, each on an index
    (``ix_outbox_messages_due``, ``ix_bulk_jobs_status_created``), plus a ``SELECT 1`` timed.
    While the database does not answer, only ``portal_database_up 0`` (and the build)."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterator[Metric]:
        version, commit, revision = build()
        yield _gauge(
            "portal_build_info",
            "The running build: version, commit and schema revision (always 1)",
            1,
            version=version,
            commit=commit,
            schema_revision=revision,
        )
        with self.app.app_context():
            try:
                with db.engine.connect() as connection:
                    started = time.perf_counter()
                    connection.execute(text("SELECT 1"))
                    latency = time.perf_counter() - started
                    outbox = connection.execute(_OUTBOX).all()
                    jobs = connection.execute(_JOBS).all()
            except SQLAlchemyError as exc:
                log.warning("metrics: the database is unavailable: %s", exc)
                yield _gauge("portal_database_up", "Whether the database answered the scrape", 0)
                return
        yield _gauge("portal_database_up", "Whether the database answered the scrape", 1)
        yield _gauge(
            "portal_database_latency_seconds", "Round trip of a SELECT 1 at the scrape", latency
        )
        yield from _outbox_gauges(outbox)
        yield from _job_gauges(jobs)


# Messages waiting (pending, due or not) by kind, and the oldest one's creation.
_OUTBOX = (
    select(OutboxMessage.kind, func.count(), func.min(OutboxMessage.created_at))
    .where(OutboxMessage.status == OutboxStatus.PENDING.value)
    .group_by(OutboxMessage.kind)
)
# Unfinished bulk jobs by status: how many, the sessions they have left, the oldest's creation.
_JOBS = (
    select(
        BulkJob.status,
        func.count(),
        func.coalesce(func.sum(BulkJob.total - BulkJob.done), 0),
        func.min(BulkJob.created_at),
    )
    .where(BulkJob.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value]))
    .group_by(BulkJob.status)
)


def _age(oldest: Any, now: float) -> float:
    return max(0.0, now - oldest.timestamp()) if oldest is not None else 0.0


def _outbox_gauges(rows: Sequence[Any]) -> Iterator[Metric]:
    now = time.time()
    waiting = GaugeMetricFamily(
        "portal_outbox_messages_waiting",
        "Outbox messages not yet sent nor given up, by kind",
        labels=["kind"],
    )
    oldest = GaugeMetricFamily(
        "portal_outbox_oldest_age_seconds",
        "Age of the oldest outbox message waiting, by kind (0 when none waits)",
        labels=["kind"],
    )
    found = {kind: (count, first) for kind, count, first in rows}
    for kind in sorted(set(OUTBOX_KINDS) | set(found)):
        count, first = found.get(kind, (0, None))
        waiting.add_metric([kind], count)
        oldest.add_metric([kind], _age(first, now))
    yield waiting
    yield oldest


def _job_gauges(rows: Sequence[Any]) -> Iterator[Metric]:
    now = time.time()
    by_status = {status: (count, left, first) for status, count, left, first in rows}
    running = by_status.get(JobStatus.RUNNING.value, (0, 0, None))
    queued = by_status.get(JobStatus.QUEUED.value, (0, 0, None))
    yield _gauge("portal_bulk_jobs_running", "Bulk jobs being worked through", running[0])
    yield _gauge("portal_bulk_jobs_queued", "Bulk jobs waiting for a worker", queued[0])
    yield _gauge(
        "portal_bulk_job_sessions_left",
        "Sessions the unfinished bulk jobs (running or queued) have yet to sign out",
        int(running[1] or 0) + int(queued[1] or 0),
    )
    firsts = [first for first in (running[2], queued[2]) if first is not None]
    yield _gauge(
        "portal_bulk_job_oldest_age_seconds",
        "Age of the oldest unfinished bulk job (0 when none)",
        _age(min(firsts), now) if firsts else 0.0,
    )


class _Counts(Collector):
    """The counts of ``portal.metrics``: every process's files added up, or this process's."""

    def collect(self) -> Iterator[Metric]:
        directory = metrics.multiprocess_directory()
        if directory is None:
            yield from REGISTRY.collect()
        else:
            yield from MultiProcessCollector(None, directory).collect()


def registry(app: Flask) -> CollectorRegistry:
    """What a scrape of this app answers."""
    found = app.extensions.get("portal_metrics_registry")
    if found is None:
        found = CollectorRegistry(auto_describe=False)
        found.register(_Counts())
        found.register(DatabaseCollector(app))
        app.extensions["portal_metrics_registry"] = found
    return found


def token_accepted(expected: str, authorization: str) -> bool:
    """Whether an ``Authorization`` header carries the token: digests of equal length compared
    in constant time, so not even the length leaks."""
    scheme, _, given = authorization.partition(" ")
    given_digest = hashlib.sha256(given.strip().encode("utf-8", "surrogatepass")).digest()
    expected_digest = hashlib.sha256(expected.encode()).digest()
    return scheme.lower() == "bearer" and hmac.compare_digest(given_digest, expected_digest)


@bp.get("/metrics")
@access_rule(ACCESS_RULE)
def scrape():
    """The metrics, for a scrape bringing ``PORTAL_METRICS_TOKEN``: 404 while none is set,
    401 without it."""
    expected = current_app.config["METRICS_TOKEN"]
    if not expected:
        abort(404)
    if not token_accepted(expected, request.headers.get("Authorization", "")):
        return Response(
            "A valid bearer token is required\n",
            401,
            {"WWW-Authenticate": 'Bearer realm="metrics"', "Content-Type": "text/plain"},
        )
    body = generate_latest(registry(current_app))
    # The text format's 0.0.4, which every Prometheus reads (Debian's 2.x included).
    return Response(body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


def _wsgi_app(app: Flask):
    """The metrics server's one page: the same answer as ``/metrics``, at any path, with the
    token when one is set."""
    expected = app.config["METRICS_TOKEN"]

    def serve(environ, start_response):
        if expected and not token_accepted(expected, environ.get("HTTP_AUTHORIZATION", "")):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')],
            )
            return [b"A valid bearer token is required\n"]
        body = generate_latest(registry(app))
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4)])
        return [body]

    return serve


@click.command("metrics-serve")
@with_appcontext
def metrics_serve_command() -> None:
    """Serve the metrics of every portal process of this machine on PORTAL_METRICS_BIND, until
    stopped (one per machine, beside gunicorn and the worker)."""
    import socket
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    bind = app.config["METRICS_BIND"]
    if not bind:
        raise click.ClickException("PORTAL_METRICS_BIND is not set (e.g. 127.0.0.1:9464)")
    host, _, port = bind.rpartition(":")

    class _Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # scrapes come every few seconds
            pass

    class _Server(WSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = make_server(
        host.strip("[]"), int(port), _wsgi_app(app), server_class=_Server, handler_class=_Quiet
    )
    click.echo(f"metrics: serving on {bind}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.cli.add_command(metrics_serve_command)
