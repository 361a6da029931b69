"""Security events a transmitter told the portal (the portal as a Shared Signals receiver),
each applied through the same lower services the pages' operations use, with one audit event
naming the transmitter and the SET's ``jti``.

Sessions end as the IdP's own logout does (``idp_logout``), and a deactivation is the IdP's
own (``via="ssf"``), so nothing is echoed back to the transmitter that said it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from ... import metrics
from ...models import EndReason
from ..audit.record import Actions
from ..common import lock_account
from ..received import events, replay
from ..received.events import ReceivedEvent
from ..received.subjects import Named, named_by
from ..sessions import ending
from ..users import identity
from .actor import Actor
from .users import deactivate_user, reactivate_user

# What an event did, as ``receive_security_event`` answers it.
REPLAYED = "replayed"
APPLIED = "applied"
IGNORED = "ignored"


def transmitter_actor(issuer: str) -> Actor:
    """A transmitter, as the audit log names it."""
    return Actor(None, via="ssf", label=f"SSF transmitter {issuer}")


def _end_sessions(named: Named, now: datetime) -> dict[str, Any]:
    assert named.user is not None or named.sid is not None
    if named.sid:
        user_id = named.user.id if named.user is not None else None
        return {
            "sessions_ended": ending.end_sessions_of_idp_session(
                named.sid, user_id=user_id, now=now
            )
        }
    assert named.user is not None
    ended = ending.end_sessions(
        user_id=named.user.id, reason=EndReason.IDP_LOGOUT, by=None, now=now, tell_idp=False
    )
    return {"sessions_ended": ended}


def _session_revoked(
    actor: Actor, event: ReceivedEvent, named: Named, now: datetime, **_: Any
) -> dict[str, Any] | None:
    return _end_sessions(named, now)


def _credential_change(
    actor: Actor, event: ReceivedEvent, named: Named, now: datetime, **_: Any
) -> dict[str, Any] | None:
    # Every session ends as revoked, which marks the user: the next sign-in gives credentials.
    return _end_sessions(Named(named.user, None, named.described), now)


def _account_disabled(
    actor: Actor, event: ReceivedEvent, named: Named, now: datetime, **_: Any
) -> dict[str, Any] | None:
    assert named.user is not None
    ended = deactivate_user(actor, named.user)
    return {"deactivated": ended is not None, "sessions_ended": ended or 0}


def _account_enabled(
    actor: Actor, event: ReceivedEvent, named: Named, now: datetime, **_: Any
) -> dict[str, Any] | None:
    assert named.user is not None
    return {"reactivated": reactivate_user(actor, named.user)}


def _token_claims_change(
    actor: Actor, event: ReceivedEvent, named: Named, now: datetime, *, groups_claim: str
) -> dict[str, Any] | None:
    assert named.user is not None
    claims = event.body.get("claims")
    root = groups_claim.split(".")[0]
    if not isinstance(claims, dict) or root not in claims:
        return None  # nothing the portal keeps changed
    lock_account(named.user.id)  # as every change to a user, in the one lock order
    before = list(named.user.groups or [])
    named.user.groups = identity.groups_from_claims(claims, groups_claim)
    return {"groups": named.user.groups, "groups_before": before}


_EFFECTS: dict[str, Callable[..., dict[str, Any] | None]] = {
    events.SESSION_REVOKED: _session_revoked,
    events.CREDENTIAL_CHANGE: _credential_change,
    events.ACCOUNT_DISABLED: _account_disabled,
    events.ACCOUNT_ENABLED: _account_enabled,
    events.TOKEN_CLAIMS_CHANGE: _token_claims_change,
}


def receive_security_event(
    event: ReceivedEvent, *, now: datetime, max_age_seconds: int, groups_claim: str
) -> str:
    """Apply one verified SET once: ``REPLAYED`` (its ``jti`` was taken before: nothing
    changes, nothing is recorded), ``APPLIED`` or ``IGNORED`` (an event the portal does not
    act on, or a subject it does not know: audited, nothing else changes)."""
    replay.forget_before(now - timedelta(seconds=max_age_seconds + 60))
    if not replay.remember(event, now):
        return REPLAYED
    metrics.count_on_commit(
        metrics.SSF_EVENTS.labels("received", metrics.ssf_event_type(event.event_type))
    )
    actor = transmitter_actor(event.transmitter)
    detail: dict[str, Any] = {
        "transmitter": event.transmitter,
        "jti": event.jti,
        "event": event.name,
    }
    effect = _EFFECTS.get(event.event_type)
    named = named_by(event.subject)
    if effect is not None:
        detail["subject"] = named.described
    if event.state:
        detail["state"] = event.state
    outcome = IGNORED
    done: dict[str, Any] | None = None
    # Only session-revoked acts on an IdP session alone; every other event needs its user.
    applies = named.user is not None or (
        named.anyone and event.event_type == events.SESSION_REVOKED
    )
    if effect is not None and applies:
        done = effect(actor, event, named, now, groups_claim=groups_claim)
    if done is not None:
        outcome = APPLIED
        detail.update(done)
    elif effect is not None:
        detail["ignored"] = "unknown subject" if named.user is None else "nothing to change"
    elif event.event_type not in events.UNDERSTOOD:
        detail["ignored"] = "unknown event type"
    actor.record(Actions.SSF_EVENT_RECEIVED, named.user, **detail)
    return outcome
