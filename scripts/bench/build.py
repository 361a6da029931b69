"""Building a dataset: migrate to its base revision, bulk-load the rows, index."""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from datetime import UTC, datetime

from . import BenchError, say
from .dataset import BASE_REVISION, BATCH_USERS, CALLERS, DatasetSpec
from .generate import Generator


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
                    raise BenchError(f"{table}.{name} is NOT NULL and the bench leaves it out")
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
                    f"{column}: the portal writes {theirs!r} where the bench writes {ours!r}; "
                    "update Generator in scripts/bench/generate.py"
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
                "foreign_keys = OFF",  # the portal's engines turn them on; rows come in order
                "cache_size = -4000000",
                "temp_store = MEMORY",
                # CREATE INDEX sorts with helper threads when allowed to (none by default).
                f"threads = {os.cpu_count() or 1}",
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
        "sessions": spec.sessions,
        "audit_events": spec.audit_events,
    }
    if counts != expected:
        raise BenchError(f"loaded {counts}, expected {expected}")
    return {"timings": {k: round(v, 1) for k, v in timings.items()}, "rows": counts}
