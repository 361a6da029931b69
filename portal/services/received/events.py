"""The events the portal understands as a receiver, and one verified SET as the operation
takes it. Nothing here checks a signature: ``portal.ssf.receiving`` does, before this."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
SSF = "https://schemas.openid.net/secevent/ssf/event-type/"

SESSION_REVOKED = CAEP + "session-revoked"
CREDENTIAL_CHANGE = CAEP + "credential-change"
TOKEN_CLAIMS_CHANGE = CAEP + "token-claims-change"
ACCOUNT_DISABLED = RISC + "account-disabled"
ACCOUNT_ENABLED = RISC + "account-enabled"
VERIFICATION = SSF + "verification"
STREAM_UPDATED = SSF + "stream-updated"

# What each understood event does, in the words of the audit detail.
UNDERSTOOD = {
    SESSION_REVOKED: "session-revoked",
    CREDENTIAL_CHANGE: "credential-change",
    TOKEN_CLAIMS_CHANGE: "token-claims-change",
    ACCOUNT_DISABLED: "account-disabled",
    ACCOUNT_ENABLED: "account-enabled",
    VERIFICATION: "verification",
    STREAM_UPDATED: "stream-updated",
}
# The events a transmitter is asked for when the portal subscribes (verification comes anyway).
REQUESTED = [
    SESSION_REVOKED,
    CREDENTIAL_CHANGE,
    TOKEN_CLAIMS_CHANGE,
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
]


@dataclass(frozen=True)
class ReceivedEvent:
    """One verified SET: who sent it (``transmitter``, its issuer), its ``jti`` and ``iat``,
    its one event (type and body) and its subject (``sub_id``, or the event's own ``subject``
    as drafts before SSF 1.0 put it)."""

    transmitter: str
    jti: str
    issued_at: datetime
    event_type: str
    body: dict[str, Any]
    subject: dict[str, Any] | None

    @property
    def name(self) -> str:
        """The event's short name for the audit log; an unknown type as it came, bounded."""
        return UNDERSTOOD.get(self.event_type) or self.event_type[:200]

    @property
    def state(self) -> str | None:
        """A verification event's ``state``, when it has one."""
        state = self.body.get("state") if self.event_type == VERIFICATION else None
        return state[:255] if isinstance(state, str) else None
