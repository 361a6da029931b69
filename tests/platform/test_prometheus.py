"""A real Prometheus scrapes the portal as an operator runs it, and sees exactly what happened.

The site: gunicorn with two workers (``wsgi:app``, the repository's gunicorn.conf.py), the
background worker (``flask --app wsgi worker``) and the metrics server (``flask --app wsgi
metrics-serve`` on ``PORTAL_METRICS_BIND``, reading every process's counts from
``PORTAL_METRICS_DIR``), on one PostgreSQL, with the real test IdP and a real SMTP server.
Debian's Prometheus scrapes the metrics server every second with the bearer token and
evaluates the alert rules of docs/monitoring/portal-alerts.yml.

The test drives requests, sign-ins, a sign-out of other devices and an alert mail through the
outbox, then asks Prometheus' HTTP query API for the sums across the processes and compares
them with what it did (and with the database). Last, with SMTP down and an alert stuck in the
outbox past five minutes, PortalOutboxStuck is seen firing. prometheus, PostgreSQL and the IdP
are required: without them this fails.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import create_engine, func, select, update
from support.account_helpers import csrf_from
from support.app_setup import make_config
from support.http_browser import HttpBrowser
from support.idp import OidcProvider, free_port
from support.processes import (
    empty_migrated_postgres,
    env_value,
    logs,
    spawn,
    wait_until_up,
)
from support.prometheus_server import PrometheusServer
from support.smtp_server import SmtpServer

from portal.models import OutboxMessage, OutboxStatus, SignInAlert, UserSession, utcnow
from portal.services.outbox import alerts

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "monitoring" / "portal-alerts.yml"
PROBED = "/openapi.json"  # a route nothing else in this test asks for
PROBES = 40


class Site:
    def __init__(self, url, processes, prometheus, smtp, database_url, metrics_dir, token):
        self.url = url
        self.processes = processes
        self.prometheus: PrometheusServer = prometheus
        self.smtp: SmtpServer = smtp
        self.database_url = database_url
        self.metrics_dir: Path = metrics_dir
        self.token = token

    def logs(self) -> str:
        return logs(self.processes) + "\n--- prometheus ---\n" + self.prometheus.log[-3000:]


def _fast_rules(work: Path) -> Path:
    """The shipped rules with every ``for`` cut to a second, so a test sees a rule fire in
    seconds; that each waits its ``for`` is shown by their promtool unit tests."""
    text = RULES.read_text()
    fast = "\n".join(
        line.split("for:")[0] + "for: 1s" if line.strip().startswith("for:") else line
        for line in text.splitlines()
    )
    path = work / "portal-alerts.yml"
    path.write_text(fast + "\n")
    return path


@pytest.fixture(scope="module")
def site(idp: OidcProvider, database_url):
    stack: list = []
    work = Path(tempfile.mkdtemp(prefix="portal-prometheus-"))
    stack.append(lambda: shutil.rmtree(work, ignore_errors=True))
    try:
        url = empty_migrated_postgres(database_url, stack, "portal_prometheus")
        smtp = SmtpServer.start()
        stack.append(smtp.stop)
        metrics_dir = work / "metrics"
        metrics_dir.mkdir()
        port, metrics_port = free_port(), free_port()
        token = secrets.token_urlsafe(32)
        settings = make_config(
            idp,
            url,
            SECRET_KEY=secrets.token_urlsafe(32),
            METRICS_DIR=str(metrics_dir),
            METRICS_BIND=f"127.0.0.1:{metrics_port}",
            METRICS_TOKEN=token,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=smtp.port,
            ALERTS_DEFAULT="new_device",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        env.update({f"PORTAL_{k}": env_value(v) for k, v in settings.items()})
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        flask = (sys.executable, "-m", "flask", "--app", "wsgi")
        processes = []
        for name, args in (
            (
                "gunicorn",
                [
                    *(sys.executable, "-m", "gunicorn", "--workers", "2"),
                    *("--bind", f"127.0.0.1:{port}", "wsgi:app"),
                ],
            ),
            ("worker", [*flask, "worker", "--interval", "0.5"]),
            ("metrics-serve", [*flask, "metrics-serve"]),
        ):
            process = spawn(name, args, work / f"{name}.log", cwd=str(ROOT), env=env)
            processes.append(process)
            stack.append(process.stop)
        portal = f"http://127.0.0.1:{port}"
        wait_until_up(processes, [portal])
        prometheus = PrometheusServer.start(
            {"portal": [f"127.0.0.1:{metrics_port}"]},
            rules=[_fast_rules(work)],
            bearer={"portal": token},
        )
        stack.append(prometheus.stop)
        prometheus.wait_until_scraped()
        yield Site(portal, processes, prometheus, smtp, url, metrics_dir, token)
    finally:
        for stop in reversed(stack):
            stop()


def _settled(site: Site, expr: str, expected: float, timeout: float = 30.0) -> float:
    """Wait until Prometheus' value of ``expr`` is ``expected`` (it scrapes every second);
    the value it settled on (what the assertion then compares, with the site's logs)."""
    deadline = time.monotonic() + timeout
    while True:
        value = site.prometheus.value(expr)
        if value == expected or time.monotonic() > deadline:
            return value if value is not None else float("nan")
        time.sleep(0.25)


def _gunicorn_workers(site: Site) -> list[int]:
    """The pids of the gunicorn master's worker processes."""
    master = site.processes[0].proc.pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def _answered(site: Site, pid: int) -> float:
    """How many requests for PROBED the worker ``pid`` counted, in its own file."""
    path = site.metrics_dir / f"counter_{pid}.db"
    if not path.exists():
        return 0
    return sum(
        sample.value
        for metric in MultiProcessCollector.merge([str(path)])
        for sample in metric.samples
        if sample.name == "portal_http_requests_total" and sample.labels.get("route") == PROBED
    )


def _database(site: Site):
    return create_engine(site.database_url)


def test_the_metrics_server_refuses_a_scrape_without_the_token(site):
    bind = site.prometheus.targets()[0]["scrapeUrl"]
    assert requests.get(bind, timeout=5).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert requests.get(bind, headers=wrong, timeout=5).status_code == 401
    # And the public port serves /metrics only with the token.
    assert requests.get(f"{site.url}/metrics", timeout=5).status_code == 401
    ok = requests.get(
        f"{site.url}/metrics", headers={"Authorization": f"Bearer {site.token}"}, timeout=5
    )
    assert ok.status_code == 200 and "portal_http_requests_total" in ok.text


def test_prometheus_sees_every_request_summed_across_both_workers(site):
    # Eight at a time, in batches until both gunicorn workers have answered some (which one
    # accepts a connection is the kernel's choice); then the sum must be exactly what was sent.
    workers = _gunicorn_workers(site)
    assert len(workers) == 2
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        for _ in range(20):
            answers = list(
                pool.map(lambda _: requests.get(f"{site.url}{PROBED}", timeout=10), range(PROBES))
            )
            assert {a.status_code for a in answers} == {200}
            sent += PROBES
            if all(_answered(site, pid) for pid in workers):
                break
    # Each worker counted some in a file of its own: what Prometheus sees is their sum.
    assert all(_answered(site, pid) for pid in workers), (workers, site.logs())
    where = f'route="{PROBED}",method="GET"'
    counted = _settled(site, f'sum(portal_http_requests_total{{{where},status_class="2xx"}})', sent)
    assert counted == sent, site.logs()
    # Every request is in the histogram, and each took less than the last bucket (2 s).
    assert (
        site.prometheus.value(f"sum(portal_http_request_duration_seconds_count{{{where}}})") == sent
    )
    assert (
        site.prometheus.value(
            f'sum(portal_http_request_duration_seconds_bucket{{{where},le="2.0"}})'
        )
        == sent
    )


def test_sign_ins_a_sign_out_and_an_alert_are_counted_exactly(site, idp):
    engine = _database(site)
    # Three browsers of one person: the second and third are new devices, so each is mailed.
    browsers = [HttpBrowser(site.url, idp) for _ in range(3)]
    for browser in browsers:
        browser.sign_in("alice")
        assert browser.signed_in(), site.logs()
    assert _settled(site, 'sum(portal_sign_ins_total{outcome="signed_in"})', 3) == 3, site.logs()

    first = browsers[0]
    page = first.open("/account/sign-out-others")
    done = first.post("/account/sign-out-others", {"csrf_token": csrf_from(page.text)})
    assert done.status_code == 200, done.text[:500]
    with engine.connect() as conn:
        ended = conn.execute(
            select(func.count()).select_from(UserSession).where(UserSession.end_reason == "revoked")
        ).scalar()
    assert ended == 2
    assert _settled(site, 'sum(portal_sessions_ended_total{how="revoked"})', 2) == 2, site.logs()

    # The alerts went through the outbox and the worker to the SMTP server.
    with engine.connect() as conn:
        queued = conn.execute(select(func.count()).select_from(SignInAlert)).scalar()
    assert queued == 2
    deadline = time.monotonic() + 30
    while len(site.smtp.messages()) < queued and time.monotonic() < deadline:
        time.sleep(0.25)
    assert len(site.smtp.messages()) == queued, site.logs()
    assert _settled(site, 'sum(portal_alerts_total{state="queued"})', queued) == queued
    assert _settled(site, 'sum(portal_alerts_total{state="sent"})', queued) == queued, site.logs()
    assert site.prometheus.value('sum(portal_alerts_total{state="failed"})') in (None, 0.0)
    engine.dispose()


def test_the_outbox_stuck_with_smtp_down_fires_its_alert(site, idp):
    assert "PortalOutboxStuck" not in site.prometheus.firing()
    site.smtp.stop()
    try:
        browser = HttpBrowser(site.url, idp)
        browser.sign_in("alice")  # a new device: an alert the worker cannot send
        engine = _database(site)
        with engine.begin() as conn:
            waiting = conn.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.kind == alerts.KIND,
                    OutboxMessage.status == OutboxStatus.PENDING.value,
                )
                .values(created_at=utcnow() - timedelta(minutes=10))
            ).rowcount
        engine.dispose()
        assert waiting == 1  # it was not sent: SMTP is down
        found = site.prometheus.wait_for(
            f'portal_outbox_oldest_age_seconds{{kind="{alerts.KIND}"}} > 300'
        )
        assert found, site.logs()
        deadline = time.monotonic() + 30
        while "PortalOutboxStuck" not in site.prometheus.firing():
            assert time.monotonic() < deadline, (site.prometheus.alerts(), site.logs())
            time.sleep(0.5)
        fired = [
            a for a in site.prometheus.alerts() if a["labels"]["alertname"] == "PortalOutboxStuck"
        ]
        assert fired[0]["labels"]["kind"] == alerts.KIND
    finally:
        site.smtp.restart()
