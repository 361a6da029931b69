"""Where datasets live: SQLite files, the PostgreSQL cluster, and each run's fresh copy."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import BENCH_DIR, BenchError, say
from .build import build_dataset
from .dataset import DatasetSpec, head_key
from .serve import children_of

# ----------------------------------------------------------------------------- PostgreSQL


class Cluster:
    """A PostgreSQL cluster kept under instance/bench/pg: initdb once, started for each run.

    Each dataset is a database of its own, used only as a template: a run serves a fresh copy
    (CREATE DATABASE ... TEMPLATE, a file copy), so every run starts from the same rows.
    """

    def __init__(self, root: Path) -> None:
        from support.postgres import PostgresServer, _find_bindir

        self.root = root
        self.data = root / "data"
        self.bindir = _find_bindir()
        self.as_user: list[str] = []
        self.owner: tuple[int, int] | None = None
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise BenchError(
                    "running as root but there is no `postgres` OS user: "
                    "apt-get install postgresql (or run scripts/install-test-deps.sh)"
                ) from None
            self.as_user = ["runuser", "-u", "postgres", "--"]
            self.owner = (pw.pw_uid, pw.pw_gid)
        self.port = 0
        self.server: Any = None
        self._server_class = PostgresServer
        self.running = False

    def _mkdir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.owner:
            os.chown(path, *self.owner)

    def start(self, settings: list[str]) -> None:
        from support.idp import free_port

        BENCH_DIR.mkdir(parents=True, exist_ok=True)
        self._mkdir(self.root)
        self._mkdir(self.root / "sock")
        self.port = free_port()
        self.server = self._server_class(self.bindir, str(self.root), self.port, self.as_user)
        pg_ctl = os.path.join(self.bindir, "pg_ctl")
        if self.server._run(pg_ctl, "-D", str(self.data), "status", check=False).returncode == 0:
            say("stopping the bench cluster a previous run left running")
            self.server._run(pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")
        if not (self.data / "PG_VERSION").exists():
            say(f"initdb {self.data}")
            self.server._run(
                os.path.join(self.bindir, "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
            (self.data / "pg_hba.conf").write_text(
                "local all all trust\nhost  all all 127.0.0.1/32 trust\n"
            )
            with open(self.data / "postgresql.conf", "a") as f:
                f.write(
                    "\n# make bench\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.root / 'sock'}'\n"
                    "max_connections = 100\nshared_buffers = 256MB\n"
                    "max_wal_size = 4GB\ncheckpoint_timeout = 30min\n"
                )
        # The socket directory on every start, not only in postgresql.conf: a cluster cached
        # by a checkout that has since moved would look for its socket there and not start.
        options = f"-p {self.port} -k {self.root / 'sock'}" + "".join(f" -c {s}" for s in settings)
        self.server._run(
            os.path.join(self.bindir, "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self.running = True
        if "portal" not in self.server.psql("select rolname from pg_roles"):
            self.server.psql("create role portal login createdb")

    def stop(self) -> None:
        if self.running:
            self.server._run(
                os.path.join(self.bindir, "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "stop",
                check=False,
            )
            self.running = False

    def restart(self, settings: list[str]) -> None:
        self.stop()
        self.start(settings)

    def databases(self) -> list[str]:
        return self.server.psql("select datname from pg_database").split()

    def drop(self, name: str) -> None:
        self.server.psql(f'drop database if exists "{name}" with (force)')

    def url(self, name: str, user: str = "portal") -> str:
        return self.server.url_for(name, user)

    def pids(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer...)."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
            return [postmaster, *children_of(postmaster)]
        return []

    def version(self) -> str:
        return self.server.psql("show server_version").strip()


# While serving: the cluster's defaults (fsync and synchronous commit on) plus --pg-setting.
SERVE_SETTINGS: list[str] = []
# While building: nothing to keep safe until the final checkpoint.
BUILD_SETTINGS = [
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "autovacuum=off",
    "maintenance_work_mem=1GB",
]


# ----------------------------------------------------------------------------- datasets


@dataclass
class RunDatabase:
    url: str
    spec: DatasetSpec
    meta: dict
    cleanup: Callable[[], None]
    upgrade_seconds: float = 0.0
    copy_seconds: float = 0.0


def _meta_path(spec: DatasetSpec) -> Path:
    return BENCH_DIR / f"{spec.kind}-u{spec.users}-{spec.key()}.json"


def sqlite_base(spec: DatasetSpec, rebuild: bool) -> tuple[Path, dict]:
    """The cached SQLite dataset of this spec (built when missing) and its build record."""
    key = spec.key()
    base = BENCH_DIR / f"sqlite-u{spec.users}-{key}.db"
    meta_path = _meta_path(spec)
    if rebuild or not (base.exists() and meta_path.exists()):
        for old in BENCH_DIR.glob(f"sqlite-u{spec.users}-*"):
            old.unlink()
        partial = base.with_suffix(".partial")
        say(f"building the SQLite dataset ({spec.describe()}) in {base.name}")
        url = f"sqlite:///{partial}"
        meta = build_dataset(spec, url, url)
        partial.rename(base)
        meta.update(spec=spec.__dict__, key=key, built_at=datetime.now(UTC).isoformat())
        meta_path.write_text(json.dumps(meta, indent=2))
        say(f"built in {meta['timings']['total']:.0f} s: {meta['timings']}")
    return base, json.loads(meta_path.read_text())


def migrate_to_head(url: str) -> float:
    """Run every migration after the base on ``url``, as a production database would get
    them; returns the seconds it took."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db

    t0 = time.perf_counter()
    app = create_app({"ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()
    return time.perf_counter() - t0


def _head_meta(meta: dict, path: Path, seconds: float | None) -> dict:
    """The build record with the migration to head's, written when just made."""
    if seconds is not None:
        made = {"seconds": round(seconds, 1), "made_at": datetime.now(UTC).isoformat()}
        path.write_text(json.dumps(made, indent=2))
    return {**meta, "head": json.loads(path.read_text())}


def sqlite_head(spec: DatasetSpec, rebuild: bool) -> tuple[Path, dict]:
    """The cached dataset migrated to head, made from the base when missing (once per set of
    migrations, not once per run: at a million users migrating takes longer than building)."""
    base, meta = sqlite_base(spec, rebuild)
    head = base.with_name(f"{base.stem}-head-{head_key()}.db")
    meta_path = head.with_suffix(".json")
    seconds = None
    if not (head.exists() and meta_path.exists()):
        for old in BENCH_DIR.glob(f"{base.stem}-head-*"):
            old.unlink()
        partial = head.with_suffix(".partial")
        say(f"migrating a copy of {base.name} to head: {head.name}")
        subprocess.run(["cp", "--reflink=auto", str(base), str(partial)], check=True)
        seconds = migrate_to_head(f"sqlite:///{partial}")
        with contextlib.closing(sqlite3.connect(partial)) as conn:  # one file, no WAL beside it
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode = DELETE")
        partial.rename(head)
        say(f"migrated to head in {seconds:.0f} s")
    return head, _head_meta(meta, meta_path, seconds)


def sqlite_run_copy(spec: DatasetSpec, rebuild: bool) -> RunDatabase:
    """A fresh copy of the dataset for one run (the cached file is never served)."""
    base, meta = sqlite_head(spec, rebuild)
    run = BENCH_DIR / f"run-sqlite-u{spec.users}.db"

    def cleanup() -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{run}{suffix}").unlink(missing_ok=True)

    cleanup()
    t0 = time.perf_counter()
    subprocess.run(["cp", "--reflink=auto", str(base), str(run)], check=True)
    # On disk before serving: otherwise the portal's first checkpoint flushes the whole
    # fresh copy (gigabytes) and stalls every worker for seconds in the middle of a route.
    fd = os.open(run, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    copy_seconds = time.perf_counter() - t0
    return RunDatabase(f"sqlite:///{run}", spec, meta, cleanup, copy_seconds=copy_seconds)


def postgres_base(
    spec: DatasetSpec, cluster: Cluster, rebuild: bool, serve: list[str]
) -> tuple[str, dict]:
    """The template database of this spec (built when missing) and its build record."""
    key = spec.key()
    template = f"bench_u{spec.users}_{key}"
    meta_path = _meta_path(spec)
    present = cluster.databases()
    if rebuild or template not in present or not meta_path.exists():
        for name in present:
            if name.startswith(f"bench_u{spec.users}_"):
                cluster.drop(name)
        for old in BENCH_DIR.glob(f"postgresql-u{spec.users}-*.json"):
            old.unlink()
        say(f"building the PostgreSQL dataset ({spec.describe()}) as database {template}")
        cluster.restart(BUILD_SETTINGS)
        try:
            cluster.server.psql(f'create database "{template}" owner portal')
            meta = build_dataset(spec, cluster.url(template), cluster.url(template, "postgres"))
            cluster.server.psql("checkpoint")
        except BaseException:
            with contextlib.suppress(Exception):
                cluster.drop(template)
            raise
        finally:
            cluster.restart(serve)
        meta.update(spec=spec.__dict__, key=key, built_at=datetime.now(UTC).isoformat())
        meta_path.write_text(json.dumps(meta, indent=2))
        say(f"built in {meta['timings']['total']:.0f} s: {meta['timings']}")
    return template, json.loads(meta_path.read_text())


def postgres_head(
    spec: DatasetSpec, cluster: Cluster, rebuild: bool, serve: list[str]
) -> tuple[str, dict]:
    """The template database migrated to head, made from the base's when missing."""
    base, meta = postgres_base(spec, cluster, rebuild, serve)
    key = head_key()
    head = f"{base}_head_{key}"
    meta_path = BENCH_DIR / f"postgresql-u{spec.users}-{spec.key()}-head-{key}.json"
    seconds = None
    present = cluster.databases()
    if head not in present or not meta_path.exists():
        for name in present:
            if name.startswith(f"{base}_head_"):
                cluster.drop(name)
        for old in BENCH_DIR.glob(f"postgresql-u{spec.users}-{spec.key()}-head-*.json"):
            old.unlink()
        say(f"migrating a copy of {base} to head: {head}")
        cluster.server.psql(
            f'create database "{head}" template "{base}" strategy file_copy owner portal'
        )
        try:
            seconds = migrate_to_head(cluster.url(head))
        except BaseException:
            with contextlib.suppress(Exception):
                cluster.drop(head)
            raise
        say(f"migrated to head in {seconds:.0f} s")
    return head, _head_meta(meta, meta_path, seconds)


def postgres_run_copy(
    spec: DatasetSpec, cluster: Cluster, rebuild: bool, serve: list[str]
) -> RunDatabase:
    """A fresh copy of the template database for one run (a file copy inside the cluster)."""
    template, meta = postgres_head(spec, cluster, rebuild, serve)
    run = f"bench_run_u{spec.users}"
    cluster.drop(run)
    t0 = time.perf_counter()
    cluster.server.psql(
        f'create database "{run}" template "{template}" strategy file_copy owner portal'
    )
    copy_seconds = time.perf_counter() - t0
    return RunDatabase(
        cluster.url(run), spec, meta, lambda: cluster.drop(run), copy_seconds=copy_seconds
    )
