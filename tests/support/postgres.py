"""A throwaway PostgreSQL cluster for tests.

    pg = PostgresServer.start()   # initdb + pg_ctl start on a free 127.0.0.1 port
    url = pg.create_database("portal_test_x")
    pg.pause(); pg.resume()       # an outage: the server stops, and starts again
    pg.stop()                     # pg_ctl stop -m immediate, directory removed

When running as root, initdb/pg_ctl run as the `postgres` OS user (`runuser -u postgres --`).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

from .idp import free_port

_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _find_bindir() -> str:
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            candidates.append(out)
        except (OSError, subprocess.CalledProcessError):
            pass
    # Debian keeps the server binaries out of PATH; newest major first.
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(re.sub(r"\D", "", p.split("/")[-2]) or 0),
        reverse=True,
    )
    for d in candidates:
        if all(
            os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres", "psql")
        ):
            return d
    raise RuntimeError(
        "PostgresServer: PostgreSQL server binaries (initdb, pg_ctl, postgres, psql) not found via "
        "`pg_config --bindir` or /usr/lib/postgresql/*/bin; run scripts/install-test-deps.sh "
        "(apt-get install postgresql)"
    )


class PostgresServer:
    """A running throwaway cluster with role `portal` owning database `portal`."""

    url: str

    def __init__(self, bindir: str, root: str, port: int, as_user: list[str]) -> None:
        self._bindir = bindir
        self._root = root
        self._data = os.path.join(root, "data")
        self._sock = os.path.join(root, "sock")
        self.port = port
        self.host = "127.0.0.1"
        self._as_user = as_user
        self.url = self.url_for("portal")

    def url_for(self, dbname: str, user: str = "portal") -> str:
        return f"postgresql+psycopg://{user}@{self.host}:{self.port}/{dbname}"

    # ------------------------------------------------------------ helpers
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [*self._as_user, *args]
        res = subprocess.run(
            cmd, capture_output=True, text=True, cwd=self._root, stdin=subprocess.DEVNULL
        )
        if check and res.returncode != 0:
            raise RuntimeError(
                f"PostgresServer: {' '.join(cmd)} failed ({res.returncode}):\n"
                f"{res.stdout}\n{res.stderr}"
            )
        return res

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL as the superuser over the cluster's unix socket."""
        return self._run(
            os.path.join(self._bindir, "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self._sock,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            dbname,
            "-Atc",
            sql,
        ).stdout

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def start(cls, timeout: float = 30.0) -> PostgresServer:
        bindir = _find_bindir()
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "PostgresServer: running as root but there is no `postgres` OS user "
                    "(apt-get install postgresql creates it)"
                ) from None
            if not shutil.which("runuser"):
                raise RuntimeError(
                    "PostgresServer: running as root but `runuser` is missing (util-linux)"
                )
            as_user = ["runuser", "-u", "postgres", "--"]
            uid, gid = pw.pw_uid, pw.pw_gid
        else:
            as_user, uid, gid = [], None, None

        root = tempfile.mkdtemp(prefix="portal-pg-")
        os.chmod(root, 0o755)
        if uid is not None:
            os.chown(root, uid, gid)
        port = free_port()
        server = cls(bindir, root, port, as_user)
        try:
            os.makedirs(server._sock)
            if uid is not None:
                os.chown(server._sock, uid, gid)
            server._run(
                os.path.join(bindir, "initdb"),
                "-D",
                server._data,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
            with open(os.path.join(server._data, "pg_hba.conf"), "w") as f:
                f.write("local all all trust\nhost  all all 127.0.0.1/32 trust\n")
            with open(os.path.join(server._data, "postgresql.conf"), "a") as f:
                f.write(
                    "\n# throwaway test cluster\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"port = {port}\n"
                    f"unix_socket_directories = '{server._sock}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 100\nshared_buffers = 64MB\n"
                )
            server._run(
                os.path.join(bindir, "pg_ctl"),
                "-D",
                server._data,
                "-l",
                os.path.join(root, "server.log"),
                "-w",
                "-t",
                str(int(timeout)),
                "start",
            )
            deadline = time.monotonic() + timeout
            while True:  # pg_ctl -w waits already; make sure TCP answers too
                try:
                    server.psql("select 1")
                    break
                except RuntimeError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            server.psql("create role portal login createdb")
            server.psql("create database portal owner portal")
        except BaseException as exc:
            log = ""
            try:
                with open(os.path.join(root, "server.log")) as f:
                    log = f.read()
            except OSError:
                pass
            server.stop()
            if isinstance(exc, RuntimeError) and log:
                raise RuntimeError(f"{exc}\nserver.log:\n{log}") from exc
            raise
        return server

    def create_database(self, name: str) -> str:
        """Create a fresh empty database owned by `portal`; return its SQLAlchemy URL."""
        if not _NAME_RE.match(name):
            raise ValueError(f"invalid database name {name!r} (use [a-z0-9_])")
        self.psql(f'create database "{name}" owner portal')
        return self.url_for(name)

    def pause(self) -> None:
        """Stop the server (pg_ctl stop -m fast), keeping its data, as an outage would."""
        self._run(
            os.path.join(self._bindir, "pg_ctl"), "-D", self._data, "-m", "fast", "-w", "stop"
        )

    def resume(self, timeout: float = 30.0) -> None:
        """Start the paused server again on the same port, and wait until it answers."""
        self._run(
            os.path.join(self._bindir, "pg_ctl"),
            "-D",
            self._data,
            "-l",
            os.path.join(self._root, "server.log"),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.psql("select 1")
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if os.path.exists(os.path.join(self._data, "postmaster.pid")):
            self._run(
                os.path.join(self._bindir, "pg_ctl"),
                "-D",
                self._data,
                "-m",
                "immediate",
                "-w",
                "stop",
                check=False,
            )
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
