"""Every change to devices and sessions, each with its one audit event.

A user acting on their own account, an admin acting on someone else's, the CLI and the identity
provider all go through these functions, so one action behaves the same whichever way it is
asked for. Each takes an ``Actor`` (who, through which session, from where, and how), changes
the models through the lower services, and appends its audit event in the same transaction.
Nothing here commits: the request (or the CLI command) does, once, at its end.

An operation takes what the request knows (the actor, ids, the form's values), loads and
locks what it changes with the owner in the query (another user's device is not found, never
forbidden: an answer must not tell that it exists), and raises a domain error
(``services.errors``: ``NotFound``, ``Forbidden``, ``Conflict``, ``Invalid``) when it cannot
do what was asked; the request then rolls back whatever it had changed.

Audit details follow one rule: an action on your own account says what it did
(``sessions_ended``...); an action on someone else's also says how it was asked for (``via``)
and what it ``ended``, the trail an investigator reads.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..config import PERMISSIONS
from ..models import (
    AlertAnswer,
    Device,
    EndReason,
    PersonalToken,
    SignInAlert,
    User,
    UserSession,
    utcnow,
)
from . import (
    alerts,
    audit,
    bulk_jobs,
    devices,
    identity,
    personal_tokens,
    provisioning,
    session_ends,
    sessions,
    sign_ins,
    signing_in,
    users,
)
from .audit import Actions
from .errors import Conflict, Forbidden, NotFound

_, MANAGE_USER_DEVICES, _ = PERMISSIONS

DEVICE_NOT_FOUND = "Device not found"
SESSION_NOT_FOUND = "Session not found"
TOKEN_NOT_FOUND = "Token not found"


class Actor:
    """Who acts, through which session, from which address, and how.

    ``via`` is ``page``, ``api``, ``cli``, ``idp`` or ``scim``; ``label`` names an actor that
    is not a user (the operating-system account of a CLI run, the identity provider, SCIM).
    An actor made from a request's caller (``caller``: anything with ``user_id``, ``name``,
    ``user`` and ``session``) loads the user and session models only when an operation needs
    them; the audit event needs only the id and the name.
    """

    def __init__(
        self,
        user: User | None,
        session: UserSession | None = None,
        ip_address: str | None = None,
        via: str = "page",
        label: str | None = None,
        *,
        caller: Any = None,
    ):
        self._user = user
        self._session = session
        self.ip_address = ip_address
        self.via = via
        self.label = label
        self._caller = caller

    @property
    def user(self) -> User | None:
        return self._caller.user if self._caller is not None else self._user

    @property
    def session(self) -> UserSession | None:
        return self._caller.session if self._caller is not None else self._session

    @property
    def user_id(self) -> uuid.UUID | None:
        if self._caller is not None:
            return self._caller.user_id
        return self._user.id if self._user is not None else None

    @property
    def session_id(self) -> uuid.UUID | None:
        if self._caller is not None:
            return self._caller.session_id
        return self._session.id if self._session else None

    @property
    def name(self) -> str | None:
        """What the audit log calls the actor."""
        if self.label:
            return self.label
        if self._caller is not None:
            return self._caller.name
        return (self._user.email or self._user.subject) if self._user is not None else None

    def may(self, permission: str) -> bool:
        """Whether the actor holds ``permission``: a request's caller as granted to them; the
        CLI, the identity provider and SCIM (actors with a label) act for the operator."""
        if self._caller is not None:
            return self._caller.can(permission)
        return self.label is not None

    def owns(self, user_id: uuid.UUID) -> bool:
        """Whether ``user_id`` is the actor's own account."""
        return self.user_id is not None and self.user_id == user_id

    def record(self, action: str, target_user: User | uuid.UUID | None, **detail: Any) -> None:
        caller = self._caller
        audit.record(
            action,
            actor=self._user if caller is None else None,
            actor_id=caller.user_id if caller is not None else None,
            actor_label=self.label or (caller.name if caller is not None else None),
            target_user=target_user,
            ip_address=self.ip_address,
            channel=self.via,
            **detail,
        )


def _others_reason(actor: Actor, user_id: uuid.UUID) -> EndReason:
    """How sessions end that the actor ends and did not sign out of themselves."""
    return EndReason.REVOKED if actor.owns(user_id) else EndReason.REVOKED_BY_ADMIN


def _on_behalf(actor: Actor, user_id: uuid.UUID, ended: int) -> dict[str, Any]:
    return {"via": actor.via, "ended": ended} if not actor.owns(user_id) else {}


def _account(actor: Actor, user_id: uuid.UUID | None) -> uuid.UUID:
    """Whose devices and sessions an action changes: the actor's own, or ``user_id``'s when
    the actor may manage other users' devices."""
    if user_id is None or actor.owns(user_id):
        if actor.user_id is None:
            raise NotFound()
        return actor.user_id
    if not actor.may(MANAGE_USER_DEVICES):
        raise Forbidden("Managing another user's devices needs the manageUserDevices permission")
    return user_id


def _locked_device(
    actor: Actor, device_id: str | uuid.UUID, user_id: uuid.UUID | None = None, **options: Any
) -> Device:
    """The account's device, locked until commit (``devices.lock_device``); NotFound when it
    is not one of that account's devices (whether it exists elsewhere or not)."""
    found = devices.lock_device(_account(actor, user_id), device_id, **options)
    if found is None:
        raise NotFound(DEVICE_NOT_FOUND)
    return found


def _locked_session(
    actor: Actor, session_id: str | uuid.UUID, user_id: uuid.UUID | None = None
) -> UserSession:
    """The account's *active* session, locked until commit; NotFound otherwise."""
    found = sessions.lock_session_of_user(_account(actor, user_id), session_id)
    if found is None:
        raise NotFound(SESSION_NOT_FOUND)
    return found


# -- signing in and out ----------------------------------------------------------------------


def sign_in(
    user: User,
    *,
    client: signing_in.ClientInfo,
    device_secret: str | None,
    policy: sessions.SessionPolicy,
    geoip_database: str | None,
    idp_sid: str | None = None,
    alert_policy: alerts.AlertPolicy | None = None,
) -> tuple[UserSession, str]:
    """A browser signed in at the IdP: its device and a new session (see ``record_sign_in``),
    and the mail about it in the outbox when one is due (``alerts``)."""
    row, secret = signing_in.record_sign_in(
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
    return row, secret


def _alert_about(
    actor: Actor, user: User, row: UserSession, policy: alerts.AlertPolicy | None
) -> None:
    """Queue the mail about a sign-in when it is due, in the sign-in's transaction."""
    if policy is None:
        return
    alert = alerts.queue_sign_in_alert(user, row, policy)
    if alert is not None:
        actor.record(
            Actions.SIGN_IN_ALERT_QUEUED,
            user,
            device_id=row.device_id,
            session_id=row.id,
            alert_id=str(alert.id),
            message_id=alert.outbox_message.message_id,
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
    client: signing_in.ClientInfo,
    policy: sessions.SessionPolicy,
    geoip_database: str | None,
    alert_policy: alerts.AlertPolicy | None = None,
) -> UserSession:
    """The session a bearer token stands for; its first use is a sign-in of its API client
    (mailed about, like a browser's, when one is due)."""
    row, created = signing_in.bearer_session(
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
    if created:
        actor = Actor(user, row, client.ip_address, via="api")
        actor.record(Actions.SIGN_IN, user, device_id=row.device_id, session_id=row.id, via="api")
        _alert_about(actor, user, row, alert_policy)
    return row


def sign_out(actor: Actor) -> bool:
    """This browser's own sign-out: its session ends, and nothing more is asked of the next."""
    if actor.session is None or actor.user is None:
        return False
    ended = session_ends.end_session(actor.session, EndReason.SIGNED_OUT, by=actor.user)
    actor.record(
        Actions.SIGN_OUT, actor.user, device_id=actor.session.device_id, session_id=actor.session.id
    )
    return ended


def note_reauthentication(user: User, action: str, ip_address: str | None, **detail) -> None:
    """Record a step of a re-authentication (``reauth_required`` and its outcome)."""
    Actor(user, None, ip_address).record(action, user, **detail)


def idp_logout(issuer: str, *, sid: str | None, subject: str | None, now: datetime) -> int:
    """The IdP said a session (``sid``) or a user (``subject``) signed out: end ours to match."""
    user, ended = session_ends.end_idp_sessions(issuer, sid=sid, subject=subject, now=now)
    Actor(None, via="idp", label="identity provider").record(
        Actions.IDP_LOGOUT, user, idp_sid=sid, subject=subject, sessions_ended=ended
    )
    return ended


# -- ending sessions ----------------------------------------------------------------------------


def _end(
    actor: Actor, user_id: uuid.UUID, *, device_id=None, include_current: bool
) -> tuple[int, bool]:
    """End a user's open sessions (or one device's), the one primitive behind every revoke.

    On the actor's own account, the actor's current session is kept unless
    ``include_current``, and then it ends as a plain sign-out; every other session ends as
    revoked (by the user, or by an admin). Returns how many ended and whether the actor's own
    session was one of them.
    """
    now = utcnow()
    current = actor.session if actor.owns(user_id) else None
    ended = session_ends.end_sessions(
        user_id=user_id,
        device_id=device_id,
        reason=_others_reason(actor, user_id),
        by=actor.user,
        keep=current.id if current else None,
        now=now,
    )
    ended_current = False
    in_scope = current is not None and (device_id is None or current.device_id == device_id)
    if include_current and in_scope:
        ended_current = session_ends.end_session(
            current, EndReason.SIGNED_OUT, by=actor.user, now=now
        )
    return ended + int(ended_current), ended_current


def end_device_sessions(
    actor: Actor, device_id: str | uuid.UUID, user_id: uuid.UUID | None = None
) -> tuple[Device, int, bool]:
    """Sign a device of the actor's (or of ``user_id``'s) out: every session of it ends (the
    actor's own too, on its own device).

    Returns the device, how many ended and whether the actor's own session was one of them.
    """
    device = _locked_device(actor, device_id, user_id)
    ended, ended_current = _end(actor, device.user_id, device_id=device.id, include_current=True)
    detail = _on_behalf(actor, device.user_id, ended) or {"sessions_ended": ended}
    actor.record(Actions.REVOKE_DEVICE, device.user_id, device_id=device.id, **detail)
    return device, ended, ended_current


def revoke_session(
    actor: Actor, session_id: str | uuid.UUID, user_id: uuid.UUID | None = None
) -> UserSession:
    """End one active session of the actor's (or of ``user_id``'s); returns it.

    Locked first, so two revokes of one session record one revoke: the second finds it ended
    (NotFound, as a session that is not the account's)."""
    session = _locked_session(actor, session_id, user_id)
    ended = session_ends.end_session(session, _others_reason(actor, session.user_id), by=actor.user)
    actor.record(
        Actions.REVOKE_SESSION,
        session.user_id,
        device_id=session.device_id,
        session_id=session.id,
        **_on_behalf(actor, session.user_id, int(ended)),
    )
    return session


def revoke_sessions(actor: Actor, targets: list[tuple[uuid.UUID, uuid.UUID]]) -> int:
    """End these (user id, session id) sessions that are still open, each exactly as
    ``revoke_session`` ends one (the same reason, re-authentication marks and audit event),
    with a few statements for the whole list: a bulk sign-out's batch. Returns how many."""
    now = utcnow()
    rows = session_ends.lock_open_sessions(targets, now)
    for reason in {_others_reason(actor, r.user_id) for r in rows}:
        mine = [r for r in rows if _others_reason(actor, r.user_id) == reason]
        session_ends.end_locked_sessions(mine, reason, by=actor.user, now=now)
    for r in rows:
        actor.record(
            Actions.REVOKE_SESSION,
            r.user_id,
            device_id=r.device_id,
            session_id=r.id,
            **_on_behalf(actor, r.user_id, 1),
        )
    return len(rows)


def revoke_all_sessions(actor: Actor, target: User, *, include_current: bool) -> tuple[int, bool]:
    """End all of ``target``'s sessions; on the actor's own account, the actor's current one
    survives unless ``include_current``. Returns how many ended and whether the actor's own
    session was one of them."""
    ended, ended_current = _end(actor, target.id, include_current=include_current)
    if actor.owns(target.id):
        detail = {"sessions_ended": ended, "kept_current": not include_current}
    else:
        detail = _on_behalf(actor, target.id, ended)
    kept = actor.session_id if actor.owns(target.id) else None
    actor.record(Actions.REVOKE_ALL_SESSIONS, target, session_id=kept, **detail)
    return ended, ended_current


# -- a user's own devices -----------------------------------------------------------------------


def trust_device(
    actor: Actor, device_id: str | uuid.UUID, level: str, days: int
) -> tuple[Device, datetime]:
    """Trust one of the actor's devices at ``level`` for ``days``; returns it and when the
    trust expires."""
    device = _locked_device(actor, device_id)
    expires = devices.trust_device(device, level, days)
    actor.record(
        Actions.TRUST_DEVICE,
        device.user_id,
        device_id=device.id,
        trust_level=level,
        trust_expires_at=expires.isoformat(),
    )
    return device, expires


def untrust_device(actor: Actor, device_id: str | uuid.UUID) -> tuple[Device, int]:
    """Drop the trust of one of the actor's devices and end its sessions; returns it and how
    many ended."""
    device = _locked_device(actor, device_id)
    ended = devices.untrust_device(device, by=actor.user)
    actor.record(Actions.UNTRUST_DEVICE, device.user_id, device_id=device.id, sessions_ended=ended)
    return device, ended


class ReportingCurrentDevice(Conflict):
    """A report of "This wasn't me" about the device the caller is using right now."""

    default_message = (
        "You are using this device now, so it cannot be reported as not you. If you think "
        "someone else knows your password, change it at your identity provider and use "
        "Sign out all other devices."
    )


def report_suspicious(actor: Actor, device_id: str | uuid.UUID) -> tuple[Device, int]:
    """The owner says "This wasn't me" about one of their devices (see ``_report``); returns
    it and how many sessions ended."""
    device = _locked_device(actor, device_id)
    return device, _report(actor, device)


def _report(actor: Actor, device: Device, **detail: Any) -> int:
    """Sign the device out, untrust it, mark it reported.

    Its sessions end as ``reported``, so every new sign-in of the user must give credentials
    at the IdP again. The caller's own device cannot be reported (``ReportingCurrentDevice``):
    that is signing out, and the caller is evidently the user. Returns how many sessions ended.
    """
    if actor.session_id is not None and actor.session.device_id == device.id:
        raise ReportingCurrentDevice()
    ended = devices.report_suspicious(device, by=actor.user)
    actor.record(
        Actions.REPORT_SUSPICIOUS,
        device.user_id,
        device_id=device.id,
        sessions_ended=ended,
        **detail,
    )
    return ended


# -- sign-in alerts -------------------------------------------------------------------------------


def set_alert_mode(actor: Actor, mode: str, policy: alerts.AlertPolicy) -> alerts.AlertMode:
    """The actor chooses which sign-ins are mailed to them (raises ``InvalidAlertMode``)."""
    old = actor.user.alert_mode
    chosen = alerts.set_mode(actor.user, mode, policy)
    actor.record(Actions.ALERT_MODE_CHANGED, actor.user, old_mode=old, new_mode=chosen.value)
    return chosen


def _alert_detail(alert: SignInAlert) -> dict[str, Any]:
    message = alert.outbox_message
    return {"alert_id": str(alert.id), "message_id": message.message_id if message else None}


def answer_alert(actor: Actor, alert: SignInAlert, answer: AlertAnswer, device: Device) -> int:
    """The person who got an alert answered it from the mail's link (signed in or not).

    "Yes, it was me" marks the sign-in confirmed by the user. "No, secure my account" is
    exactly *This wasn't me* (``report_suspicious``) on that device. Either way the alert's
    links work no more. Returns how many sessions ended.
    """
    alerts.check_usable(alert)
    ended = 0
    if answer is AlertAnswer.SECURED:
        ended = _report(actor, device, session_id=alert.session_id, **_alert_detail(alert))
    else:
        actor.record(
            Actions.SIGN_IN_CONFIRMED,
            alert.user_id,
            device_id=alert.device_id,
            session_id=alert.session_id,
            **_alert_detail(alert),
        )
    alerts.answer(alert, answer)
    return ended


ALERT_NOT_FOUND = "This link does not belong to any alert we sent."


@dataclass(frozen=True)
class AlertLinkAnswer:
    """What answering an alert's link did: the device it is about, how many sessions ended,
    and, for a link used again or too late, why it was refused (and audited) instead."""

    device: Device
    ended: int = 0
    refused: str | None = None


def answer_alert_link(
    *,
    alert_id: str,
    user_id: uuid.UUID,
    device_id: str,
    session_id: str | None,
    answer: AlertAnswer,
    ip_address: str | None,
) -> AlertLinkAnswer:
    """The button of an alert's link (``answer_alert``), for whoever holds the link: the
    device and the alert the link names are locked, every id in it must match them
    (NotFound otherwise), and a link used again or too late is refused and audited."""
    device = devices.lock_device(user_id, device_id, include_removed=True)
    alert = alerts.find_alert(alert_id, str(user_id), device_id, session_id, lock=True)
    user = users.get_user(user_id) if device is not None and alert is not None else None
    if user is None:
        raise NotFound(ALERT_NOT_FOUND)
    actor = Actor(user, None, ip_address)
    try:
        ended = answer_alert(actor, alert, answer, device)
    except alerts.AlertLinkRefused as exc:  # refused before anything changed: audit that
        refuse_alert_link(actor, alert, exc.message)
        return AlertLinkAnswer(device, refused=exc.message)
    return AlertLinkAnswer(device, ended)


def refuse_alert_link(actor: Actor, alert: SignInAlert, reason: str) -> None:
    """Audit a link of a known alert that was used again or too late; nothing else changes."""
    actor.record(
        Actions.ALERT_LINK_REFUSED,
        alert.user_id,
        device_id=alert.device_id,
        reason=reason,
        **_alert_detail(alert),
    )


def rename_device(actor: Actor, device_id: str | uuid.UUID, name: str) -> Device:
    """Rename one of the actor's devices (raises ``devices.InvalidDeviceName``); returns it,
    with the name kept."""
    device = _locked_device(actor, device_id)
    old = device.name
    new = devices.rename_device(device, name)
    actor.record(
        Actions.RENAME_DEVICE, device.user_id, device_id=device.id, old_name=old, new_name=new
    )
    return device


def remove_device(actor: Actor, device_id: str | uuid.UUID) -> tuple[Device, int]:
    """Hide one of the actor's devices and end its sessions (rows stay for the history);
    returns it and how many ended."""
    device = _locked_device(actor, device_id)
    ended = devices.remove_device(device, by=actor.user)
    actor.record(Actions.REMOVE_DEVICE, device.user_id, device_id=device.id, sessions_ended=ended)
    return device, ended


SESSION_NOT_FOUND_OR_EXPIRED = "Session not found or expired"


def heartbeat(actor: Actor, session_id: str, policy: sessions.SessionPolicy) -> datetime:
    """A client says its session is in use: slide the expiry forward (never past its absolute
    cap) when that moves it by a step, and answer the expiry; NotFound when the session is not
    an active one of the caller's.

    Most heartbeats change nothing a person sees (the expiry moves by a step at a time, and
    the last-seen stamp is the principal's, once a minute): those read the session and write
    nothing, take no lock and leave no audit event.
    """
    found = sessions.expiry_facts(actor.user_id, session_id)
    if found is None or found.ended_at is not None or found.expires_at <= utcnow():
        raise NotFound(SESSION_NOT_FOUND_OR_EXPIRED)
    if not sessions.extension_due(found, policy):
        return found.expires_at
    locked = sessions.lock_session_of_user(actor.user_id, session_id)
    if locked is None:  # ended or expired meanwhile
        raise NotFound(SESSION_NOT_FOUND_OR_EXPIRED)
    return extend_session(actor, locked, policy)


def extend_session(actor: Actor, session: UserSession, policy: sessions.SessionPolicy) -> datetime:
    """Slide the session's expiry forward (never past its absolute cap)."""
    expires = sessions.extend_session(session, policy)
    actor.record(
        Actions.EXTEND_SESSION,
        session.user_id,
        device_id=session.device_id,
        session_id=session.id,
        expires_at=expires.isoformat(),
    )
    return expires


# -- looking, exporting, granting -----------------------------------------------------------------


def view_user_devices(actor: Actor, target: User | uuid.UUID) -> None:
    """Audit an admin looking at someone else's devices (looking at your own is not audited)."""
    if not actor.owns(target.id if isinstance(target, User) else target):
        actor.record(Actions.VIEW_USER_DEVICES, target, via=actor.via)


def export_csv(
    actor: Actor, export: str, *, target: User | None = None, filters: dict | None = None
) -> None:
    """Audit a CSV export (of a user's devices, or of the audit log) before it is made."""
    actor.record(Actions.EXPORT_CSV, target, export=export, filters=filters)


def search_sign_ins(actor: Actor, f: sign_ins.SignInFilter, *, page: int | None = None) -> None:
    """Audit a search of every user's sign-ins: who searched for what (each page is a look)."""
    actor.record(Actions.SEARCH_SIGN_INS, None, filters=f.as_dict(), page=page, via=actor.via)


def start_bulk_sign_out(
    actor: Actor, f: sign_ins.SignInFilter, *, idempotency_key: str | None = None
) -> tuple[bulk_jobs.BulkJob, bool]:
    """Queue the sign-out of every active session matching ``f`` now (the background worker
    ends them, each as ``revoke_session`` would); audited once, here, with the filter and how
    many sessions of how many users. A repeated ``idempotency_key`` of the same actor answers
    with the first job (and False), audited once."""
    job, created = bulk_jobs.create_sign_out_job(
        f,
        created_by_id=actor.user_id,
        actor_label=actor.name,
        actor_ip=actor.ip_address,
        via=actor.via,
        idempotency_key=idempotency_key,
    )
    if created:
        actor.record(
            Actions.BULK_SIGN_OUT,
            None,
            job_id=str(job.id),
            filters=f.as_dict(),
            sessions=job.total,
            users=job.users,
            via=actor.via,
        )
    return job, created


def grant_permission(actor: Actor, user: User, permission: str) -> bool:
    """Give ``user`` a local grant of ``permission``; False when they already had it."""
    if not identity.grant(user, permission, granted_by=actor.label):
        return False
    actor.record(Actions.GRANT_PERMISSION, user, permission=permission)
    return True


def revoke_permission(actor: Actor, user: User, permission: str) -> bool:
    """Take a local grant away; False when there was none."""
    if not identity.revoke_grant(user, permission):
        return False
    actor.record(Actions.REVOKE_PERMISSION, user, permission=permission)
    return True


# -- personal API tokens --------------------------------------------------------------------------


def create_personal_token(
    actor: Actor, *, name: str, scopes: list[str], days: int, may_read_audit: bool
) -> tuple[PersonalToken, str]:
    """Make a personal token for the actor (raises ``personal_tokens.InvalidTokenRequest``);
    returns it and its secret, which is shown once and never stored."""
    personal_tokens.check_request(name, scopes, days, may_read_audit)
    token, secret = personal_tokens.create(actor.user, name=name, scopes=scopes, days=days)
    actor.record(
        Actions.PERSONAL_TOKEN_CREATED,
        actor.user,
        device_id=token.session.device_id,
        session_id=token.session_id,
        token_id=str(token.id),
        name=token.name,
        scopes=token.scopes,
        expires_at=token.expires_at.isoformat(),
    )
    return token, secret


def note_personal_token_use(
    token: PersonalToken, client: signing_in.ClientInfo, geoip_database: str | None
) -> None:
    """A request came with this token: remember when and from where, and audit the first use
    from each new address."""
    if personal_tokens.note_use(token, client, geoip_database):
        session = token.session
        Actor(session.user, session, client.ip_address, via="api").record(
            Actions.PERSONAL_TOKEN_NEW_ADDRESS,
            token.user_id,
            device_id=session.device_id,
            session_id=session.id,
            token_id=str(token.id),
            name=token.name,
            user_agent=token.last_used_user_agent,
        )


def revoke_personal_token(actor: Actor, token_id: str) -> tuple[PersonalToken, bool]:
    """End one of the actor's tokens (its session); returns it, and True when it worked until
    now."""
    token = personal_tokens.lock_token_of_user(_account(actor, None), token_id)
    if token is None:
        raise NotFound(TOKEN_NOT_FOUND)
    session = token.session
    ended = session_ends.end_session(session, _others_reason(actor, token.user_id), by=actor.user)
    actor.record(
        Actions.PERSONAL_TOKEN_REVOKED,
        token.user_id,
        device_id=session.device_id,
        session_id=session.id,
        token_id=str(token.id),
        name=token.name,
        **_on_behalf(actor, token.user_id, int(ended)),
    )
    return token, ended


# -- deactivated accounts, and provisioning by the identity provider (SCIM) ---------------------


def scim_actor(ip_address: str | None) -> Actor:
    """The identity provider's SCIM client, as the audit log names it."""
    return Actor(None, None, ip_address, via="scim", label="SCIM")


def deactivate_user(actor: Actor, user: User) -> int | None:
    """Deactivate the account: every session, IdP token and personal token ends now, and no
    sign-in or token works until it is reactivated. Returns how many sessions ended; None
    when it was already deactivated (nothing is recorded then). The IdP is told of the ended
    sessions unless it asked for this itself (through SCIM)."""
    ended = provisioning.deactivate(user, by=actor.user, tell_idp=actor.via != "scim")
    if ended is None:
        return None
    actor.record(Actions.DEACTIVATE_USER, user, via=actor.via, sessions_ended=ended)
    return ended


def reactivate_user(actor: Actor, user: User) -> bool:
    """Allow the account to sign in again; False when it was not deactivated."""
    if not provisioning.reactivate(user):
        return False
    actor.record(Actions.REACTIVATE_USER, user, via=actor.via)
    return True


def refuse_sign_in(user: User, ip_address: str | None, via: str = "page") -> None:
    """A deactivated account tried to sign in at the IdP and was turned away."""
    Actor(user, None, ip_address, via=via).record(Actions.SIGN_IN_REFUSED, user)


def _set_active(actor: Actor, user: User, active: bool) -> None:
    if active:
        reactivate_user(actor, user)
    else:
        deactivate_user(actor, user)


def scim_provision_user(actor: Actor, fields: provisioning.Provisioned) -> User:
    """SCIM POST: a user the IdP provisions (a new row, one who signed in before, or one SCIM
    deleted); their first sign-in links to it. Raises ``provisioning.InvalidProvisioning`` or
    ``provisioning.UserNameTaken``."""
    user, new, changed = provisioning.provision(fields)
    actor.record(
        Actions.SCIM_PROVISION_USER,
        user,
        user_name=user.scim_user_name,
        external_id=user.scim_external_id,
        adopted=not new or None,
        changed=changed or None,
    )
    _set_active(actor, user, fields.active)
    return user


def scim_update_user(actor: Actor, user: User, fields: provisioning.Provisioned) -> User:
    """SCIM PUT or PATCH (the PATCH already applied): the user's attributes, and ``active``
    deactivating or reactivating the account."""
    changed = provisioning.replace(user, fields)
    if changed:
        actor.record(Actions.SCIM_UPDATE_USER, user, changed=changed)
    _set_active(actor, user, fields.active)
    return user


def scim_delete_user(actor: Actor, user: User) -> None:
    """SCIM DELETE: the account is deactivated and SCIM no longer sees it; the user and their
    history stay."""
    deactivate_user(actor, user)
    provisioning.hide(user)
    actor.record(Actions.SCIM_DELETE_USER, user, user_name=user.scim_user_name)
