"""Recent security activity of one user, as My devices and ``GET /account/security-events``
show it: flagged sign-ins, alerts mailed, the user's own reports and confirmations, and
sign-outs by an administrator, newest first (Google's "Recent security activity")."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    FromClause,
    Select,
    bindparam,
    literal,
    select,
    union_all,
)

from ...extensions import db
from ...models import (
    AlertAnswer,
    Device,
    EndReason,
    OutboxMessage,
    OutboxStatus,
    SignInAlert,
    UserSession,
    utcnow,
)
from ...models.types import place_name
from ..devices.reads import device_label, name_shared
from ..outbox.alerts import flag_labels

WINDOW = timedelta(days=14)


class Kind:
    FLAGGED_SIGN_IN = "flagged_sign_in"
    ALERT_SENT = "alert_sent"
    REPORTED = "reported"
    CONFIRMED = "confirmed"
    SIGNED_OUT_BY_ADMIN = "signed_out_by_admin"


KIND_WORDS = {
    Kind.FLAGGED_SIGN_IN: "Unusual sign-in",
    Kind.ALERT_SENT: "Sign-in alert mailed to you",
    Kind.REPORTED: "You reported a device as not you",
    Kind.CONFIRMED: "You confirmed a sign-in was you",
    Kind.SIGNED_OUT_BY_ADMIN: "Signed out by an administrator",
}


@dataclass(frozen=True)
class SecurityEvent:
    kind: str
    at: datetime
    device_id: uuid.UUID
    device_name: str
    location: str | None
    ip_address: str | None
    detail: str | None
    # The name pages show (``reads.device_label``); the JSON keeps ``device_name``.
    device_label: str

    @property
    def words(self) -> str:
        return KIND_WORDS[self.kind]


_s, _d = UserSession.__table__, Device.__table__
_a, _m = SignInAlert.__table__, OutboxMessage.__table__


def as_utc(value: datetime) -> datetime:
    """A time read through the union, aware and in UTC on both databases."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _row(
    kind: str,
    at: ColumnElement[datetime | None],
    device: FromClause,
    place: FromClause,
    flags: ColumnElement[int],
    new_device: ColumnElement[bool],
) -> Select[Any]:
    """One source's columns, in the order the union takes them."""
    return select(
        literal(kind).label("kind"),
        at.label("at"),
        device.c.id.label("device_id"),
        device.c.name.label("device_name"),
        name_shared(device),
        place.c.city.label("city"),
        place.c.country_code.label("country_code"),
        place.c.country.label("country"),
        place.c.ip_address.label("ip"),
        flags.label("flags"),
        new_device.label("new_device"),
    )


def _statement() -> Select[Any]:
    """Every source of events in one statement (My devices pays one query for the list),
    built once: every My devices page runs it, and building it cost more than running it."""
    user_id: BindParameter[uuid.UUID] = bindparam("user_id")
    since: BindParameter[datetime] = bindparam("since")
    no_flags, not_new = literal(0), literal(False)
    flagged = (
        _row(Kind.FLAGGED_SIGN_IN, _s.c.created_at, _d, _s, _s.c.sign_in_flags, not_new)
        .join_from(_s, _d, _d.c.id == _s.c.device_id)
        .where(_s.c.user_id == user_id, _s.c.created_at >= since, _s.c.sign_in_flags != 0)
    )
    by_admin = (
        _row(Kind.SIGNED_OUT_BY_ADMIN, _s.c.ended_at, _d, _s, no_flags, not_new)
        .join_from(_s, _d, _d.c.id == _s.c.device_id)
        .where(
            _s.c.user_id == user_id,
            _s.c.ended_at >= since,
            _s.c.end_reason == EndReason.REVOKED_BY_ADMIN.value,
        )
    )
    sent = (
        _row(Kind.ALERT_SENT, _m.c.sent_at, _d, _d, _a.c.flags, _a.c.new_device)
        .join_from(_a, _d, _d.c.id == _a.c.device_id)
        .join(_m, _m.c.id == _a.c.outbox_message_id)
        .where(
            _a.c.user_id == user_id,
            _m.c.status == OutboxStatus.SENT.value,
            _m.c.sent_at >= since,
        )
    )
    confirmed = (
        _row(Kind.CONFIRMED, _a.c.answered_at, _d, _d, _a.c.flags, _a.c.new_device)
        .join_from(_a, _d, _d.c.id == _a.c.device_id)
        .where(
            _a.c.user_id == user_id,
            _a.c.answer == AlertAnswer.CONFIRMED.value,
            _a.c.answered_at >= since,
        )
    )
    reported = _row(Kind.REPORTED, _d.c.reported_suspicious_at, _d, _d, no_flags, not_new).where(
        _d.c.user_id == user_id, _d.c.reported_suspicious_at >= since
    )
    union = union_all(flagged, by_admin, sent, confirmed, reported).subquery()
    return select(union).order_by(union.c.at.desc()).limit(bindparam("fetch"))


_STATEMENT = _statement()


def security_events(
    user_id: uuid.UUID, now: datetime | None = None, limit: int = 20
) -> list[SecurityEvent]:
    """The user's security events of the last 14 days, newest first, at most ``limit``."""
    now = now or utcnow()
    params = {"user_id": user_id, "since": now - WINDOW, "fetch": limit * 2}
    rows = db.session.connection().execute(_STATEMENT, params).all()
    events: list[SecurityEvent] = []
    seen_admin_ends = set()
    for row in rows:
        if row.kind == Kind.SIGNED_OUT_BY_ADMIN:
            if (row.device_id, row.at) in seen_admin_ends:
                continue  # one revoke of a device ends all its sessions at once: one event
            seen_admin_ends.add((row.device_id, row.at))
        reasons = (["New device"] if row.new_device else []) + flag_labels(row.flags or 0)
        events.append(
            SecurityEvent(
                row.kind,
                as_utc(row.at),
                row.device_id,
                row.device_name,
                place_name(row.city, row.country_code, row.country),
                row.ip,
                ", ".join(reasons) or None,
                device_label(row.device_name, row.device_id, row.name_shared),
            )
        )
    return events[:limit]
