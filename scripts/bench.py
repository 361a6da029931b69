"""`make bench`: the portal under gunicorn, driven by wrk, on a database of realistic size.

    make bench                                        # 100,003 users on SQLite
    make bench BENCH_ARGS="--postgres"                # the same on PostgreSQL
    make bench BENCH_ARGS="--both --users 100000,1000"  # both databases, and the growth
    .venv/bin/python scripts/bench.py --users 1000 --duration 5 --rounds 3
    .venv/bin/python scripts/bench.py --users 1000 --profile  # and py-spy on the slowest route
    .venv/bin/python scripts/bench.py --users 1000 --routes devices --profile-route all

Builds the dataset once per size (users with 10 devices each, one ended and one active session
per device, 5 audit events per user) with a bulk path, caches it under instance/bench/, and
serves a fresh copy of it for every run: the portal (``wsgi:app``) and a bare Flask route
(scripts/bench_bare.py) under the same gunicorn, the real test IdP minting the bearer tokens.
Then wrk drives every route in interleaved rounds; the table gives medians of req/s, p50, p95,
p99, the ratio to the bare route and the SQL statements one request sends, next to the targets
of issue 9. A route that answers errors is flagged and makes the exit status 1.

What it measures and how to read it: docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import logging
import multiprocessing
import os
import platform
import pwd
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

BENCH_DIR = ROOT / "instance" / "bench"
GEOIP = ROOT / "tests" / "data" / "geoip" / "GeoLite2-City-Test.mmdb"
IDP_MODULES = ROOT / "tests" / "idp" / "node_modules" / "oidc-provider"

# The dataset is loaded into the schema of this revision, then every later migration runs on
# it (as it would on a production database), so a new migration never means a new dataset.
BASE_REVISION = "0004_sessions_ended"
# Bump when the generated data changes: cached datasets with another value are rebuilt.
DATA_FORMAT = 1
SEED = 20261125

AUDIENCE = "https://portal.test/api"
CLIENT_ID, CLIENT_SECRET = "portal", "portal-secret"
ALL_PERMISSIONS = ["viewUserDevices", "manageUserDevices", "viewAuditLog"]
GROUP_PERMISSIONS = {"portal-admins": ALL_PERMISSIONS, "helpdesk": ["viewUserDevices"]}
YEAR = 365 * 24 * 3600

DEVICES_PER_USER = 10
AUDIT_PER_USER = 5
BATCH_USERS = 5000


class BenchError(RuntimeError):
    """Something the bench needs is missing or broken; the message says what to do."""


def words(text: str) -> list[str]:
    return text.split()


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)


# ----------------------------------------------------------------------------- the people


@dataclass(frozen=True)
class Person:
    sub: str
    email: str
    name: str
    groups: tuple[str, ...]
    devices: int

    @property
    def account(self) -> dict:
        """The account the test IdP knows, with the claims the dataset holds."""
        return {"sub": self.sub, "email": self.email, "name": self.name, "groups": self.groups}

    def device_secret(self, index: int) -> str:
        """The device-cookie secret of one of this person's browsers (fixed, so a run's
        sign-in lands on an existing device instead of making an eleventh)."""
        return f"bench-device-secret:{self.sub}:{index}"


ADMIN = Person("bench-admin", "ada.admin@bench.example", "Ada Admin", ("portal-admins",), 10)
USER = Person("bench-user", "eve.employee@bench.example", "Eve Employee", ("staff",), 10)
HELPDESK = Person("bench-helpdesk", "hal.helpdesk@bench.example", "Hal Helpdesk", ("helpdesk",), 4)
CALLERS = (ADMIN, USER, HELPDESK)  # 24 devices: 100,000 users -> 1,000,024 devices

FIRST = words("Ada Ben Cleo Dan Eva Finn Gia Hugo Ines Jon Kai Lea Max Nora Oskar Pia Rosa Sam")
LAST = words(
    "Andersen Berg Costa Dubois Eriksen Fischer Garcia Horvat Ivanova Jansen Kowalski Larsen "
    "Moreau Novak Olsen Petrov Rossi Schmidt Tanaka Vargas Weber Young Zimmermann"
)


def target_subject(users: int) -> str:
    """The user the admin routes look at: one of the bulk users, with 10 devices."""
    return f"user{users // 2}"


# ----------------------------------------------------------------------------- the dataset


@dataclass(frozen=True)
class DatasetSpec:
    kind: str  # sqlite | postgresql
    users: int
    issuer: str

    @property
    def devices(self) -> int:
        return self.users * DEVICES_PER_USER + sum(p.devices for p in CALLERS)

    @property
    def audit_events(self) -> int:
        return self.users * AUDIT_PER_USER

    def describe(self) -> str:
        total = self.users + len(CALLERS)
        return (
            f"{total:,} users, {self.devices:,} devices, {2 * self.devices:,} sessions, "
            f"{self.audit_events:,} audit events"
        )

    def key(self) -> str:
        """Changes whenever the data would: its parameters, this format, the base schema."""
        digest = hashlib.sha256()
        digest.update(json.dumps([DATA_FORMAT, SEED, self.users, self.issuer]).encode())
        for path in base_migration_files():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()[:10]


def base_migration_files() -> list[Path]:
    """The migration files up to BASE_REVISION (what the cached schema was built from)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(ROOT / "migrations"))
    try:
        chain = list(scripts.walk_revisions(base="base", head=BASE_REVISION))
    except Exception as exc:
        raise BenchError(
            f"migration {BASE_REVISION!r} (BASE_REVISION in scripts/bench.py) is not in "
            f"migrations/versions: {exc}"
        ) from None
    return sorted(Path(s.path) for s in chain)


class Generator:
    """Rows for every table, deterministic for a given size and issuer.

    Each browser device has two sessions: an older one that was signed out and the current
    one, still open (expiring in ten years, so a cached dataset stays "active"). Addresses and
    User-Agents come from the demo data (they resolve in the GeoIP test database); each is
    parsed and located once, not once per row.

    Values come out as the database stores them (``Loader.prepare`` checks that against the
    models' own bind processors): UUIDs as 32 hex digits, timestamps as ISO text (naive UTC
    on SQLite, with +00:00 on PostgreSQL), JSON as text. Within a batch, devices, sessions and
    audit events are ordered by time, as they would have arrived, not grouped by user.
    """

    USERS = words(
        "id issuer subject email name groups created_at last_seen_at last_ip "
        "last_country_code last_city reauth_required_after"
    )
    DEVICES = words(
        "id user_id fingerprint kind name device_type os_name os_version browser "
        "browser_version model app_version user_agent ip_address country_code country city "
        "latitude longitude is_trusted trust_level trust_expires_at first_seen_at last_seen_at "
        "removed_at revoked_at reported_suspicious_at"
    )
    SESSIONS = words(
        "id user_id device_id login_method token_id idp_sid created_at last_used_at expires_at "
        "absolute_expires_at ended_at end_reason ended_by_id ip_address country_code country "
        "city latitude longitude"
    )
    AUDIT = words(
        "occurred_at actor_id actor_label action target_user_id device_id session_id "
        "ip_address detail"
    )
    COLUMNS = {"users": USERS, "devices": DEVICES, "sessions": SESSIONS, "audit_events": AUDIT}
    # Which column of each table orders its rows within a batch (when they happened).
    TIME_ORDER = {"devices": DEVICES.index("first_seen_at"), "sessions": 6, "audit_events": 0}

    def __init__(self, spec: DatasetSpec, now: datetime) -> None:
        from portal.services import geo
        from portal.services.useragent import describe

        self.spec = spec
        # Whole seconds, UTC; naive on SQLite (which stores naive UTC text).
        self.now = now.replace(microsecond=0)
        if spec.kind == "sqlite":
            self.now = self.now.replace(tzinfo=None)
        self.far = self.ts(self.now + timedelta(days=3650))
        self.agents = []
        for ua in bench_user_agents():
            d = describe(ua)
            self.agents.append(
                (
                    d.default_name,
                    d.device_type,
                    d.os_name,
                    d.os_version,
                    d.browser,
                    d.browser_version,
                    d.model,
                    d.app_version,
                    ua,
                )
            )
        self.places = []
        for ip in bench_addresses():
            w = geo.locate(ip, str(GEOIP))
            self.places.append((ip, w.country_code, w.country, w.city, w.latitude, w.longitude))

    @staticmethod
    def ts(value: datetime) -> str:
        return value.isoformat(" ", "microseconds")

    @staticmethod
    def uuid_hex(bits: int) -> str:
        """A version-4 UUID from 128 random bits, as 32 hex digits."""
        bits = (bits & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)
        return f"{bits:032x}"

    def batch_starts(self) -> range:
        return range(0, self.spec.users, BATCH_USERS)

    def batch(self, start: int) -> dict[str, list[tuple]]:
        """Rows of every table for the users from ``start`` (the callers come with the first
        batch), each table's rows in the order they happened."""
        people = [(-1 - k, p) for k, p in enumerate(CALLERS)] if start == 0 else []
        for i in range(start, min(start + BATCH_USERS, self.spec.users)):
            first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
            name = f"{first} {last}"
            people.append((i, Person(f"user{i}", f"user{i}@example.test", name, ("staff",), 10)))
        batch = self._batch(people)
        for table, column in self.TIME_ORDER.items():
            batch[table].sort(key=lambda row, c=column: row[c])
        return batch

    def batches(self) -> Iterator[dict[str, list[tuple]]]:
        """Every batch in order, generated in a forked process while the caller loads the
        previous one (two cores: generating and inserting overlap)."""
        global _GENERATOR
        _GENERATOR = self
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            starts = iter(self.batch_starts())
            pending: deque = deque()
            for start in itertools.islice(starts, 2):
                pending.append(pool.submit(_generate, start))
            while pending:
                batch = pending.popleft().result()
                for start in itertools.islice(starts, 1):
                    pending.append(pool.submit(_generate, start))
                yield batch

    def _batch(self, people: list[tuple[int, Person]]) -> dict[str, list[tuple]]:
        now, far, ts, uid, td = self.now, self.far, self.ts, self.uuid_hex, timedelta
        agents, places = self.agents, self.places
        users: list[tuple] = []
        devices: list[tuple] = []
        sessions: list[tuple] = []
        audit: list[tuple] = []
        staff = json.dumps(["staff"])
        for index, person in people:
            rng = random.Random(SEED * 1_000_003 + index)
            rnd, bits = rng.random, rng.getrandbits
            user_id = uid(bits(128))
            newest: tuple[datetime, tuple] | None = None
            device_ids = []
            for j in range(person.devices):
                device_id = uid(bits(128))
                device_ids.append(device_id)
                agent = agents[(index + j) % len(agents)]
                place = places[(index * 7 + j) % len(places)]
                old_place = places[(index * 7 + j + 1) % len(places)]
                if index < 0:  # a caller: its browsers are found by their cookie's secret
                    fingerprint = hashlib.sha256(person.device_secret(j).encode()).hexdigest()
                else:
                    fingerprint = f"{bits(256):064x}"
                # The open session: started up to 20 days ago, used since.
                age = 60 + int(rnd() * 20 * 86400)
                created = now - td(seconds=age)
                used = now - td(seconds=int(rnd() * age))
                # The ended one: a sign-in some weeks earlier, signed out hours later.
                old_created = created - td(seconds=86400 + int(rnd() * 40 * 86400))
                old_ended = ts(old_created + td(seconds=600 + int(rnd() * 8 * 3600)))
                old_at, created_at, used_at = ts(old_created), ts(created), ts(used)
                trust = j % 4  # HIGH, LOW (lapsed or not), untrusted, untrusted
                devices.append(
                    (
                        device_id,
                        user_id,
                        fingerprint,
                        "browser",
                        *agent,
                        *place,
                        trust < 2,
                        "HIGH" if trust == 0 else "LOW" if trust == 1 else "UNKNOWN",
                        far
                        if trust == 0
                        else ts(old_created + td(days=30))
                        if trust == 1
                        else None,
                        old_at,
                        used_at,
                        None,
                        None,
                        None,
                    )
                )
                sessions.append(
                    (
                        uid(bits(128)),
                        user_id,
                        device_id,
                        "oidc",
                        None,
                        None,
                        old_at,
                        old_ended,
                        ts(old_created + td(hours=8)),
                        ts(old_created + td(hours=24)),
                        old_ended,
                        "signed_out",
                        user_id,
                        *old_place,
                    )
                )
                sessions.append(
                    (
                        uid(bits(128)),
                        user_id,
                        device_id,
                        "oidc",
                        None,
                        None,
                        created_at,
                        used_at,
                        far,
                        far,
                        None,
                        None,
                        None,
                        *place,
                    )
                )
                if newest is None or used > newest[0]:
                    newest = (used, place)
            assert newest is not None
            groups = staff if person.groups == ("staff",) else json.dumps(list(person.groups))
            joined = now - td(days=400) + td(seconds=int(rnd() * 300 * 86400))
            users.append(
                (
                    user_id,
                    self.spec.issuer,
                    person.sub,
                    person.email,
                    person.name,
                    groups,
                    ts(joined),
                    ts(newest[0]),
                    newest[1][0],
                    newest[1][1],
                    newest[1][3],
                    None,
                )
            )
            for _ in range(AUDIT_PER_USER if index >= 0 else 0):
                action = AUDIT_ACTIONS[int(rnd() * len(AUDIT_ACTIONS))]
                detail = "{}" if action == "sign_in" else '{"device": "Chrome on Windows"}'
                audit.append(
                    (
                        ts(now - td(seconds=int(rnd() * 90 * 86400))),
                        user_id,
                        person.email,
                        action,
                        user_id,
                        device_ids[int(rnd() * len(device_ids))],
                        None,
                        places[int(rnd() * len(places))][0],
                        detail,
                    )
                )
        return {"users": users, "devices": devices, "sessions": sessions, "audit_events": audit}


_GENERATOR: Generator | None = None


def _generate(start: int) -> dict[str, list[tuple]]:
    """One batch, in the generating process (forked with ``_GENERATOR`` set)."""
    assert _GENERATOR is not None
    return _GENERATOR.batch(start)


AUDIT_ACTIONS = ["sign_in"] * 6 + [
    "sign_out",
    "trust_device",
    "rename_device",
    "revoke_session",
    "untrust_device",
]


class Loader:
    """Bulk inserts into one database: executemany on SQLite, COPY on PostgreSQL, with the
    secondary indexes dropped while loading and built once at the end."""

    TABLES = ("users", "devices", "sessions", "audit_events")

    def __init__(self, engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.kind = engine.dialect.name
        self.raw = engine.raw_connection()
        self.driver = self.raw.driver_connection
        self.indexes: list[tuple[str, str]] = []
        self.statements: dict[str, str] = {}

    def close(self) -> None:
        self.raw.close()

    def prepare(self, columns: dict[str, list[str]], generator: Generator) -> None:
        """Check our columns against the base schema, and our value formats against what the
        models' types would write; prepare one statement per table."""
        from sqlalchemy import inspect

        insp = inspect(self.engine)
        for table, ours in columns.items():
            theirs = {c["name"]: c for c in insp.get_columns(table)}
            unknown = [c for c in ours if c not in theirs]
            if unknown:
                raise BenchError(f"{table} has no column(s) {unknown} at {BASE_REVISION}")
            for name, col in theirs.items():
                required = not col["nullable"] and col.get("default") is None
                if name not in ours and name != "id" and required:
                    raise BenchError(f"{table}.{name} is NOT NULL and bench.py leaves it out")
            cols = ", ".join(f'"{c}"' for c in ours)
            if self.kind == "sqlite":
                marks = ", ".join("?" * len(ours))
                self.statements[table] = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
            else:
                self.statements[table] = f"COPY {table} ({cols}) FROM STDIN"
        if self.kind == "sqlite":
            self._check_formats(generator)

    def _check_formats(self, generator: Generator) -> None:
        """SQLite keeps what it is given: make sure it is what the portal itself would write."""
        from portal.models import Device, User

        when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        bits = random.Random(1).getrandbits(128)
        t = User.__table__.c
        samples = [
            (t.id, uuid.UUID(generator.uuid_hex(bits)), generator.uuid_hex(bits)),
            (t.created_at, when, generator.ts(when.replace(tzinfo=None))),
            (t.groups, ["staff"], json.dumps(["staff"])),
            (Device.__table__.c.is_trusted, True, True),
        ]
        for column, value, ours in samples:
            proc = column.type.dialect_impl(self.dialect).bind_processor(self.dialect)
            theirs = proc(value) if proc else value
            if theirs != ours:
                raise BenchError(
                    f"{column}: the portal writes {theirs!r} where bench.py writes {ours!r}; "
                    "update Generator in scripts/bench.py"
                )

    def drop_indexes(self) -> None:
        cur = self.driver.cursor()
        names = "', '".join(self.TABLES)
        if self.kind == "sqlite":
            cur.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                f"AND tbl_name IN ('{names}')"
            )
        else:
            cur.execute(
                "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = 'public' "
                f"AND tablename IN ('{names}') AND NOT EXISTS "
                "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
            )
        self.indexes = list(cur.fetchall())
        for name, _ in self.indexes:
            cur.execute(f'DROP INDEX "{name}"')
        self.driver.commit()

    def create_indexes(self) -> None:
        cur = self.driver.cursor()
        for _, sql in self.indexes:
            cur.execute(sql)
        self.driver.commit()

    def begin(self) -> None:
        cur = self.driver.cursor()
        if self.kind == "sqlite":
            # The portal's engines open SQLite in WAL mode; leaving it needs the file to
            # ourselves, so the pool's other connections (the schema checks') are closed first.
            self.engine.dispose()
            for pragma in (
                "journal_mode = OFF",
                "synchronous = OFF",
                "cache_size = -1000000",
                "temp_store = MEMORY",
            ):
                cur.execute(f"PRAGMA {pragma}")
        else:
            # Superuser only: skip the foreign-key triggers (the rows are loaded in order).
            cur.execute("SET session_replication_role = replica")
            cur.execute("SET maintenance_work_mem = '1GB'")
            self.driver.commit()

    def load(self, table: str, rows: list[tuple]) -> None:
        if self.kind == "sqlite":
            self.driver.executemany(self.statements[table], rows)
        else:
            with self.driver.cursor() as cur, cur.copy(self.statements[table]) as copy:
                for row in rows:
                    copy.write_row(row)

    def commit(self) -> None:
        self.driver.commit()


def build_dataset(spec: DatasetSpec, url: str, load_url: str) -> dict:
    """Migrate an empty database to BASE_REVISION and fill it; returns the build's timings."""
    from flask_migrate import upgrade
    from sqlalchemy import create_engine

    from portal import create_app
    from portal.extensions import db

    timings: dict[str, float] = {}
    started = time.perf_counter()
    app = create_app({"ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade(revision=BASE_REVISION)
        db.session.remove()
        db.engine.dispose()
    timings["schema"] = time.perf_counter() - started

    engine = create_engine(load_url)
    loader = Loader(engine)
    try:
        generator = Generator(spec, datetime.now(UTC))
        loader.prepare(Generator.COLUMNS, generator)
        loader.drop_indexes()
        loader.begin()
        t0 = time.perf_counter()
        waited = 0.0
        counts = dict.fromkeys(Loader.TABLES, 0)
        batches = generator.batches()
        while True:
            g0 = time.perf_counter()
            batch = next(batches, None)
            waited += time.perf_counter() - g0
            if batch is None:
                break
            for table in Loader.TABLES:
                loader.load(table, batch[table])
                counts[table] += len(batch[table])
            if counts["users"] % 20000 < BATCH_USERS:
                say(
                    f"  {counts['users']:,} users, {counts['sessions']:,} sessions "
                    f"({time.perf_counter() - t0:.0f} s)"
                )
        loader.commit()
        timings["rows"] = time.perf_counter() - t0
        timings["waiting_for_rows"] = waited
        t0 = time.perf_counter()
        loader.create_indexes()
        timings["indexes"] = time.perf_counter() - t0
    finally:
        loader.close()
    t0 = time.perf_counter()
    if spec.kind == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    timings["vacuum"] = time.perf_counter() - t0
    engine.dispose()
    timings["total"] = time.perf_counter() - started
    expected = {
        "users": spec.users + len(CALLERS),
        "devices": spec.devices,
        "sessions": 2 * spec.devices,
        "audit_events": spec.audit_events,
    }
    if counts != expected:
        raise BenchError(f"loaded {counts}, expected {expected}")
    return {"timings": {k: round(v, 1) for k, v in timings.items()}, "rows": counts}


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


def sqlite_run_copy(spec: DatasetSpec, rebuild: bool) -> RunDatabase:
    """A fresh copy of the dataset for one run (the cached file is never served)."""
    base, meta = sqlite_base(spec, rebuild)
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


def postgres_run_copy(
    spec: DatasetSpec, cluster: Cluster, rebuild: bool, serve: list[str]
) -> RunDatabase:
    """A fresh copy of the template database for one run (a file copy inside the cluster)."""
    template, meta = postgres_base(spec, cluster, rebuild, serve)
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


# ----------------------------------------------------------------------------- routes


@dataclass
class Target:
    what: str  # ratio | p95 | p99 | statements | timeouts
    limit: float

    def text(self) -> str:
        return {
            "ratio": f"≥ {self.limit:g}x bare",
            "p95": f"p95 ≤ {self.limit:g} ms",
            "p99": f"p99 ≤ {self.limit:g} ms",
            "statements": f"≤ {self.limit:g} statements",
            "timeouts": "no timeouts",
        }[self.what]

    def met(self, row: Result) -> bool | None:
        if row.skipped:
            return False  # a route the portal does not serve meets nothing
        value = {
            "ratio": row.ratio,
            "p95": row.median("p95"),
            "p99": row.median("p99"),
            "statements": row.statements,
            "timeouts": sum(r["timeout"] for r in row.runs) if row.runs else None,
        }[self.what]
        if value is None:
            return None
        return value >= self.limit if self.what == "ratio" else value <= self.limit


@dataclass
class Route:
    key: str
    label: str
    path: str
    server: str = "portal"  # portal | bare
    auth: str | None = None  # user-token | admin-token | user-cookie | admin-cookie
    marker: str | None = None
    targets: list[Target] = field(default_factory=list)
    optional: bool = False
    # Open-loop rates (req/s) measured besides the shares of capacity, each with a p99 target.
    fixed_rates: tuple[tuple[int, float], ...] = ()
    # An unchanged poll: sent with If-None-Match of the ETag a GET got just before each run
    # (the token's once-a-minute activity stamp moves it), so it answers 304.
    revalidate: bool = False


def routes_for(target_id: str, target_email: str) -> list[Route]:
    return [
        Route("bare", "bare Flask route", "/", server="bare", marker='"status"'),
        Route("livez", "/livez", "/livez", targets=[Target("ratio", 0.8)], optional=True),
        Route("healthz", "/healthz", "/healthz"),
        Route(
            "devices",
            "GET /devices (user token)",
            "/devices",
            auth="user-token",
            marker='"devices"',
            targets=[Target("ratio", 0.35), Target("p99", 25), Target("statements", 3)],
        ),
        Route(
            "devices-304",
            "GET /devices, unchanged: 304 (user token)",
            "/devices",
            auth="user-token",
            revalidate=True,
            targets=[Target("ratio", 0.6), Target("statements", 2)],
        ),
        Route(
            "user-devices",
            "GET /devices/users/{id} (admin token)",
            f"/devices/users/{target_id}",
            auth="admin-token",
            marker='"id"',
            targets=[Target("ratio", 0.25), Target("statements", 4)],
        ),
        Route(
            "my-devices",
            "My devices GET / (user cookie)",
            "/",
            auth="user-cookie",
            marker='id="devices"',
            targets=[Target("ratio", 0.2), Target("p95", 30)],
            fixed_rates=((300, 25.0),),
        ),
        Route(
            "user-page",
            "/admin/users/{id} (admin cookie)",
            f"/admin/users/{target_id}",
            auth="admin-cookie",
            marker=target_email,
            targets=[Target("ratio", 0.1)],
        ),
        Route(
            "sign-ins",
            f"/admin/sign-ins?ip={INCIDENT_BLOCK} (admin cookie)",
            f"/admin/sign-ins?ip={INCIDENT_BLOCK}",
            auth="admin-cookie",
            marker="data-session-id",
            targets=[Target("p95", 50), Target("timeouts", 0)],
        ),
        Route(
            "api-sign-ins",
            f"GET /sign-ins?ip={INCIDENT_BLOCK} (admin token)",
            f"/sign-ins?ip={INCIDENT_BLOCK}",
            auth="admin-token",
            marker='"signedInAt"',
            targets=[Target("p95", 50), Target("timeouts", 0)],
        ),
        Route(
            "search",
            "/admin/users?q=user12 (admin cookie)",
            "/admin/users?q=user12",
            auth="admin-cookie",
            marker="user12",
            targets=[Target("p95", 50), Target("timeouts", 0)],
        ),
    ]


@dataclass
class Result:
    route: Route
    statements: int | None = None
    statements_first: int | None = None
    runs: list[dict] = field(default_factory=list)
    ratio: float | None = None
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None
    open_loop: list[dict] = field(default_factory=list)

    def median(self, key: str) -> float | None:
        values = [r[key] for r in self.runs if r.get(key) is not None]
        return statistics.median(values) if values else None

    @property
    def errors(self) -> int:
        return sum(r["status"] + r["connect"] + r["read"] + r["write"] for r in self.runs)

    @property
    def timeouts(self) -> int:
        return sum(r["timeout"] for r in self.runs)


# ----------------------------------------------------------------------------- callers


@dataclass
class Callers:
    headers: dict[str, dict[str, str]]
    target_id: str


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


# The attacker's block of the sign-in search's routes: INCIDENT_SESSIONS sign-ins from it, of
# as many users, added to each run's copy (the cached datasets predate the search).
INCIDENT_BLOCK = "203.0.113.0/24"
INCIDENT_SESSIONS = 1000
BULK_JOB_SESSIONS = 50_000


def add_incident(app, count: int = INCIDENT_SESSIONS) -> int:
    """Sign-ins from INCIDENT_BLOCK on the browsers of ``count`` users (one each, the last
    day), inserted with Core so the column default fills their address keys."""
    from sqlalchemy import insert, select

    from portal.extensions import db
    from portal.models import Device, UserSession, utcnow

    now = utcnow()
    with app.app_context():
        devices = db.session.execute(
            select(Device.id, Device.user_id).where(Device.kind == "browser").limit(count * 10)
        ).all()
        seen, rows = set(), []
        for device_id, user_id in devices:
            if user_id in seen:
                continue
            seen.add(user_id)
            n = len(rows)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "user_id": user_id,
                    "device_id": device_id,
                    "login_method": "oidc",
                    "created_at": now - timedelta(seconds=60 + n * 80),
                    "last_used_at": now,
                    "expires_at": now + timedelta(days=3650),
                    "absolute_expires_at": now + timedelta(days=3650),
                    "ip_address": f"203.0.113.{n % 254 + 1}",
                    "sign_in_flags": 0,
                }
            )
            if len(rows) == count:
                break
        db.session.execute(insert(UserSession.__table__), rows)
        db.session.commit()
        db.session.remove()
    return len(rows)


def bench_bulk_job(app, wanted: int = BULK_JOB_SESSIONS) -> dict:
    """A bulk sign-out of the ``wanted`` newest active sessions (or half of all, on a small
    dataset), made as the admin's request makes it and worked by ``run_pending`` in its
    batches, each committed, as the background worker does; timed."""
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import UserSession
    from portal.services import bulk_jobs, sign_ins

    with app.app_context():
        active = db.session.scalar(
            select(func.count()).select_from(UserSession).where(UserSession.ended_at.is_(None))
        )
        n = min(wanted, active // 2)
        since = db.session.scalar(
            select(UserSession.created_at)
            .where(UserSession.ended_at.is_(None))
            .order_by(UserSession.created_at.desc())
            .offset(n - 1)
            .limit(1)
        )
        t0 = time.perf_counter()
        job, _ = bulk_jobs.create_sign_out_job(
            sign_ins.parse_filter(since=since.isoformat(), active=True),
            created_by_id=None,
            actor_label="bench",
            actor_ip=None,
            via="cli",
            idempotency_key=None,
        )
        db.session.commit()
        made = time.perf_counter() - t0
        t1 = time.perf_counter()
        batches = 0
        while bulk_jobs.run_pending():
            db.session.commit()
            batches += 1
        worked = time.perf_counter() - t1
        job = bulk_jobs.get_job(job.id)
        result = {
            "sessions": job.total,
            "users": job.users,
            "ended": job.ended,
            "status": job.status,
            "batches": batches,
            "create_seconds": round(made, 2),
            "run_seconds": round(worked, 1),
        }
        db.session.remove()
    return result


def prepare_callers(app, idp, users: int) -> Callers:
    """Sign the admin and the user in (a session row each, as the OIDC callback makes one, on
    one of their existing browsers), sign their Flask session cookies, mint their tokens."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import User
    from portal.services import sessions

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
            row, _ = sessions.record_sign_in(
                user,
                device_secret=person.device_secret(0),
                client=sessions.ClientInfo("81.2.69.142", bench_user_agent()),
                policy=policy,
                geoip_database=str(GEOIP),
            )
            cookie = serializer.dumps({"_user_id": str(row.id), "_fresh": True})
            headers[f"{who}-cookie"] = {"Cookie": f"{cookie_name}={cookie}"}
        target = db.session.execute(
            select(User).where(User.subject == target_subject(users))
        ).scalar_one()
        target_id = str(target.id)
        db.session.commit()
        db.session.remove()
    for who, person in (("admin", ADMIN), ("user", USER)):
        token = idp.access_token(person.sub, scope="openid profile email devices:read")
        headers[f"{who}-token"] = {"Authorization": f"Bearer {token}"}
    with app.app_context():  # the events feed's reader: a personal token with audit:read
        from portal.services import personal_tokens

        admin = db.session.execute(select(User).where(User.subject == ADMIN.sub)).scalar_one()
        _, secret = personal_tokens.create(admin, name="bench feed", scopes=["audit:read"], days=1)
        db.session.commit()
        db.session.remove()
    headers["admin-audit"] = {"Authorization": f"Bearer {secret}"}
    return Callers(headers, target_id)


def bench_user_agents() -> list[str]:
    """The demo data's six browsers, in the order the cached datasets were built with."""
    from portal.services.demo import ANDROID, FIREFOX, IPAD, IPHONE, MAC, WINDOWS

    return [MAC, WINDOWS, IPHONE, ANDROID, IPAD, FIREFOX]


def bench_addresses() -> list[str]:
    """The demo data's six addresses (they resolve in the GeoIP test database)."""
    from portal.services.demo import IPS

    return IPS


def bench_user_agent() -> str:
    return bench_user_agents()[1]


def check_answer(route: Route, status: int, body: str) -> str | None:
    """Why an answer is not the page or document the route should give; None when it is."""
    expected = 304 if route.revalidate else 200
    if status != expected:
        return f"answered {status}: {body[:200]!r}"
    if route.marker and route.marker not in body:
        return f"answered 200 without {route.marker!r}: {body[:200]!r}"
    return None


def count_statements(app, routes: list[Route], callers: Callers) -> dict[str, tuple[int, int]]:
    """SQL statements one request of each route sends, in this process with the test client
    against the same database: (the first request, the next one)."""
    from support.queries import count_queries

    from portal.extensions import db

    counts: dict[str, tuple[int, int]] = {}
    client = app.test_client(use_cookies=False)  # the Cookie header is ours to send
    with app.app_context():
        engine = db.engine
    for route in routes:
        if route.server != "portal":
            continue
        headers = callers.headers.get(route.auth, {}) if route.auth else {}
        if route.revalidate:
            tag = client.get(route.path, headers=headers).headers["ETag"]
            headers = {**headers, "If-None-Match": tag}
        got = []
        for _ in range(2):
            with count_queries(engine) as statements:
                response = client.get(route.path, headers=headers)
            problem = check_answer(route, response.status_code, response.get_data(as_text=True))
            if problem:
                if route.optional and response.status_code == 404:
                    break
                raise BenchError(f"{route.label}: {problem}")
            got.append(len(statements))
        if len(got) == 2:
            counts[route.key] = (got[0], got[1])
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return counts


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


def run_wrk(wrk: str, script: Path, url: str, headers: dict, args, seconds: int) -> dict:
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


# ----------------------------------------------------------------------------- the machine


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


def run_openloop(url: str, headers: dict, rate: int, seconds: int, timeout: float) -> dict:
    """Latency at a fixed rate, from each request's scheduled send time (the open-loop driver
    ``scripts/bench_openloop.mjs``, on Node's standard library)."""
    argv = ["node", str(OPEN_LOOP), url, str(rate), str(seconds), "--timeout", f"{timeout:g}"]
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


# ----------------------------------------------------------------------------- one size


def bench_size(
    args, wrk: str, script: Path, db: RunDatabase, idp, cluster: Cluster | None, stack
) -> dict:
    """Serve one prepared database and measure every route; returns the report's data."""
    from flask_migrate import upgrade

    from portal import create_app
    from portal.extensions import db as portal_db

    spec = db.spec
    env = portal_env(args, db.url, idp.issuer)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        app = create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    logging.getLogger().setLevel(logging.WARNING)
    t0 = time.perf_counter()
    with app.app_context():
        upgrade()
        portal_db.session.remove()
    db.upgrade_seconds = time.perf_counter() - t0
    say(
        f"copied the dataset in {db.copy_seconds:.1f} s, migrated it to head in "
        f"{db.upgrade_seconds:.1f} s"
    )

    callers = prepare_callers(app, idp, spec.users)
    say(f"added {add_incident(app)} sign-ins from {INCIDENT_BLOCK}")
    routes = routes_for(callers.target_id, f"{target_subject(spec.users)}@example.test")
    if args.routes:
        wanted = set(args.routes.split(",")) | {"bare"}
        routes = [r for r in routes if r.key in wanted]
    results = {r.key: Result(r) for r in routes}

    say("counting statements per request (test client, same database)")
    counts = count_statements(app, routes, callers)
    for route in routes:
        if route.server == "portal" and route.key not in counts:
            results[route.key].skipped = "not served (404)"
        elif route.key in counts:
            results[route.key].statements_first, results[route.key].statements = counts[route.key]

    (BENCH_DIR / "logs").mkdir(parents=True, exist_ok=True)
    logs = f"{spec.kind}-u{spec.users}"
    portal = gunicorn("portal", f"portal-{logs}", "wsgi:app", args.port, args, env, [])
    stack.callback(portal.stop)
    bare_args = ["--pythonpath", "scripts"]
    bare = gunicorn("bare", f"bare-{logs}", "bench_bare:app", args.port + 1, args, env, bare_args)
    stack.callback(bare.stop)
    wait_http(f"http://127.0.0.1:{args.port}/healthz", portal)
    wait_http(f"http://127.0.0.1:{args.port + 1}/", bare)

    live = [r for r in routes if not results[r.key].skipped]

    def url_of(route: Route) -> str:
        port = args.port + 1 if route.server == "bare" else args.port
        return f"http://127.0.0.1:{port}{route.path}"

    def headers_of(route: Route) -> dict:
        headers = callers.headers.get(route.auth, {}) if route.auth else {}
        if route.revalidate:  # the tag as it is now (see Route.revalidate)
            import requests

            tag = requests.get(url_of(route), headers=headers, timeout=30).headers["ETag"]
            headers = {**headers, "If-None-Match": tag}
        return headers

    def check_over_http(when: str) -> None:
        import requests

        for route in live:
            r = requests.get(url_of(route), headers=headers_of(route), timeout=30)
            problem = check_answer(route, r.status_code, r.text)
            if problem:
                results[route.key].problems.append(f"{when}: {problem}")

    check_over_http("before")
    broken = [r for r in live if results[r.key].problems]
    if broken:
        for r in broken:
            say(f"!! {r.label}: {results[r.key].problems}")
        raise BenchError("routes answer errors before the load; see above and instance/bench/logs")

    if args.warmup > 0:
        say(f"warming up every route ({args.warmup:g} s each)")
        for route in live:
            run_wrk(wrk, script, url_of(route), headers_of(route), args, args.warmup)

    say(
        f"{args.rounds} rounds x {len(live)} routes x {args.duration:g} s "
        f"(wrk -t{args.threads} -c{args.connections}, gunicorn -w {args.workers})"
    )
    load_before = os.getloadavg()

    def our_pids() -> list[int]:
        pids = [portal.pid, bare.pid, *children_of(portal.pid), *children_of(bare.pid)]
        if cluster is not None:
            pids += cluster.pids()
        return pids

    others = OtherLoad(our_pids)
    for n in range(args.rounds):
        for route in live:
            measured: dict = {}
            with others.measure(measured):
                got = run_wrk(wrk, script, url_of(route), headers_of(route), args, args.duration)
            got.update(measured)
            results[route.key].runs.append(got)
            flag = ""
            if got["status"] or got["connect"] or got["read"] or got["write"] or got["timeout"]:
                flag = (
                    f"  !! non-2xx/3xx {got['status']}, socket errors "
                    f"{got['connect'] + got['read'] + got['write']}, timeouts {got['timeout']}"
                )
            say(
                f"  round {n + 1} {route.label:40} {got['rps']:8.0f} req/s  "
                f"p50 {got['p50']:6.1f} ms  p99 {got['p99']:7.1f} ms  "
                f"others {got['others_cpu']:3d}% CPU{flag}"
            )
    load_after = os.getloadavg()
    check_over_http("after")
    say("the audit events feed: commit to visible, 100 events from two writers")
    event_lag = measure_event_lag(
        app, f"http://127.0.0.1:{args.port}", callers.headers["admin-audit"]
    )
    say(
        f"  {event_lag['seen']} of {event_lag['events']} seen; lag p50 "
        f"{fmt(event_lag['p50_ms'])} ms, max {fmt(event_lag['max_ms'])} ms"
    )
    if args.rates:
        say(
            f"open-loop latency at {', '.join(f'{p}%' for p in args.rates)} of each route's "
            f"capacity, {args.open_seconds} s each (measured from each request's send time)"
        )
        for route in live:
            for rate, share, target in open_loop_rates(results[route.key], args.rates):
                got = run_openloop(
                    url_of(route), headers_of(route), rate, args.open_seconds, args.timeout * 5
                )
                got.update(share=share, target_p99=target)
                results[route.key].open_loop.append(got)
                drain(f"http://127.0.0.1:{args.port}/livez")
                say(
                    f"  {route.label:40} {rate:6d} req/s ({f'{share}%' if share else 'fixed'}) "
                    f"p50 {fmt(got['p50'])} ms  p99 {fmt(got['p99'])} ms  "
                    f"errors {got['errors'] + got['status']}  timeouts {got['timeouts']}"
                )

    bulk = None
    if not args.no_bulk_job:
        say("a bulk sign-out job, worked in batches of 100 as the worker does")
        bulk = bench_bulk_job(app)
        say(
            f"  bulk job: {bulk['sessions']:,} sessions of {bulk['users']:,} users made in "
            f"{bulk['create_seconds']} s, ended in {bulk['run_seconds']} s "
            f"({bulk['batches']} batches, {bulk['status']})"
        )

    profile: list[dict] = []
    if args.profile:
        tag = f"{spec.kind}-u{spec.users}"
        profile = run_profile(args, wrk, script, live, results, url_of, headers_of, portal, tag)

    bare_rps = results["bare"].median("rps")
    for result in results.values():
        rps = result.median("rps")
        if rps is not None and bare_rps:
            result.ratio = rps / bare_rps

    pg_version = cluster.version() if cluster else None
    return {
        "database": spec.kind,
        "database_version": pg_version or sqlite3.sqlite_version,
        "dataset": spec.describe(),
        "users": spec.users,
        "built": db.meta.get("timings"),
        "copy_seconds": round(db.copy_seconds, 1),
        "upgrade_seconds": round(db.upgrade_seconds, 1),
        "load_before": load_before,
        "load_after": load_after,
        "results": results,
        "profile": profile,
        "bulk_job": bulk,
        "event_lag": event_lag,
    }


# ----------------------------------------------------------------------------- events feed


def measure_event_lag(app, url: str, headers: dict, events: int = 100) -> dict:
    """How long a committed audit event takes to appear in GET /audit/events: two writers
    commit ``events`` events (each holding its transaction open a few milliseconds, so commits
    interleave), while a reader polls the feed over HTTP every 20 ms from its end, as a
    security tool would. Lag is from each commit to the answer that first held the event."""
    import random
    import threading

    import requests
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import AuditEvent
    from portal.services import audit
    from portal.services.audit_events import encode_cursor

    with app.app_context():
        last = db.session.execute(
            select(AuditEvent.xact_id, AuditEvent.id)
            .order_by(AuditEvent.xact_id.desc(), AuditEvent.id.desc())
            .limit(1)
        ).first()
        db.session.remove()
    next_url = f"{url}/audit/events?limit=1000&cursor={encode_cursor(tuple(last or (0, 0)))}"
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}

    def write(worker: int) -> None:
        rng = random.Random(worker)
        with app.app_context():
            for n in range(worker, events, 2):
                audit.record("bench_lag", actor=None, actor_label="bench", n=n)
                time.sleep(rng.uniform(0.001, 0.01))
                db.session.commit()
                committed[n] = time.monotonic()
                time.sleep(rng.uniform(0, 0.02))
            db.session.remove()

    writers = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for thread in writers:
        thread.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(seen) < events:
        answer = requests.get(next_url, headers=headers, timeout=30)
        answer.raise_for_status()
        now = time.monotonic()
        for event in answer.json():
            if event["action"] == "bench_lag":
                seen.setdefault(event["details"]["n"], now)
        link = answer.headers["Link"]
        next_url = link[1 : link.index(">")]
        time.sleep(0.02)
    for thread in writers:
        thread.join()
    lags = sorted((seen[n] - committed[n]) * 1000 for n in seen)
    return {
        "events": events,
        "seen": len(seen),
        "p50_ms": statistics.median(lags) if lags else None,
        "max_ms": lags[-1] if lags else None,
    }


# ----------------------------------------------------------------------------- profile


def run_profile(args, wrk, script, live, results, url_of, headers_of, portal, tag) -> list[dict]:
    """py-spy on both workers while wrk drives the slowest route (or --profile-route, or
    every route with --profile-route all); a text summary of each."""
    candidates = [r for r in live if r.server == "portal" and results[r.key].runs]
    if args.profile_route and args.profile_route != "all":
        candidates = [r for r in candidates if r.key == args.profile_route]
    elif not args.profile_route:
        candidates = sorted(candidates, key=lambda r: results[r.key].median("rps") or 0)[:1]
    profiles = []
    for route in candidates:
        out = BENCH_DIR / f"profile-{tag}-{route.key}.txt"
        say(f"py-spy on the workers while wrk drives {route.label} ({args.profile_seconds:g} s)")
        spy = subprocess.Popen(
            [
                py_spy(),
                "record",
                "--pid",
                str(portal.pid),
                "--subprocesses",
                "--duration",
                str(int(args.profile_seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(out),
                "--nonblocking",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(1.0)
        run_wrk(wrk, script, url_of(route), headers_of(route), args, args.profile_seconds)
        spy_out, _ = spy.communicate(timeout=120)
        if spy.returncode != 0 or not out.exists():
            say(f"py-spy failed: {spy_out.strip()[-500:]}")
            profiles.append({"route": route.label, "error": spy_out.strip()[-500:]})
            continue
        summary = summarise_stacks(out)
        profiles.append({"route": route.label, "file": str(out.relative_to(ROOT)), **summary})
    return profiles


def summarise_stacks(path: Path, top: int = 15) -> dict:
    """Self and inclusive shares of frames in py-spy's collapsed stacks (``a;b;c count``).

    Shares are of the workers' main threads (the requests, and gunicorn around them).
    Background threads are counted apart: py-spy takes a thread that wakes every few
    milliseconds (Flask-Limiter's in-memory storage runs such a timer) for a busy one.
    """
    self_time: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = background = in_requests = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        if "Thread._bootstrap" in stack:
            background += n
            continue
        total += n
        in_requests += n if "handle_request" in stack else 0
        frames = [_frame(f) for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        self_time[frames[-1]] = self_time.get(frames[-1], 0) + n
        for f in set(frames):
            inclusive[f] = inclusive.get(f, 0) + n

    def ranked(table: dict[str, int], keep: Callable[[str], bool]) -> list[tuple[str, float]]:
        rows = sorted(((k, v) for k, v in table.items() if keep(k)), key=lambda kv: -kv[1])
        return [(k, round(100.0 * v / max(1, total), 1)) for k, v in rows[:top]]

    return {
        "samples": total,
        "background_samples": background,
        "in_requests": round(100.0 * in_requests / max(1, total), 1),
        "self": ranked(self_time, lambda k: True),
        "portal_inclusive": ranked(inclusive, lambda k: "portal/" in k),
        "libraries_inclusive": ranked(
            inclusive,
            lambda k: any(s in k for s in ("sqlalchemy/", "flask", "jinja2/", "werkzeug/")),
        ),
    }


def _frame(raw: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (file path from the package root)``."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", raw.strip())
    if not match:
        return raw.strip()
    func, path = match.groups()
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{func} ({path})"


# ----------------------------------------------------------------------------- report


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def verdicts(result: Result) -> str:
    parts = []
    for target in result.route.targets:
        met = target.met(result)
        word = "?" if met is None else "met" if met else "NOT MET"
        parts.append(f"{target.text()}: {word}")
    return "; ".join(parts)


def table_rows(report: dict) -> list[list[str]]:
    rows = []
    for result in report["results"].values():
        r = result.route
        if result.skipped:
            rows.append([r.label, result.skipped, "", "", "", "", "", "", verdicts(result)])
            continue
        stmts = "-" if r.server == "bare" else fmt(result.statements, "d")
        if result.statements_first not in (None, result.statements):
            stmts += f" (first {result.statements_first})"
        problems = []
        if result.errors:
            problems.append(f"!! {result.errors} errors")
        if result.timeouts:
            problems.append(f"!! {result.timeouts} timeouts")
        if result.problems:
            problems.append("!! " + "; ".join(result.problems))
        rows.append(
            [
                r.label,
                fmt(result.median("rps"), ",.0f"),
                fmt(result.ratio, ".2f"),
                fmt(result.median("p50")),
                fmt(result.median("p95")),
                fmt(result.median("p99")),
                stmts,
                ", ".join(problems) or "0",
                verdicts(result),
            ]
        )
    return rows


HEADER = [
    "route",
    "req/s",
    "x bare",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "statements",
    "errors",
    "targets",
]


OPEN_LOOP_HEADER = [
    "route",
    "req/s",
    "of capacity",
    "p50 ms",
    "p99 ms",
    "max ms",
    "failed",
    "target",
]


def open_loop_rows(report: dict) -> list[list[str]]:
    rows = []
    for result in report["results"].values():
        for run in result.open_loop:
            target = run.get("target_p99")
            verdict = ""
            if target is not None:
                met = run["p99"] is not None and run["p99"] <= target and not run["timeouts"]
                verdict = f"p99 ≤ {target:g} ms: {'met' if met else 'NOT MET'}"
            rows.append(
                [
                    result.route.label,
                    f"{run['rate']:,}",
                    f"{run['share']}%" if run.get("share") else "fixed",
                    fmt(run["p50"]),
                    fmt(run["p99"]),
                    fmt(run["max"]),
                    str(run["errors"] + run["status"] + run["timeouts"]),
                    verdict,
                ]
            )
    return rows


def print_table(rows: list[list[str]], header: list[str] = HEADER) -> None:
    """Columns padded (the first to the left, the rest to the right), the last left as it is."""
    last = len(header) - 1
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(last)]
    for row in [header, *rows]:
        cells = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(last)
        ]
        print("  ".join(cells) + "  " + row[last])


def markdown(rows: list[list[str]], header: list[str] = HEADER) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


def print_report(report: dict, args, host: dict) -> str:
    rows = table_rows(report)
    built = report["built"] or {}
    print()
    print(
        f"== {report['database']} {report['database_version']}: {report['dataset']} "
        f"(dataset built in {built.get('total', 0):.0f} s)"
    )
    print(
        f"   wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, "
        f"{args.rounds} interleaved rounds, medians; gunicorn -w {args.workers}"
    )
    print(f"   code: {host['code']}")
    others = [r["others_cpu"] for x in report["results"].values() for r in x.runs]
    if others:
        print(
            f"   other processes took {statistics.median(others):.0f}% of the CPU during a "
            f"median wrk run (max {max(others)}%)"
        )
    print(
        f"   machine: {host['cores']} cores ({host['cpu']}), {host['memory']}; load average "
        f"before {' '.join(f'{x:.2f}' for x in report['load_before'])}, after "
        f"{' '.join(f'{x:.2f}' for x in report['load_after'])}"
    )
    print()
    print_table(rows)
    open_rows = open_loop_rows(report)
    if open_rows:
        print("\nOpen loop: latency at fixed rates, from each request's scheduled send time")
        print_table(open_rows, OPEN_LOOP_HEADER)
    lag = report.get("event_lag")
    if lag:
        print(
            f"\nGET /audit/events, commit to visible (polled every 20 ms): {lag['seen']} of "
            f"{lag['events']} events seen, p50 {fmt(lag['p50_ms'])} ms, max {fmt(lag['max_ms'])} ms"
        )
    for profile in report.get("profile") or []:
        if not profile.get("samples"):
            continue
        print()
        print(
            f"py-spy, {profile['route']} ({profile['samples']} samples of the workers' main "
            f"threads, {profile['in_requests']}% of them in handle_request; "
            f"{profile['background_samples']} more in background threads; {profile['file']}):"
        )
        print("  self time (on CPU; native code counts for the Python frame calling it):")
        for name, share in profile["self"][:10]:
            print(f"    {share:5.1f}%  {name}")
        print("  portal functions, inclusive:")
        for name, share in profile["portal_inclusive"][:10]:
            print(f"    {share:5.1f}%  {name}")
    if open_rows:
        return markdown(rows) + "\n\n" + markdown(open_rows, OPEN_LOOP_HEADER)
    return markdown(rows)


def growth(reports: list[dict]) -> None:
    """Latency at each size against the smallest: the target is within 1.2x."""
    if len(reports) < 2:
        return
    small = min(reports, key=lambda r: r["users"])
    print()
    print(
        f"growth on {small['database']}: p50 and p99 against {small['users']:,} users "
        "(target: both within 1.2x)"
    )
    for report in reports:
        if report is small:
            continue
        for key, result in report["results"].items():
            base = small["results"].get(key)
            if not base or result.skipped or base.skipped or result.route.server == "bare":
                continue
            p50, p99 = result.median("p50"), result.median("p99")
            b50, b99 = base.median("p50"), base.median("p99")
            if not (p50 and p99 and b50 and b99):
                continue
            r50, r99 = p50 / b50, p99 / b99
            word = "met" if r50 <= 1.2 and r99 <= 1.2 else "NOT MET"
            print(
                f"  {result.route.label:40} {report['users']:>7,} users: p50 {r50:4.2f}x, "
                f"p99 {r99:4.2f}x  {word}"
            )


def side_by_side(reports: list[dict]) -> None:
    """Both databases in one table per size, as issue 9 lays it out."""
    for users in sorted({r["users"] for r in reports}, reverse=True):
        by_kind = {r["database"]: r for r in reports if r["users"] == users}
        if len(by_kind) < 2:
            continue
        lite, pg = by_kind["sqlite"]["results"], by_kind["postgresql"]["results"]
        print()
        print(f"side by side, {by_kind['sqlite']['dataset']}:")
        rows = [
            "| route | SQLite req/s (x bare) | PostgreSQL req/s (x bare) | p99 ms | statements |",
            "|---|---|---|---|---|",
        ]
        for key, a in lite.items():
            b = pg.get(key)
            if b is None:
                continue

            def cell(r: Result) -> str:
                if r.skipped:
                    return r.skipped
                flag = f", {r.timeouts} timeouts" if r.timeouts else ""
                flag += f", {r.errors} errors" if r.errors else ""
                return f"{fmt(r.median('rps'), ',.0f')} ({fmt(r.ratio, '.2f')}){flag}"

            p99 = f"{fmt(a.median('p99'))} / {fmt(b.median('p99'))}"
            stmts = "-" if a.route.server == "bare" else f"{fmt(a.statements, 'd')}"
            if b.statements != a.statements and a.route.server != "bare":
                stmts += f" / {fmt(b.statements, 'd')}"
            rows.append(f"| {a.route.label} | {cell(a)} | {cell(b)} | {p99} | {stmts} |")
        print("\n".join(rows))


def save(report: dict, args, host: dict, md: str) -> Path:
    out = BENCH_DIR / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = out / f"{stamp}-{report['database']}-u{report['users']}.json"
    data = {
        **{k: v for k, v in report.items() if k != "results"},
        "machine": host,
        "args": vars(args),
        "markdown": md,
        "results": {
            k: {
                "label": r.route.label,
                "path": r.route.path,
                "statements": r.statements,
                "statements_first": r.statements_first,
                "ratio": r.ratio,
                "runs": r.runs,
                "open_loop": r.open_loop,
                "problems": r.problems,
                "skipped": r.skipped,
                "targets": verdicts(r),
            }
            for k, r in report["results"].items()
        },
    }
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


# ----------------------------------------------------------------------------- main


def _percentages(text: str) -> list[int]:
    shares = [int(x) for x in text.split(",") if x.strip()]
    if any(not 0 <= x <= 100 for x in shares):
        raise argparse.ArgumentTypeError("shares are percentages from 0 to 100")
    return [x for x in shares if x]


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--users",
        default="100000",
        help="bulk users (each with 10 devices); a comma list runs each size (default 100000)",
    )
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--both", action="store_true", help="SQLite, then PostgreSQL")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds per route first (0: none)")
    parser.add_argument(
        "--rates",
        type=_percentages,
        default=[25, 50, 75],
        help="open-loop rates as %% of each route's measured capacity (comma list; 0: none)",
    )
    parser.add_argument("--open-seconds", type=int, default=10, help="seconds per open-loop run")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--connections", type=int, default=16, help="wrk -c")
    parser.add_argument("--timeout", type=float, default=2, help="wrk --timeout, seconds")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn -w")
    parser.add_argument("--port", type=int, default=9480, help="portal port (bare: +1)")
    parser.add_argument("--idp-port", type=int, default=9477, help="fixed: datasets carry it")
    parser.add_argument("--routes", help="only these route keys (comma list), e.g. devices")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the dataset")
    parser.add_argument(
        "--no-bulk-job", action="store_true", help="skip the 50,000-session bulk sign-out"
    )
    parser.add_argument("--build-only", action="store_true", help="build the dataset and stop")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra PORTAL_ setting for the portal (repeatable)",
    )
    parser.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a PostgreSQL setting while serving (repeatable), e.g. synchronous_commit=off",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the slowest route")
    parser.add_argument("--profile-route", help="py-spy this route key instead, or all")
    parser.add_argument("--profile-seconds", type=int, default=10)
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(x.replace("_", "")) for x in str(args.users).split(",")]
    except ValueError:
        parser.error("--users takes whole numbers, e.g. 100000 or 100000,1000")
    if any(n < 1 for n in args.sizes):
        parser.error("--users must be at least 1")
    keys = [r.key for r in routes_for("id", "email")]
    unknown = set((args.routes or "").split(",")) - set(keys) - {""}
    if unknown or args.profile_route not in (None, "all", *keys):
        parser.error(f"route keys are {', '.join(keys)} (and all for --profile-route)")
    args.profile = args.profile or bool(args.profile_route)
    if args.duration < 1 or args.rounds < 1 or args.warmup < 0 or args.profile_seconds < 1:
        parser.error("--duration, --rounds and --profile-seconds are whole numbers >= 1")
    return args


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # so every finally and ExitStack callback runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    (BENCH_DIR / "logs").mkdir(parents=True, exist_ok=True)
    kinds = ["sqlite", "postgresql"] if args.both else ["postgresql" if args.postgres else "sqlite"]
    issuer = f"http://127.0.0.1:{args.idp_port}"
    serve = SERVE_SETTINGS + args.pg_setting
    wrk = preflight(args)
    host = machine()
    busy = cpu_busy()
    say(
        f"machine: {host['cores']} cores, {host['cpu']}; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; CPU busy before start {busy:.0f}%"
    )
    host["busy_before"] = round(busy)
    reports: list[dict] = []
    failed = False
    with contextlib.ExitStack() as stack:
        cluster = None
        if "postgresql" in kinds:
            cluster = Cluster(BENCH_DIR / "pg")
            stack.callback(cluster.stop)
            cluster.start(serve)
            host["postgresql"] = cluster.version()
        specs = [DatasetSpec(kind, users, issuer) for kind in kinds for users in args.sizes]
        for spec in specs:  # every build first, then the runs
            if spec.kind == "postgresql":
                postgres_base(spec, cluster, args.rebuild, serve)
            else:
                sqlite_base(spec, args.rebuild)
        if args.build_only:
            return 0
        script = Path(tempfile.mkdtemp(prefix="portal-bench-")) / "report.lua"
        stack.callback(shutil.rmtree, script.parent, True)
        script.write_text(WRK_SCRIPT)
        idp = start_idp(args.idp_port)
        stack.callback(idp.stop)
        for spec in specs:
            say(f"== {spec.kind}, {spec.describe()}")
            with contextlib.ExitStack() as run:
                if spec.kind == "postgresql":
                    db = postgres_run_copy(spec, cluster, False, serve)
                else:
                    db = sqlite_run_copy(spec, False)
                run.callback(db.cleanup)
                pg = cluster if spec.kind == "postgresql" else None
                report = bench_size(args, wrk, script, db, idp, pg, run)
            md = print_report(report, args, host)
            path = save(report, args, host, md)
            say(f"saved {path.relative_to(ROOT)} (with the table in Markdown)")
            reports.append(report)
            failed = failed or any(r.errors or r.problems for r in report["results"].values())
    for kind in kinds:
        growth([r for r in reports if r["database"] == kind])
    if len(kinds) > 1:
        side_by_side(reports)
    if failed:
        print()
        print(
            "!! some routes answered errors under load: their figures are not valid "
            "(the portal's log says why: instance/bench/logs/portal-*.log)"
        )
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
