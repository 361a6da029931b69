"""Rows of the dataset, generated in Python."""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import random
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta

from . import GEOIP, words
from .dataset import (
    AUDIT_ACTIONS,
    BATCH_USERS,
    CALLERS,
    FIRST,
    LAST,
    SEED,
    DatasetSpec,
    Person,
    bench_addresses,
    bench_user_agents,
)


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
        from portal.services.devices import places as geo
        from portal.services.devices.useragent import describe

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
            devices = self.spec.devices_of(i)
            people.append(
                (i, Person(f"user{i}", f"user{i}@example.test", name, ("staff",), devices))
            )
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
            for _ in range(self.spec.audit_per_user if index >= 0 else 0):
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
