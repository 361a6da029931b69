"""The dataset's shape: who is in it (the callers, the bulk users) and its spec."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from . import ROOT, BenchError, words

# The dataset is loaded into the schema of this revision, then every later migration runs on
# it (as it would on a production database), so a new migration never means a new dataset.
BASE_REVISION = "0004_sessions_ended"
# Bump when the generated data changes: cached datasets with another value are rebuilt.
DATA_FORMAT = 1
SEED = 20261125

# The shape of a bulk user, by default: 10 browsers (each with an ended and an open session)
# and 5 audit events. From LARGE users on, 5 browsers: the million users hold ten million
# sessions. The callers and the user the admin routes look at keep 10 at every size, so a route
# does the same work per request and only the tables around it grow.
DEVICES_PER_USER = 10
LARGE, LARGE_DEVICES_PER_USER = 1_000_000, 5
AUDIT_PER_USER = 5
SESSIONS_PER_DEVICE = 2
TARGET_DEVICES = 10
BATCH_USERS = 5000

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
    devices_per_user: int = DEVICES_PER_USER  # browsers of a bulk user
    audit_per_user: int = AUDIT_PER_USER

    @classmethod
    def for_size(
        cls, kind: str, users: int, issuer: str, devices_per_user: int | None = None
    ) -> DatasetSpec:
        """The spec of ``users`` bulk users, shaped as the module's constants say."""
        if devices_per_user is None:
            devices_per_user = LARGE_DEVICES_PER_USER if users >= LARGE else DEVICES_PER_USER
        return cls(kind, users, issuer, devices_per_user)

    def devices_of(self, index: int) -> int:
        """Browsers of bulk user ``index``: the admin routes' target has TARGET_DEVICES."""
        return TARGET_DEVICES if index == self.users // 2 else self.devices_per_user

    @property
    def devices(self) -> int:
        bulk = self.users * self.devices_per_user + TARGET_DEVICES - self.devices_per_user
        return bulk + sum(p.devices for p in CALLERS)

    @property
    def sessions(self) -> int:
        return SESSIONS_PER_DEVICE * self.devices

    @property
    def audit_events(self) -> int:
        return self.users * self.audit_per_user

    def describe(self) -> str:
        total = self.users + len(CALLERS)
        return (
            f"{total:,} users, {self.devices:,} devices, {self.sessions:,} sessions, "
            f"{self.audit_events:,} audit events"
        )

    def key(self) -> str:
        """Changes whenever the data would: its parameters, this format, the base schema."""
        digest = hashlib.sha256()
        params: list = [DATA_FORMAT, SEED, self.users, self.issuer]
        shape = (self.devices_per_user, self.audit_per_user)
        if shape != (DEVICES_PER_USER, AUDIT_PER_USER):  # datasets cached before it had a shape
            params.append(shape)
        digest.update(json.dumps(params).encode())
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
            f"migration {BASE_REVISION!r} (BASE_REVISION in scripts/bench/dataset.py) is not in "
            f"migrations/versions: {exc}"
        ) from None
    return sorted(Path(s.path) for s in chain)


def head_key() -> str:
    """Changes whenever migrating a dataset from BASE_REVISION to head could give other rows:
    the migration files, and the portal modules they import (backfills compute with them)."""
    files = sorted((ROOT / "migrations" / "versions").glob("*.py"))
    modules: set[str] = set()
    for path in files:
        modules.update(re.findall(r"^from (portal[\w.]*) import", path.read_text(), re.M))
    for name in sorted(modules):
        module = ROOT.joinpath(*name.split("."))
        files.append(module / "__init__.py" if module.is_dir() else module.with_suffix(".py"))
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


AUDIT_ACTIONS = ["sign_in"] * 6 + [
    "sign_out",
    "trust_device",
    "rename_device",
    "revoke_session",
    "untrust_device",
]


def bench_user_agents() -> list[str]:
    """The demo data's six browsers, in the order the cached datasets were built with."""
    from portal.demo import ANDROID, FIREFOX, IPAD, IPHONE, MAC, WINDOWS

    return [MAC, WINDOWS, IPHONE, ANDROID, IPAD, FIREFOX]


def bench_addresses() -> list[str]:
    """The demo data's six addresses (they resolve in the GeoIP test database)."""
    from portal.demo import IPS

    return IPS


def bench_user_agent() -> str:
    return bench_user_agents()[1]
