"""Running the portal as an operator does, for the tests that need real processes: gunicorn,
the worker, and whatever else a site has, each a ``Process`` with its log kept for failures.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from portal import create_app
from portal.extensions import db


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Process:
    name: str
    proc: subprocess.Popen
    log: Path

    def tail(self) -> str:
        return f"--- {self.name} ({self.log}) ---\n{log_tail(self.log)}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def spawn(name: str, args: list[str], log: Path, **kwargs) -> Process:
    with open(log, "w") as out:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, **kwargs
        )
    return Process(name, proc, log)


def env_value(value) -> str:
    """A setting as the PORTAL_* variable an operator would write (JSON unless a string)."""
    return value if isinstance(value, str) else json.dumps(value)


def logs(processes: list[Process]) -> str:
    return "\n".join(p.tail() for p in processes)


def wait_until_up(
    processes: list[Process], urls: list[str], timeout: float = 60.0, path: str = "/healthz"
) -> None:
    """Wait until each URL answers 200 at ``path``; fail early when a process exits."""
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending:
        for p in processes:
            if p.proc.poll() is not None:
                raise RuntimeError(f"{p.name} exited with {p.proc.returncode}\n{logs(processes)}")
        try:
            if requests.get(pending[0] + path, timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{pending[0]} did not come up in {timeout:.0f} s\n{logs(processes)}"
            )
        time.sleep(0.2)


def empty_migrated_postgres(database_url: str, stack: list, name: str) -> str:
    """A migrated, empty PostgreSQL database: this suite's own when it runs on PostgreSQL,
    else a database ``name`` of a throwaway cluster (whose stop goes on ``stack``)."""
    if database_url.startswith("postgresql"):
        from .app_setup import TABLES_IN_DELETE_ORDER

        engine = create_engine(database_url)
        with engine.begin() as conn:
            for table in TABLES_IN_DELETE_ORDER:
                conn.execute(text(f"DELETE FROM {table}"))
        engine.dispose()
        return database_url
    from .postgres import PostgresServer

    server = PostgresServer.start()  # raises when PostgreSQL is not installed
    stack.append(server.stop)
    url = server.create_database(name)
    app = create_app({"ENV": "testing", "DATABASE_URL": url})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    return url
