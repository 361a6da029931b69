"""The load drivers: wrk (throughput) and scripts/bench_openloop.mjs (latency at fixed rates)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path

from . import ROOT, BenchError
from .routes import Result

# ----------------------------------------------------------------------------- wrk

WRK_SCRIPT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration=%d connect=%d read=%d write=%d status=%d timeout=%d",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
  for _, p in ipairs({50, 90, 95, 99}) do
    io.write(string.format(" p%d=%d", p, latency:percentile(p)))
  end
  io.write(string.format(" max=%d\\n", latency.max))
end
"""


def run_wrk(
    wrk: str, script: Path, url: str, headers: dict, args, seconds: int, method: str = "GET"
) -> dict:
    if method != "GET":  # wrk sends GET unless its script says otherwise
        other = script.with_name(f"{method.lower()}-{script.name}")
        if not other.exists():
            other.write_text(f'wrk.method = "{method}"\n' + script.read_text())
        script = other
    argv = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds:g}s",
        f"--timeout={args.timeout:g}s",
        "--latency",
        "-s",
        str(script),
    ]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    raw = dict(kv.split("=") for kv in line.split()[1:])
    n = {k: int(v) for k, v in raw.items()}
    duration = n["duration"] / 1e6
    return {
        "rps": n["requests"] / duration if duration else 0.0,
        "requests": n["requests"],
        **{k: n[k] for k in ("connect", "read", "write", "status", "timeout")},
        **{f"p{p}": n[f"p{p}"] / 1000 for p in (50, 90, 95, 99)},
        "max": n["max"] / 1000,
    }


OPEN_LOOP = ROOT / "scripts" / "bench_openloop.mjs"


def drain(url: str, limit: float = 60.0) -> None:
    """Wait until the server answers at once again: an overloaded run leaves a queue behind,
    which would otherwise count against whatever is measured next."""
    import requests

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        started = time.monotonic()
        with contextlib.suppress(requests.RequestException):
            requests.get(url, timeout=5)
        if time.monotonic() - started < 0.05:
            return
        time.sleep(0.2)


def run_openloop(
    url: str, headers: dict, rate: int, seconds: int, timeout: float, method: str = "GET"
) -> dict:
    """Latency at a fixed rate, from each request's scheduled send time (the open-loop driver
    ``scripts/bench_openloop.mjs``, on Node's standard library)."""
    argv = ["node", str(OPEN_LOOP), url, str(rate), str(seconds), "--timeout", f"{timeout:g}"]
    argv += ["--method", method]
    for name, value in headers.items():
        argv += ["--header", f"{name}: {value}"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout + 60)
    if done.returncode != 0:
        raise BenchError(f"the open-loop driver failed ({done.returncode}): {done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def open_loop_rates(
    result: Result, shares: list[int]
) -> list[tuple[int, int | None, float | None]]:
    """(rate, share of the measured capacity in %, p99 target) for each open-loop run."""
    capacity = result.median("rps") or 0
    rates = [(max(1, round(capacity * share / 100)), share, None) for share in shares]
    return rates + [(rate, None, target) for rate, target in result.route.fixed_rates]
