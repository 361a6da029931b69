"""Signing in and out: a browser's or a bearer token's sign-in (and the mail about it), a
browser's sign-out, re-authentication steps, the IdP's logout, a deactivated account's
refused sign-in."""

from __future__ import annotations

from datetime import datetime

from ... import metrics
from ...models import EndReason, User, UserSession
from ..audit.record import Actions
from ..outbox import alerts
from ..sessions import ending, opening
from ..sessions import policy as sessions
from .actor import Actor


def sign_in(
    user: User,
    *,
    client: opening.ClientInfo,
    device_secret: str | None,
    policy: sessions.SessionPolicy,
    geoip_database: str | None,
    idp_sid: str | None = None,
    alert_policy: alerts.AlertPolicy | None = None,
) -> tuple[UserSession, str]:
    """A browser signed in at the IdP: its device and a new session (see ``record_sign_in``),
    and the mail about it in the outbox when one is due (``alerts``)."""
    row, secret = opening.record_sign_in(
        user,
        device_secret=device_secret,
        client=client,
        policy=policy,
        geoip_database=geoip_database,
        idp_sid=idp_sid,
    )
    actor = Actor(user, row, row.ip_address)
    actor.record(Actions.SIGN_IN, user, device_id=row.device_id, session_id=row.id)
    _alert_about(actor, user, row, alert_policy)
    metrics.sign_in("signed_in", on_commit=True)
    return row, secret


def _alert_about(
    actor: Actor, user: User, row: UserSession, policy: alerts.AlertPolicy | None
) -> None:
    """Queue the mail about a sign-in when it is due, in the sign-in's transaction."""
    if policy is None:
        return
    alert = alerts.queue_sign_in_alert(user, row, policy)
    if alert is not None:
        message = alert.outbox_message
        assert message is not None  # queued together, in this transaction
        actor.record(
            Actions.SIGN_IN_ALERT_QUEUED,
            user,
            device_id=row.device_id,
            session_id=row.id,
            alert_id=str(alert.id),
            message_id=message.message_id,
            new_device=alert.new_device or None,
            flags=alert.flags or None,
        )


def sign_in_with_token(
    user: User,
    *,
    client_id: str,
    token_id: str,
    token_expires_at: datetime,
    auth_time: datetime | None,
    issued_at: datetime,
    client: opening.ClientInfo,
    policy: sessions.SessionPolicy,
    geoip_database: str | None,
    alert_policy: alerts.AlertPolicy | None = None,
) -> UserSession | None:
    """The session a bearer token stands for; its first use is a sign-in of its API client
    (mailed about, like a browser's, when one is due). None when a parallel first use won the
    race and its session cannot be read."""
    row, created = opening.bearer_session(
        user,
        client_id=client_id,
        token_id=token_id,
        token_expires_at=token_expires_at,
        auth_time=auth_time,
        issued_at=issued_at,
        client=client,
        policy=policy,
        geoip_database=geoip_database,
    )
    if created and row is not None:  # a session this use made is always there
        actor = Actor(user, row, client.ip_address, via="api")
        actor.record(Actions.SIGN_IN, user, device_id=row.device_id, session_id=row.id, via="api")
        _alert_about(actor, user, row, alert_policy)
        metrics.sign_in("signed_in_api", on_commit=True)
    return row


def sign_out(actor: Actor) -> bool:
    """This browser's own sign-out: its session ends, and nothing more is asked of the next."""
    if actor.session is None or actor.user is None:
        return False
    ended = ending.end_session(actor.session, EndReason.SIGNED_OUT, by=actor.user)
    actor.record(
        Actions.SIGN_OUT, actor.user, device_id=actor.session.device_id, session_id=actor.session.id
    )
    return ended


def note_reauthentication(
    user: User, action: str, ip_address: str | None, **detail: object
) -> None:
    """Record a step of a re-authentication (``reauth_required`` and its outcome)."""
    Actor(user, None, ip_address).record(action, user, **detail)


def idp_logout(issuer: str, *, sid: str | None, subject: str | None, now: datetime) -> int:
    """The IdP said a session (``sid``) or a user (``subject``) signed out: end ours to match."""
    user, ended = ending.end_idp_sessions(issuer, sid=sid, subject=subject, now=now)
    Actor(None, via="idp", label="identity provider").record(
        Actions.IDP_LOGOUT, user, idp_sid=sid, subject=subject, sessions_ended=ended
    )
    return ended


def refuse_sign_in(user: User, ip_address: str | None, via: str = "page") -> None:
    """A deactivated account tried to sign in at the IdP and was turned away."""
    Actor(user, None, ip_address, via=via).record(Actions.SIGN_IN_REFUSED, user)
    metrics.sign_in("refused_deactivated", on_commit=True)
