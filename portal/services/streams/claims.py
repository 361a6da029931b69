"""The claims of a Security Event Token (RFC 8417) on a stream, as SSF 1.0 section 4 profiles
them: ``iss`` the portal, ``aud`` the stream's, a fresh ``jti`` (kept through every retry),
one event in ``events``; and the verification event (section 8.1.4), built here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from .configuration import VERIFICATION
from .reads import StreamRow


def audience_claim(stream: StreamRow) -> str | list[str]:
    """One audience as a string, several as a list (RFC 7519 4.1.3 allows both)."""
    audience = list(stream.audience)
    return audience[0] if len(audience) == 1 else audience


def set_claims(
    stream: StreamRow,
    *,
    issuer: str,
    event_type: str,
    event: dict[str, Any],
    sub_id: dict[str, Any],
    now: datetime,
    txn: str | None = None,
) -> dict[str, Any]:
    """One SET's claims on ``stream``: the event ``event_type`` about ``sub_id``."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience_claim(stream),
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "sub_id": sub_id,
        "events": {event_type: event},
    }
    if txn:
        claims["txn"] = txn
    return claims


def verification_claims(
    stream: StreamRow, *, issuer: str, state: str | None, now: datetime
) -> dict[str, Any]:
    """The verification event a receiver asked for: its subject is the stream itself (an
    ``opaque`` id), its ``state`` echoed when the receiver gave one (section 8.1.4.2)."""
    return set_claims(
        stream,
        issuer=issuer,
        event_type=VERIFICATION,
        event={"state": state} if state is not None else {},
        sub_id={"format": "opaque", "id": stream.stream_id},
        now=now,
    )
