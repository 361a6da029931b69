"""What the stream management tests share: calls as a receiver makes them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, OutboxMessage

PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
ACCOUNT_DISABLED = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
ACCOUNT_ENABLED = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"
RECEIVER_URL = "https://receiver.example/events"
ISSUER = "https://portal.test"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create(client, token: str, **body: Any) -> dict:
    body.setdefault("delivery", {"method": PUSH, "endpoint_url": RECEIVER_URL})
    r = client.post("/ssf/streams", json=body, headers=bearer(token))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def set_status(client, token: str, stream_id: str, status: str, reason: str | None = None):
    body = {"stream_id": stream_id, "status": status}
    if reason is not None:
        body["reason"] = reason
    return client.post("/ssf/status", json=body, headers=bearer(token))


def stream_rows(app, stream_id: str) -> list[OutboxMessage]:
    """The outbox rows of a stream, oldest first."""
    with app.app_context():
        rows = list(
            db.session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.recipient == stream_id)
                .order_by(OutboxMessage.created_at, OutboxMessage.message_id)
            ).scalars()
        )
        db.session.expunge_all()
        return rows


def audit_events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(
            db.session.execute(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            ).scalars()
        )
        db.session.expunge_all()
        return rows
