"""The processes under test: gunicorn, the test IdP, and the callers' credentials."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import BENCH_DIR, GEOIP, IDP_MODULES, ROOT, BenchError, say
from .dataset import ADMIN, CALLERS, USER, bench_user_agent, target_subject

AUDIENCE = "https://portal.test/api"
CLIENT_ID, CLIENT_SECRET = "portal", "portal-secret"
ALL_PERMISSIONS = ["viewUserDevices", "manageUserDevices", "viewAuditLog"]
GROUP_PERMISSIONS = {"portal-admins": ALL_PERMISSIONS, "helpdesk": ["viewUserDevices"]}
YEAR = 365 * 24 * 3600

# ----------------------------------------------------------------------------- processes


class Process:
    """A child process in a session of its own, stopped by its id (then its group)."""

    def __init__(self, name: str, argv: list[str], env: dict, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            cwd=str(ROOT),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        with contextlib.suppress(OSError):
            return "".join(self.log_path.read_text(errors="replace").splitlines(True)[-lines:])
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def children_of(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def wait_http(url: str, process: Process, timeout: float = 60.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        if not process.alive():
            raise BenchError(f"{process.name} exited; its log:\n{process.tail()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise BenchError(f"{process.name} did not answer {url} within {timeout:.0f} s")
        time.sleep(0.2)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the servers bind: connections wrk left in TIME_WAIT do not make a port busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def gunicorn(
    name: str, log_name: str, app: str, port: int, args, env: dict, extra: list[str]
) -> Process:
    """``app`` under gunicorn: the same settings for the portal and the bare route."""
    if not port_is_free(port):
        raise BenchError(f"port {port} is in use (pick others with --port)")
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        str(args.workers),
        "-b",
        f"127.0.0.1:{port}",
        *extra,
        app,
    ]
    return Process(name, argv, env, BENCH_DIR / "logs" / f"{log_name}.log")


def start_idp(port: int):
    """The real test IdP (tests/idp, panva's oidc-provider) on a fixed port, so its issuer,
    which the cached datasets' users carry, is the same in every run."""
    import support.idp as idp_module

    if not port_is_free(port):
        raise BenchError(
            f"port {port} (the bench IdP's, --idp-port) is in use; the datasets' users carry "
            f"the issuer http://127.0.0.1:{port}, so another port means new datasets"
        )
    original = idp_module.free_port
    idp_module.free_port = lambda: port
    try:
        return idp_module.OidcProvider.start([p.account for p in CALLERS], audience=AUDIENCE)
    except RuntimeError as exc:
        raise BenchError(f"the test IdP did not start: {exc}") from None
    finally:
        idp_module.free_port = original


# ----------------------------------------------------------------------------- preflight


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BenchError("wrk is missing: apt-get install wrk (as root), then run again")
    say("wrk is missing: apt-get install wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "wrk"], check=True, env=env
    )
    wrk = shutil.which("wrk")
    if not wrk:
        raise BenchError("apt-get installed wrk but it is not on PATH")
    return wrk


def preflight(args) -> str:
    """Check (or, for wrk, install) what the bench needs; returns wrk's path."""
    if args.postgres:
        from support.postgres import _find_bindir

        try:
            _find_bindir()
        except RuntimeError as exc:
            raise BenchError(str(exc)) from None
    if args.build_only:
        return ""
    wrk = ensure_wrk()
    if not shutil.which("node"):
        raise BenchError(
            "node is missing (the test IdP runs on it): bash scripts/install-test-deps.sh"
        )
    if not IDP_MODULES.is_dir():
        raise BenchError(
            "tests/idp/node_modules is missing (the test IdP): bash scripts/install-test-deps.sh"
        )
    if args.profile and not py_spy():
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    return wrk


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


# ----------------------------------------------------------------------------- callers


@dataclass
class Callers:
    headers: dict[str, dict[str, str]]
    target_id: str
    session_id: str  # the user's browser session, which the heartbeat route extends


def portal_env(args, database_url: str, issuer: str) -> dict[str, str]:
    """The portal's settings, as gunicorn gets them (and this process, for its checks)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        {
            "PORTAL_ENV": "production",
            "PORTAL_SECRET_KEY": "bench-secret-key-not-for-production-use-0123456789",
            "PORTAL_DATABASE_URL": database_url,
            "PORTAL_OIDC_ISSUER": issuer,
            "PORTAL_OIDC_CLIENT_ID": CLIENT_ID,
            "PORTAL_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "PORTAL_API_AUDIENCE": AUDIENCE,
            "PORTAL_GROUP_PERMISSIONS": json.dumps(GROUP_PERMISSIONS),
            "PORTAL_GEOIP_DATABASE": str(GEOIP),
            "PORTAL_SESSION_COOKIE_SECURE": "false",
            "PORTAL_SESSION_LIFETIME": str(YEAR),
            "PORTAL_SESSION_IDLE_TIMEOUT": str(YEAR),
            "PORTAL_SESSION_ABSOLUTE_LIFETIME": str(YEAR),
            "PORTAL_RATELIMIT_API": "1000000 per minute",
            "PORTAL_RATELIMIT_SIGN_IN": "1000000 per minute",
        }
    )
    for setting in args.set:
        name, _, value = setting.partition("=")
        env[name if name.startswith("PORTAL_") else f"PORTAL_{name}"] = value
    return env


def metrics_env(env: dict[str, str]) -> dict[str, str]:
    """The portal's settings with metrics on, as in production under gunicorn: every worker
    counts into files of a folder of its own (emptied at each start) and /metrics is served."""
    folder = BENCH_DIR / "metrics"
    folder.mkdir(parents=True, exist_ok=True)
    return {
        **env,
        "PORTAL_METRICS_DIR": str(folder),
        "PORTAL_METRICS_TOKEN": "bench-metrics-token-not-for-production-0123",
    }


# The attacker's block of the sign-in search's routes: INCIDENT_SESSIONS sign-ins from it, of
def prepare_callers(app, idp, users: int) -> Callers:
    """Sign the admin and the user in (a session row each, as the OIDC callback makes one, on
    one of their existing browsers), sign their Flask session cookies, mint their tokens."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import User
    from portal.services.sessions import opening
    from portal.services.sessions import policy as sessions

    headers: dict[str, dict[str, str]] = {}
    with app.app_context():
        policy = sessions.SessionPolicy.from_config(app.config)
        serializer = app.session_interface.get_signing_serializer(app)
        cookie_name = app.config["SESSION_COOKIE_NAME"]
        for who, person in (("admin", ADMIN), ("user", USER)):
            user = db.session.execute(
                select(User).where(User.subject == person.sub)
            ).scalar_one_or_none()
            if user is None:
                raise BenchError(f"the dataset has no user {person.sub!r}")
            row, _ = opening.record_sign_in(
                user,
                device_secret=person.device_secret(0),
                client=opening.ClientInfo("81.2.69.142", bench_user_agent()),
                policy=policy,
                geoip_database=str(GEOIP),
            )
            cookie = serializer.dumps({"_user_id": str(row.id), "_fresh": True})
            headers[f"{who}-cookie"] = {"Cookie": f"{cookie_name}={cookie}"}
            if who == "user":
                session_id = str(row.id)
        target = db.session.execute(
            select(User).where(User.subject == target_subject(users))
        ).scalar_one()
        target_id = str(target.id)
        db.session.commit()
        db.session.remove()
    for who, person in (("admin", ADMIN), ("user", USER)):
        token = idp.access_token(person.sub, scope="openid profile email devices:read")
        headers[f"{who}-token"] = {"Authorization": f"Bearer {token}"}
    write = idp.access_token(USER.sub, scope="openid profile email devices:read devices:write")
    headers["user-write-token"] = {"Authorization": f"Bearer {write}"}
    with app.app_context():  # the events feed's reader: a personal token with audit:read
        from portal.services import tokens

        admin = db.session.execute(select(User).where(User.subject == ADMIN.sub)).scalar_one()
        _, secret = tokens.create(admin, name="bench feed", scopes=["audit:read"], days=1)
        db.session.commit()
        db.session.remove()
    headers["admin-audit"] = {"Authorization": f"Bearer {secret}"}
    return Callers(headers, target_id, session_id)
