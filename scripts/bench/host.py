"""The machine the bench runs on, and how busy other processes keep it."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from . import ROOT


def machine() -> dict:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    return {
        "code": code_version(),
        "cores": os.cpu_count(),
        "cpu": model,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


def code_version() -> str:
    """The commit measured, and whether the portal's code differs from it in the tree."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--", "portal", "migrations", "templates", "wsgi.py")
    n = len(changed.splitlines())
    return (
        f"{commit} + {n} uncommitted file(s) in portal/, migrations/, templates/" if n else commit
    )


class OtherLoad:
    """How much CPU processes other than the bench's own took while wrk ran: the machine's
    busy time less that of the servers under test (gunicorn, PostgreSQL) and of wrk."""

    HZ = os.sysconf("SC_CLK_TCK")

    def __init__(self, ours: Callable[[], list[int]]) -> None:
        self.ours = ours

    @staticmethod
    def _busy() -> float:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return (sum(values[:8]) - values[3] - values[4]) / OtherLoad.HZ

    def _ours(self, pids: list[int]) -> float:
        total = 0
        for pid in pids:
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / self.HZ

    @contextlib.contextmanager
    def measure(self, into: dict):
        pids = self.ours()
        busy, ours = self._busy(), self._ours(pids)
        children = os.times()
        started = time.monotonic()
        yield
        elapsed = time.monotonic() - started
        done = os.times()
        wrk = (done.children_user - children.children_user) + (
            done.children_system - children.children_system
        )
        others = (self._busy() - busy) - (self._ours(pids) - ours) - wrk
        into["others_cpu"] = round(max(0.0, 100.0 * others / (elapsed * (os.cpu_count() or 1))))


def cpu_busy(seconds: float = 1.0) -> float:
    """Share of all cores busy over a short sample, before the bench starts its processes."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]
        return sum(values), idle

    with contextlib.suppress(OSError, ValueError):
        total1, idle1 = sample()
        time.sleep(seconds)
        total2, idle2 = sample()
        return 100.0 * (1 - (idle2 - idle1) / max(1, total2 - total1))
    return float("nan")
