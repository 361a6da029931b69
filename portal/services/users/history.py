"""One user's account as the admin user page shows it: every device and sign-in (with the
investigation flags on them), and where each of their permissions comes from.

The user themself is read as a ``users.summary.UserSummary``; the devices and sessions as the
rows of ``devices.reads``, each history read in two queries whatever its length.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select

from ...config import PERMISSIONS
from ...extensions import db
from ...models import Grant, User, utcnow
from ..devices import flags, reads
from ..devices.flags import Finding, Flag
from ..devices.reads import DeviceRow, SessionRow
from .summary import UserSummary

_GRANTS = (
    select(Grant.__table__.c.permission)
    .where(Grant.__table__.c.user_id == bindparam("user_id"))
    .order_by(Grant.__table__.c.permission)
)


def local_grants(user_id: uuid.UUID) -> list[str]:
    """The permissions granted to the user locally (``flask portal grant``), one Core read."""
    return list(db.session.connection().execute(_GRANTS, {"user_id": user_id}).scalars())


def permission_sources(
    user: UserSummary, group_permissions: Mapping[str, list[str]]
) -> dict[str, list[str]]:
    """Each effective permission of ``user`` with where it comes from (groups, local grant).

    Groups are those the caller's requests use: SCIM's when it decides the user's groups
    (``users.groups``), else those of the user's last sign-in.
    """
    sources: dict[str, list[str]] = {}
    kind = "SCIM group" if user.scim_groups is not None else "group"
    for group in user.permission_groups:
        for perm in group_permissions.get(group, ()):
            sources.setdefault(perm, []).append(f"{kind} {group}")
    for permission in local_grants(user.id):
        sources.setdefault(permission, []).append("local grant")
    return {p: sources[p] for p in PERMISSIONS if p in sources}


@dataclass
class DeviceHistory:
    """A device with every session of it (newest first) and the flags on both."""

    device: DeviceRow
    sessions: list[SessionRow]
    findings: list[Finding]
    active_sessions: int = 0


@dataclass
class UserHistory:
    """Everything the user page shows about a user's devices and sign-ins."""

    devices: list[DeviceHistory]
    session_findings: dict[uuid.UUID, list[Finding]]
    flag_counts: dict[Flag, int] = field(default_factory=dict)

    @property
    def active_sessions(self) -> int:
        return sum(d.active_sessions for d in self.devices)


def user_history(user: UserSummary | User, now: datetime | None = None) -> UserHistory:
    """Every device (removed ones too) and session of ``user``, with flags, as rows; two
    queries (the sessions with who ended each, for "Revoked by an admin, Ada Admin")."""
    now = now or utcnow()
    devices = reads.device_rows(user.id, sessions=False, include_removed=True)
    sessions = reads.session_rows(user.id, ended_by=True, now=now)
    by_device: dict[uuid.UUID, list[SessionRow]] = defaultdict(list)
    for s in sessions:
        assert s.device is not None  # a list of sessions reads each with its device
        by_device[s.device.id].append(s)
    session_findings = flags.sign_in_findings(sessions)
    counts: dict[Flag, int] = defaultdict(int)
    for found in session_findings.values():
        for flag in {f.flag for f in found}:
            counts[flag] += 1
    histories = []
    for d in devices:
        findings = flags.device_findings(d, now)
        rows = by_device.get(d.id, [])
        active = sum(1 for s in rows if s.is_active(now))
        for f in findings:
            # An untrusted device only matters while it can still be used; a report always.
            if active or f.flag is Flag.REPORTED_SUSPICIOUS:
                counts[f.flag] += 1
        histories.append(DeviceHistory(d, rows, findings, active))
    return UserHistory(histories, session_findings, dict(counts))
