"""A throwaway Prometheus server for tests (Debian's ``prometheus`` package), and promtool.

server = PrometheusServer.start(targets={"portal": ["127.0.0.1:9464"]}, rules=[path])
server.query('sum(portal_http_requests_total)')   # the instant vector, as a list of samples
server.wait_for('up{job="portal"} == 1')           # until the expression has a result
server.firing()                                   # the names of the alerts firing now
server.stop()

It scrapes every second and evaluates rules every second, so a test sees a change within a
few seconds; it keeps its data in a temporary folder removed on stop. Without the binaries
the start raises (a test that needs Prometheus fails, it never skips).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests
import yaml

from .idp import free_port

INSTALL_HINT = "run scripts/install-test-deps.sh (apt-get install prometheus)"


def binary(name: str) -> str:
    """``prometheus`` or ``promtool``, or a RuntimeError that says how to install it."""
    found = shutil.which(name) or f"/usr/bin/{name}"
    if not os.access(found, os.X_OK):
        raise RuntimeError(f"`{name}` not found; {INSTALL_HINT}")
    return found


def promtool(*args: str, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run promtool; the completed process (its output in ``stdout``, both streams)."""
    return subprocess.run(
        [binary("promtool"), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )


class PrometheusServer:
    """A running Prometheus on 127.0.0.1 scraping the given targets."""

    def __init__(self, proc: subprocess.Popen, port: int, root: str) -> None:
        self._proc = proc
        self._root = root
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    @classmethod
    def start(
        cls,
        targets: Mapping[str, Sequence[str]],
        *,
        rules: Sequence[str | Path] = (),
        bearer: Mapping[str, str] | None = None,
        metrics_path: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> PrometheusServer:
        """Scrape each job's ``host:port`` targets every second; ``bearer`` gives a job's token,
        ``metrics_path`` its path (default /metrics)."""
        root = tempfile.mkdtemp(prefix="portal-prometheus-")
        rule_files = []
        for i, rule in enumerate(rules):
            copy = Path(root) / f"rules-{i}.yml"
            shutil.copy(rule, copy)
            rule_files.append(str(copy))
        jobs: list[dict[str, Any]] = []
        for job, hosts in targets.items():
            config: dict[str, Any] = {
                "job_name": job,
                "static_configs": [{"targets": list(hosts)}],
                "metrics_path": (metrics_path or {}).get(job, "/metrics"),
            }
            if bearer and job in bearer:
                config["authorization"] = {"type": "Bearer", "credentials": bearer[job]}
            jobs.append(config)
        config_file = Path(root) / "prometheus.yml"
        config_file.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": rule_files,
                    "scrape_configs": jobs,
                }
            )
        )
        check = promtool("check", "config", str(config_file))
        if check.returncode != 0:
            raise RuntimeError(f"PrometheusServer: bad configuration:\n{check.stdout}")
        port = free_port()
        log = open(os.path.join(root, "prometheus.log"), "w")  # noqa: SIM115 (the process keeps it)
        proc = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={config_file}",
                f"--storage.tsdb.path={root}/data",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        server = cls(proc, port, root)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if requests.get(f"{server.url}/-/ready", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PrometheusServer: not ready on port {port}:\n{server.log}")
                time.sleep(0.1)
        except BaseException:
            server.stop()
            raise
        return server

    @property
    def log(self) -> str:
        try:
            return Path(self._root, "prometheus.log").read_text(errors="replace")
        except OSError:
            return ""

    def _api(self, path: str, **params: str) -> Any:
        answer = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = answer.json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus {path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant query's result: samples with ``metric`` (labels) and ``value``."""
        data = self._api("query", query=expr)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def value(self, expr: str) -> float | None:
        """The single value of ``expr`` now (None when it has no sample)."""
        found = self.query(expr)
        if not found:
            return None
        if len(found) > 1:
            raise AssertionError(f"{expr} has {len(found)} series: {found}")
        return float(found[0]["value"][1])

    def wait_for(self, expr: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until ``expr`` has a result (a filter such as ``x == 3``); its samples."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.query(expr)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"Prometheus: `{expr}` still empty after {timeout}s; targets: {self.targets()}"
                )
            time.sleep(0.25)

    def targets(self) -> list[dict[str, Any]]:
        """Each active target's job, URL, health and last error."""
        return [
            {k: t.get(k) for k in ("scrapeUrl", "health", "lastError")}
            | {"job": t["labels"].get("job")}
            for t in self._api("targets")["activeTargets"]
        ]

    def wait_until_scraped(self, timeout: float = 30.0) -> None:
        """Wait until every target has been scraped successfully at least once."""
        deadline = time.monotonic() + timeout
        while True:
            targets = self.targets()
            if targets and all(t["health"] == "up" for t in targets):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"Prometheus: targets not up after {timeout}s: {targets}")
            time.sleep(0.25)

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts pending or firing now, as the rules API reports them."""
        return self._api("alerts")["alerts"]

    def firing(self) -> set[str]:
        return {a["labels"]["alertname"] for a in self.alerts() if a["state"] == "firing"}

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
