"""Metrics of several processes: gunicorn with two workers, the background worker and
``flask metrics-serve``, all counting into one ``PORTAL_METRICS_DIR``; a scrape adds them up
exactly, and a worker that dies takes nothing away from the sums.

The processes are real (``gunicorn wsgi:app`` from the repository, which reads its
``gunicorn.conf.py``), on the test database, with the real SMTP server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from support.agents import IPHONE
from support.alert_helpers import use_mail_server
from support.idp import free_port
from support.metrics_helpers import AUTHORIZATION, TOKEN, parse, value

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 40


def _env(app, metrics_dir: Path, bind: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "PROMETHEUS_"))}
    names = (
        "SECRET_KEY",
        "OIDC_ISSUER",
        "OIDC_CLIENT_ID",
        "OIDC_CLIENT_SECRET",
        "API_AUDIENCE",
        "MAIL_SERVER",
        "MAIL_PORT",
    )
    for name in names:
        given = app.config[name]
        env[f"PORTAL_{name}"] = given if isinstance(given, str) else json.dumps(given)
    env.update(
        PORTAL_ENV="testing",
        PORTAL_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        PORTAL_DATABASE_LOCK_TIMEOUT="10",
        PORTAL_METRICS_DIR=str(metrics_dir),
        PORTAL_METRICS_TOKEN=TOKEN,
        PORTAL_METRICS_BIND=bind,
    )
    return env


def _wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args} exited:\n{log.read_text()[-3000:]}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer:\n{log.read_text()[-3000:]}")


@pytest.fixture
def mailing(app_config, smtp):
    use_mail_server(app_config, smtp.port)


class Site:
    def __init__(self, app, tmp_path: Path):
        self.dir = tmp_path / "metrics"
        self.dir.mkdir()
        self.web = f"http://127.0.0.1:{free_port()}"
        self.metrics_bind = f"127.0.0.1:{free_port()}"
        self.env = _env(app, self.dir, self.metrics_bind)
        self.tmp = tmp_path
        self.processes: list[subprocess.Popen] = []

    def spawn(self, name: str, *args: str) -> tuple[subprocess.Popen, Path]:
        log = self.tmp / f"{name}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", *args],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process, log

    def scrape(self) -> dict:
        response = requests.get(f"http://{self.metrics_bind}/", headers=AUTHORIZATION, timeout=10)
        assert response.status_code == 200, response.text[:300]
        return parse(response.text)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _dead_pid() -> int:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(finished.stdout)


def _livez(samples) -> float:
    return value(
        samples, "portal_http_requests_total", route="/livez", method="GET", status_class="2xx"
    )


def test_the_counts_of_every_process_add_up_exactly(mailing, app, auth, smtp, tmp_path):
    site = Site(app, tmp_path)
    stale = site.dir / f"counter_{_dead_pid()}.db"
    stale.write_bytes(b"")  # a process of an earlier start, long gone
    try:
        web, web_log = site.spawn(
            "gunicorn",
            "gunicorn",
            "--workers",
            "2",
            "--bind",
            site.web.removeprefix("http://"),
            "wsgi:app",
        )
        serve, serve_log = site.spawn("metrics-serve", "flask", "--app", "wsgi", "metrics-serve")
        _wait_for(site.web + "/livez", web, web_log)
        _wait_for(f"http://{site.metrics_bind}/", serve, serve_log)
        assert not stale.exists()  # emptied at start: nothing else was running

        refused = requests.get(f"http://{site.metrics_bind}/", timeout=10)
        assert refused.status_code == 401 and "portal_" not in refused.text
        before = _livez(site.scrape())  # the readiness checks above

        def get(_):
            return requests.get(site.web + "/livez", timeout=10).status_code

        def per_file() -> list[float]:
            """Each process file's own count of /livez."""
            return [
                _livez(
                    {
                        (s.name, frozenset(s.labels.items())): s.value
                        for metric in MultiProcessCollector.merge([str(path)])
                        for s in metric.samples
                    }
                )
                for path in site.dir.glob("counter_*.db")
            ]

        # Batches of eight at a time until both workers have answered some (which one accepts
        # a connection is the kernel's choice), then the sums must be exactly what was sent.
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(20):
                assert list(pool.map(get, range(REQUESTS))) == [200] * REQUESTS
                sent += REQUESTS
                if len([n for n in per_file() if n]) >= 2:
                    break
        assert len([n for n in per_file() if n]) >= 2, per_file()
        samples = site.scrape()
        assert _livez(samples) - before == sent
        duration = {"route": "/livez", "method": "GET"}
        assert value(samples, "portal_http_request_duration_seconds_count", **duration) == (
            _livez(samples)
        )
        assert sum(per_file()) == _livez(samples)

        # /metrics of any worker answers the same sums.
        through_web = requests.get(site.web + "/metrics", headers=AUTHORIZATION, timeout=10)
        assert _livez(parse(through_web.text)) == _livez(samples)

        # A worker that dies keeps its counts in the sums; its replacement adds to them.
        workers = [
            int(pid)
            for pid in subprocess.run(
                ["pgrep", "-P", str(web.pid)], capture_output=True, text=True
            ).stdout.split()
        ]
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        time.sleep(1)
        _wait_for(site.web + "/livez", web, web_log)
        counted = _livez(site.scrape())
        assert counted >= _livez(samples)
        for _ in range(5):
            assert get(None) == 200
        assert _livez(site.scrape()) == counted + 5

        # The background worker counts into the same folder: the mail it sends is in the sums.
        auth.new_client("alice")
        auth.new_client("alice", user_agent=IPHONE)  # a new device: one alert queued
        sent = value(site.scrape(), "portal_alerts_total", state="sent")
        worker, worker_log = site.spawn("worker", "flask", "--app", "wsgi", "worker", "--once")
        assert worker.wait(timeout=60) == 0, worker_log.read_text()
        assert len(smtp.messages()) == 1
        assert value(site.scrape(), "portal_alerts_total", state="sent") == sent + 1
    finally:
        site.stop()
