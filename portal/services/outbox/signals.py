"""Telling the identity provider which sessions the portal ended: CAEP ``session-revoked``
events (OpenID Shared Signals Framework 1.0), each an outbox row written in the transaction
that ended the session, signed and pushed (RFC 8935) by the worker (``portal.ssf.push``);
the same ends, and deactivations and reactivations (RISC), go to receivers' streams by the
same rules (``stream_events``).

Which ends are told: every one someone decided in the portal, so that the IdP's own single
sign-on session of that browser ends too (revoked by the user or an admin, a device removed,
untrusted or reported, an account deactivated in the portal). Not told: a browser's own
sign-out (that browser goes on to the IdP's end-session page itself), expiry (nobody ended
it), the IdP's own logout (it would echo back), a deactivation the IdP's SCIM client asked for
(``tell_idp=False``), and sessions without an IdP ``sid`` (bearer-token and personal-token
sessions: the IdP knows no session of them to end, and a user-level event would sign the
person out everywhere for one token).

The settings reach this layer without Flask: ``use_transmitter`` registers them for the app's
database engine when the app is built, and ``transmitter()`` finds them through the session's
bind. No receiver configured and no streams: nothing is queued.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, insert, select

from ...extensions import db
from ...models import EndReason, OutboxMessage, OutboxStatus, User, UserSession
from ..streams.configuration import ACCOUNT_DISABLED, ACCOUNT_ENABLED
from . import stream_events

KIND = "caep_session_revoked"
SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
PUSH_DELIVERY = "urn:ietf:rfc:8935"

# The ends the IdP is told of, and who CAEP says initiated each.
INITIATED_BY = {
    EndReason.REVOKED: "user",
    EndReason.REVOKED_BY_ADMIN: "admin",
    EndReason.DEVICE_REMOVED: "user",
    EndReason.UNTRUSTED: "user",
    EndReason.REPORTED: "user",
    EndReason.DEACTIVATED: "admin",
}
# Why, in words for the receiver's admin (CAEP's ``reason_admin``).
REASONS_ADMIN = {
    EndReason.REVOKED: "Revoked by the user in the device portal",
    EndReason.REVOKED_BY_ADMIN: "Revoked by an admin in the device portal",
    EndReason.DEVICE_REMOVED: "Device removed by the user in the device portal",
    EndReason.UNTRUSTED: "Device untrusted by the user in the device portal",
    EndReason.REPORTED: "Sign-in reported by the user as not theirs in the device portal",
    EndReason.DEACTIVATED: "Account deactivated in the device portal",
}


@dataclass(frozen=True)
class Transmitter:
    """Who the portal tells (the receiver's push endpoint) and as whom (the SETs' iss, aud)."""

    issuer: str
    audience: str
    receiver_url: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Transmitter | None:
        if not config.get("SSF_RECEIVER_URL"):
            return None
        return cls(config["SSF_ISSUER"], config["SSF_AUDIENCE"], config["SSF_RECEIVER_URL"])


_transmitters: weakref.WeakKeyDictionary[Engine | Connection, Transmitter] = (
    weakref.WeakKeyDictionary()
)


def use_transmitter(engine: Engine, transmitter: Transmitter | None) -> None:
    """The app on ``engine`` tells its IdP through ``transmitter`` (None: tells nobody)."""
    if transmitter is None:
        _transmitters.pop(engine, None)
    else:
        _transmitters[engine] = transmitter


def transmitter() -> Transmitter | None:
    """The current app's transmitter, or None when it tells no IdP."""
    if not _transmitters:
        return None
    return _transmitters.get(db.session.get_bind())


class Ended(NamedTuple):
    """A session that just ended, as much of it as its event needs."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    idp_sid: str | None


def tells_idp(reason: EndReason) -> bool:
    return reason in INITIATED_BY


def _nameable(sid: str | None) -> bool:
    """A sid stored as it came (a long one is kept only as its hash, which the IdP never sent)."""
    if not sid:
        return False
    return not sid.startswith("sha256:")


def session_revoked(
    ended: Iterable[Ended],
    reason: EndReason,
    now: datetime,
    *,
    tell_idp: bool = True,
    kept: uuid.UUID | None = None,
) -> int:
    """Queue the session-revoked events of sessions just ended, in the caller's transaction:
    one per ended session the IdP's receiver is to be told of (``PORTAL_SSF_RECEIVER_URL``),
    and those of every stream that receives them (``stream_events``); returns how many rows.
    ``now`` is when they ended.

    ``kept`` is a session of the user that stays open (the actor's own, when they end their
    other sessions): an ended session with the same IdP ``sid`` (an earlier sign-in of that
    same browser) is not told, since ending that IdP session would sign the kept one's browser
    out of the IdP as well."""
    if not (tell_idp and tells_idp(reason)):
        return 0
    sending = transmitter()
    on_streams = stream_events.issuer() is not None
    ended = list(ended)
    if not ended or (sending is None and not on_streams):
        return 0
    kept_sid = None
    if kept is not None:
        kept_sid = db.session.scalar(select(UserSession.idp_sid).where(UserSession.id == kept))
    txn = uuid.uuid4().hex  # one end of many sessions is one transaction at the receivers too
    event = session_revoked_event(reason, now)
    told = 0
    if sending is not None:
        told += _tell_idp(sending, ended, event, now, txn, kept_sid)
    if on_streams:
        told += stream_events.session_revoked(
            [(e.user_id, e.idp_sid if _nameable(e.idp_sid) else None) for e in ended],
            event=event,
            now=now,
            txn=txn,
            kept_sid=kept_sid,
            whole_user=kept is None,
        )
    return told


def session_revoked_event(reason: EndReason, now: datetime) -> dict:
    """The CAEP session-revoked event of an end: when, who started it, and why in words
    (``reason_admin``, language-tagged, never empty: the interoperability profile's MUST)."""
    return {
        "event_timestamp": int(now.timestamp()),
        "initiating_entity": INITIATED_BY[reason],
        "reason_admin": {"en": REASONS_ADMIN[reason]},
    }


def _tell_idp(
    sending: Transmitter,
    ended: list[Ended],
    event: dict,
    now: datetime,
    txn: str,
    kept_sid: str | None,
) -> int:
    """The IdP's receiver: one event per ended session it knows the ``sid`` of."""
    ended = [e for e in ended if _nameable(e.idp_sid) and e.idp_sid != kept_sid]
    if not ended:
        return 0
    users = {
        row.id: row
        for row in db.session.execute(
            select(User.id, User.issuer, User.subject).where(
                User.id.in_(sorted({e.user_id for e in ended}))
            )
        )
    }
    stamp = int(now.timestamp())
    rows = []
    for e in ended:
        jti = uuid.uuid4().hex
        subject: dict = {"format": "complex", "session": {"format": "opaque", "id": e.idp_sid}}
        user = users.get(e.user_id)
        if user is not None and user.issuer and user.subject:
            subject["user"] = {"format": "iss_sub", "iss": user.issuer, "sub": user.subject}
        claims = {
            "iss": sending.issuer,
            "aud": sending.audience,
            "jti": jti,
            "iat": stamp,
            "txn": txn,
            "sub_id": subject,
            "events": {SESSION_REVOKED: event},
        }
        rows.append(
            {
                "id": uuid.uuid4(),
                "message_id": jti,
                "kind": KIND,
                "user_id": e.user_id,
                "recipient": sending.receiver_url[:320],
                "payload": {"session_id": str(e.session_id), "claims": claims},
                "status": OutboxStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    db.session.execute(insert(OutboxMessage.__table__), rows)
    return len(rows)


def account_disabled(user_id: uuid.UUID, now: datetime) -> int:
    """RISC account-disabled about the user on the streams that receive it. RISC's ``reason``
    values (``hijacking``, ``bulk-account``) do not say why an admin deactivates, so the
    event says it in ``reason_admin`` instead of naming a reason that may be false."""
    event = {
        "event_timestamp": int(now.timestamp()),
        "initiating_entity": "admin",
        "reason_admin": {"en": "Account deactivated in the device portal"},
    }
    return stream_events.account_changed(user_id, ACCOUNT_DISABLED, event, now)


def account_enabled(user_id: uuid.UUID, now: datetime) -> int:
    """RISC account-enabled about the user on the streams that receive it."""
    event = {
        "event_timestamp": int(now.timestamp()),
        "initiating_entity": "admin",
        "reason_admin": {"en": "Account reactivated in the device portal"},
    }
    return stream_events.account_changed(user_id, ACCOUNT_ENABLED, event, now)


def undelivered_of_user(user_id: uuid.UUID, limit: int = 20) -> list[OutboxMessage]:
    """The user's events the IdP has not taken yet (waiting after a failed attempt) or
    refused for good, newest first: for the admin user page."""
    return list(
        db.session.execute(
            select(OutboxMessage)
            .where(
                OutboxMessage.user_id == user_id,
                OutboxMessage.kind == KIND,
                OutboxMessage.status != OutboxStatus.SENT.value,
                OutboxMessage.last_error.is_not(None),
            )
            .order_by(OutboxMessage.created_at.desc())
            .limit(limit)
        ).scalars()
    )
