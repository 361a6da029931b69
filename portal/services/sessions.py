"""Opening, checking and ending sessions: the server-side truth about who is signed in."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import (
    Device,
    EndReason,
    Grant,
    LoginMethod,
    SeenLogoutToken,
    User,
    UserSession,
    utcnow,
)
from ..models.types import column_length, fit, without_control_characters
from . import device_sets, geo, investigation, signals
from .errors import Forbidden
from .useragent import describe

# Activity is written at most this often per session, not on every request.
TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions live; built from the app's configuration."""

    lifetime: timedelta
    idle_timeout: timedelta
    absolute_lifetime: timedelta

    @classmethod
    def from_config(cls, config) -> SessionPolicy:
        return cls(
            lifetime=timedelta(seconds=config["SESSION_LIFETIME"]),
            idle_timeout=timedelta(seconds=config["SESSION_IDLE_TIMEOUT"]),
            absolute_lifetime=timedelta(seconds=config["SESSION_ABSOLUTE_LIFETIME"]),
        )


@dataclass(frozen=True)
class ClientInfo:
    """What the request tells us about the client: its address and its User-Agent."""

    ip_address: str | None
    user_agent: str | None


def new_device_secret() -> tuple[str, str]:
    """A fresh device-cookie secret and its fingerprint (the SHA-256 the database keeps)."""
    secret = secrets.token_urlsafe(32)
    return secret, fingerprint_of(secret)


def fingerprint_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def refresh_device(device: Device, client: ClientInfo, where: geo.Location, now: datetime):
    """Bring a device's description up to date with what this request says.

    Every value comes from the request (its User-Agent, its address), so each is fitted to
    its column: a long or odd header describes the device less well, never stops a sign-in.
    """
    user_agent = fit(Device.user_agent, client.user_agent)
    info = describe(user_agent)
    device.device_type = info.device_type
    device.os_name = fit(Device.os_name, info.os_name)
    device.os_version = fit(Device.os_version, info.os_version)
    device.browser = fit(Device.browser, info.browser)
    device.browser_version = fit(Device.browser_version, info.browser_version)
    device.model = fit(Device.model, info.model)
    device.app_version = fit(Device.app_version, info.app_version)
    device.user_agent = user_agent
    device.ip_address = fit(Device.ip_address, client.ip_address)
    device.country_code = fit(Device.country_code, where.country_code)
    device.country, device.city = fit(Device.country, where.country), fit(Device.city, where.city)
    device.latitude, device.longitude = where.latitude, where.longitude
    device.last_seen_at = now
    if not device.name:
        device.name = fit(Device.name, info.default_name)


def _devices_with_fingerprint(user: User, fingerprint: str) -> list[Device]:
    """The user's devices with that fingerprint: the live one (if any) first, then removed ones."""
    return list(
        db.session.execute(
            select(Device)
            .where(Device.user_id == user.id, Device.fingerprint == fingerprint)
            .order_by(Device.removed_at.is_not(None), Device.removed_at.desc())
        ).scalars()
    )


def _live(devices: list[Device]) -> Device | None:
    return devices[0] if devices and devices[0].removed_at is None else None


_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_unless_present(model, index_elements: list[str], index_where=None, **values) -> None:
    """``INSERT ... ON CONFLICT DO NOTHING``: a row another request inserted first (and
    committed, or is about to: PostgreSQL waits for it, SQLite's write lock queues us) wins,
    and the caller reads it instead of failing on the unique key."""
    insert = _INSERT[db.session.get_bind().dialect.name]
    db.session.execute(
        insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=index_elements, index_where=index_where)
    )


def _make_device(user: User, fingerprint: str, kind: str) -> Device:
    """The user's live device with ``fingerprint``, inserted now unless a parallel first use
    (two tabs finishing sign-in, a client's tokens used at once) inserted it first."""
    for _ in range(3):  # the winner's device may be removed between the insert and the read
        insert_unless_present(
            Device,
            ["user_id", "fingerprint"],
            Device.removed_at.is_(None),
            id=uuid.uuid4(),
            user_id=user.id,
            fingerprint=fingerprint,
            kind=kind,
            name="",
        )
        device = _live(_devices_with_fingerprint(user, fingerprint))
        if device is not None:
            return device
    raise RuntimeError(f"no live device with fingerprint {fingerprint[:8]}... could be made")


def _open_session(
    user: User,
    device: Device,
    client: ClientInfo,
    where: geo.Location,
    policy: SessionPolicy,
    now: datetime,
    method: LoginMethod,
    expires_at: datetime | None = None,
    token_id: str | None = None,
    idp_sid: str | None = None,
) -> UserSession:
    earlier = _sign_ins_before(user, now)  # before the new row exists, so no flush takes it
    session = UserSession(
        id=uuid.uuid4(),
        user_id=user.id,
        device=device,
        login_method=method.value,
        token_id=token_key(token_id),
        idp_sid=idp_sid_key(idp_sid),
        created_at=now,
        last_used_at=now,
        expires_at=expires_at or now + policy.lifetime,
        absolute_expires_at=expires_at or now + policy.absolute_lifetime,
        ip_address=fit(UserSession.ip_address, client.ip_address),
        country_code=fit(UserSession.country_code, where.country_code),
        country=fit(UserSession.country, where.country),
        city=fit(UserSession.city, where.city),
        latitude=where.latitude,
        longitude=where.longitude,
    )
    session.sign_in_flags = investigation.new_sign_in_flags(session, earlier)
    db.session.add(session)
    user.last_seen_at = now
    user.last_ip = fit(User.last_ip, client.ip_address)
    user.last_country_code = fit(User.last_country_code, where.country_code)
    user.last_city = fit(User.last_city, where.city)
    device_sets.bump_loaded(user)
    return session


def _sign_ins_before(user: User, now: datetime) -> list:
    """The user's sign-ins of the flags' lookback before ``now``: what a new one is compared to."""
    return list(
        db.session.execute(
            select(
                UserSession.id,
                UserSession.created_at,
                UserSession.country_code,
                UserSession.city,
                UserSession.latitude,
                UserSession.longitude,
            ).where(
                UserSession.user_id == user.id,
                UserSession.created_at >= now - investigation.NEW_COUNTRY_LOOKBACK,
                UserSession.created_at <= now,
            )
        )
    )


def _key(attribute, value: str | None) -> str | None:
    """An identifier from outside (a token's ``jti``, an IdP's ``sid``) as stored and looked up:
    itself when its column holds it as it is, else its SHA-256 (exact matches still work)."""
    if value is None:
        return None
    if len(value) <= column_length(attribute) and without_control_characters(value) == value:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def token_key(token_id: str | None) -> str | None:
    return _key(UserSession.token_id, token_id)


def idp_sid_key(sid: str | None) -> str | None:
    return _key(UserSession.idp_sid, sid)


def record_sign_in(
    user: User,
    *,
    device_secret: str | None,
    client: ClientInfo,
    policy: SessionPolicy,
    geoip_database: str | None,
    idp_sid: str | None = None,
    now: datetime | None = None,
) -> tuple[UserSession, str]:
    """Find or create the browser's device, refresh it, and open a new session on it.

    Returns the session and the device secret the browser must keep in its cookie (a new one
    when the browser brought none, or brought the cookie of a device the user removed: a
    removed device stays removed, and this browser becomes a new device).
    """
    now = now or utcnow()
    fingerprint = fingerprint_of(device_secret) if device_secret else None
    known = _devices_with_fingerprint(user, fingerprint) if fingerprint else []
    device = _live(known)
    if device is None:
        if known or not device_secret:
            device_secret, fingerprint = new_device_secret()
        device = _make_device(user, fingerprint, kind="browser")
    where = geo.locate(client.ip_address, geoip_database)
    refresh_device(device, client, where, now)
    session = _open_session(
        user, device, client, where, policy, now, LoginMethod.OIDC, idp_sid=idp_sid
    )
    db.session.flush()
    return session, device_secret


def authenticated_too_long_ago(user: User, auth_time: datetime | None) -> bool:
    """Whether a sign-in authenticated at ``auth_time`` must give credentials again.

    True when one of the user's sessions was revoked in the same whole second as that
    authentication or later (or when the IdP did not say when it authenticated and a
    revocation is on record): ``auth_time`` has whole seconds only, so an authentication from
    the second of the revocation may be the very one it revoked.
    """
    mark = user.reauth_required_after
    return mark is not None and (auth_time is None or auth_time <= mark)


def authenticated_before_asked(user: User, auth_time: datetime | None, asked_at: datetime) -> bool:
    """Whether the answer to a ``prompt=login`` redirect sent at ``asked_at`` is still stale.

    Fresh when the authentication is from the redirect's whole second or later, since the IdP
    was asked for exactly that; a revocation made after the redirect still outdates it.
    """
    if auth_time is None:
        return False
    asked_at = asked_at.replace(microsecond=0)
    mark = user.reauth_required_after
    if mark is not None and mark > asked_at:
        return auth_time <= mark
    return auth_time < asked_at


def parse_id(value: str | uuid.UUID) -> uuid.UUID | None:
    """A UUID from a path segment or cookie, or None when it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


_g = Grant.__table__


def grants_column(user_id):
    """The local grants of the user ``user_id`` names, as one comma-joined column of the same
    statement: every request's one read of its caller carries them (``grant_list`` splits)."""
    return (
        select(func.aggregate_strings(_g.c.permission, ","))
        .where(_g.c.user_id == user_id)
        .scalar_subquery()
    )


def grant_list(joined: str | None) -> list[str]:
    return joined.split(",") if joined else []


def _session_with_grants(condition):
    return (
        select(UserSession, grants_column(UserSession.user_id))
        .options(joinedload(UserSession.user), joinedload(UserSession.device))
        .where(condition)
    )


# Built once: every request runs one of these, reusing the statement and its cache key.
_SESSION_BY_ID = _session_with_grants(UserSession.id == bindparam("key"))
_SESSION_BY_TOKEN = _session_with_grants(UserSession.token_id == bindparam("key"))


def load_session(
    *, session_id: str | uuid.UUID | None = None, token_id: str | None = None
) -> tuple[UserSession, list[str]] | None:
    """A session by its id or its token's id, with its user, its device and the user's local
    grants, in one statement; None if unknown or malformed.

    This is every request's one read of who is calling, so it carries what the principal
    needs: the grants come aggregated in the same row rather than in a query of their own.
    """
    if token_id is not None:
        stmt, key = _SESSION_BY_TOKEN, token_key(token_id)
    else:
        stmt, key = _SESSION_BY_ID, parse_id(session_id) if session_id is not None else None
        if key is None:
            return None
    found = db.session.execute(stmt, {"key": key}).one_or_none()
    if found is None:
        return None
    session, grants = found
    return session, grant_list(grants)


@dataclass(frozen=True, slots=True)
class Standing:
    """A session as the caller check needs it, read as one plain row (no model loaded)."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    device_id: uuid.UUID
    login_method: str
    last_used_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    user_name: str  # the user's email, or the subject when there is none (the audit label)
    user_full_name: str | None  # pages call the user by it, else by ``user_name``
    user_deactivated_at: datetime | None  # a deactivated account's sessions are refused
    device_set_version: int  # the polled lists' version (``device_sets``), read here for free
    groups: list[str]
    grants: list[str]

    def quiet(self, policy: SessionPolicy, now: datetime) -> bool:
        """Usable with nothing to write: open, unexpired, not idle and touched within the
        minute. Anything else takes ``check_and_touch`` on the loaded session."""
        return (
            self.ended_at is None
            and now < self.expires_at
            and now - self.last_used_at < TOUCH_INTERVAL
            and now - self.last_used_at < policy.idle_timeout
        )


_s, _u = UserSession.__table__, User.__table__
# Core, not the ORM: the most frequent read of all (every cached token's request) builds no
# model, only the columns the check needs.
_STANDING = (
    select(
        _s.c.id,
        _s.c.user_id,
        _s.c.device_id,
        _s.c.login_method,
        _s.c.last_used_at,
        _s.c.expires_at,
        _s.c.ended_at,
        func.coalesce(_u.c.email, _u.c.subject),
        _u.c.name,
        _u.c.deactivated_at,
        _u.c.device_set_version,
        _u.c.groups,
        grants_column(_s.c.user_id),
    )
    .join(_u, _u.c.id == _s.c.user_id)
    .where(_s.c.id == bindparam("key"))
)


def session_standing(session_id: str | uuid.UUID) -> Standing | None:
    """The session's standing and its user's groups and grants, in one statement; None if
    unknown or malformed."""
    key = parse_id(session_id)
    if key is None:
        return None
    row = db.session.connection().execute(_STANDING, {"key": key}).first()
    if row is None:
        return None
    *facts, groups, grants = row
    return Standing(*facts, groups or [], grant_list(grants))


def check_and_touch(
    session: UserSession, policy: SessionPolicy, now: datetime | None = None
) -> bool:
    """Whether the session may still be used; expires it on the server when it may not.

    Records activity at most once per ``TOUCH_INTERVAL``. Returns True when usable. The caller
    commits (any change here is small and safe to commit on its own).
    """
    now = now or utcnow()
    if session.ended_at is not None:
        return False
    idle_limit = session.last_used_at + policy.idle_timeout
    if session.expires_at <= now or (
        session.login_method == LoginMethod.OIDC.value and idle_limit <= now
    ):
        end_session(session, EndReason.EXPIRED, by=None, now=now)
        return False
    if now - session.last_used_at >= TOUCH_INTERVAL:
        session.last_used_at = now
        session.device.last_seen_at = now
        session.user.last_seen_at = now
        device_sets.bump_loaded(session.user)  # lastSeen and lastActivity move
    return True


def end_session(
    session: UserSession,
    reason: EndReason,
    by: User | None,
    now: datetime | None = None,
    *,
    tell_idp: bool = True,
) -> bool:
    """End one session if it is still open; False when it had already ended.

    Every way a session ends goes through here, ``end_sessions`` or ``end_locked_sessions``,
    and each queues the IdP's event about it (``signals``; ``tell_idp=False`` when the IdP
    itself asked) in the same transaction."""
    if session.ended_at is not None:
        return False
    now = now or utcnow()
    # The user's row first (the one lock order), and before the session's change is flushed.
    if reason.requires_reauth:
        _require_reauth(session.user_id, Device.id == session.device_id, now)
    else:
        device_sets.bump([session.user_id])
    session.ended_at = now
    session.end_reason = reason.value
    session.ended_by_id = by.id if by else None
    db.session.flush()
    signals.session_revoked(
        [signals.Ended(session.id, session.user_id, session.idp_sid)],
        reason,
        now,
        tell_idp=tell_idp,
    )
    return True


def end_sessions(
    *,
    user_id: uuid.UUID,
    reason: EndReason,
    by: User | None,
    device_id: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
    now: datetime | None = None,
    tell_idp: bool = True,
) -> int:
    """End every open session of a user (or of one of their devices), except ``keep``.

    One UPDATE statement, so a concurrent sign-out and revoke cannot leave half of them open;
    it returns the sessions it ended, whose IdP events are queued with it (``end_session``).
    """
    now = now or utcnow()
    if reason.requires_reauth:
        # First, to lock rows in the one order: the user, devices, then sessions.
        if device_id is not None:
            devices = Device.id == device_id
        elif keep is not None:
            kept_device = select(UserSession.device_id).where(UserSession.id == keep)
            devices = Device.id.not_in(kept_device.scalar_subquery())
        else:
            devices = true()
        _require_reauth(user_id, devices, now)
    else:
        device_sets.bump([user_id])
    stmt = update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    if device_id is not None:
        stmt = stmt.where(UserSession.device_id == device_id)
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    ended = [
        signals.Ended(*row)
        for row in db.session.execute(
            stmt.values(
                ended_at=now,
                end_reason=reason.value,
                ended_by_id=by.id if by else None,
            )
            .returning(UserSession.id, UserSession.user_id, UserSession.idp_sid)
            .execution_options(synchronize_session="fetch")
        )
    ]
    signals.session_revoked(ended, reason, now, tell_idp=tell_idp, kept=keep)
    return len(ended)


def _require_reauth(user_id: uuid.UUID, devices, now: datetime) -> None:
    """Mark the user, and those of their devices that ``devices`` selects, as revoked at ``now``.

    From then on a browser sign-in must show an IdP authentication (``auth_time``) newer
    than the user's mark, and a new API token one newer than its client's mark: the IdP's
    own single sign-on session cannot bring a revoked browser or client straight back.
    Whole seconds, because ``auth_time`` has no finer resolution. The user's device set
    changes with it (``device_sets``), in the same statement.
    """
    mark = now.replace(microsecond=0)
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(reauth_required_after=mark, device_set_version=User.device_set_version + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Device)
        .where(Device.user_id == user_id, devices)
        .values(revoked_at=mark)
        .execution_options(synchronize_session=False)
    )


_d = Device.__table__
# The columns the API's session lists send, of a session and of its device.
_SESSION_FACTS = (
    "id",
    "ip_address",
    "city",
    "country_code",
    "country",
    "created_at",
    "last_used_at",
    "expires_at",
    "login_method",
)
_DEVICE_FACTS = (
    "id",
    "name",
    "device_type",
    "model",
    "os_name",
    "os_version",
    "app_version",
    "ip_address",
    "user_agent",
    "city",
    "country_code",
    "country",
)
SessionFacts = namedtuple("SessionFacts", _SESSION_FACTS)
DeviceFacts = namedtuple("DeviceFacts", _DEVICE_FACTS)
# Core, not the ORM: the lists answer from plain rows, only the columns they send.
_ACTIVE_SESSIONS = (
    select(*(_s.c[name] for name in _SESSION_FACTS), *(_d.c[name] for name in _DEVICE_FACTS))
    .join(_d, _d.c.id == _s.c.device_id)
    .where(
        _s.c.user_id == bindparam("user_id"),
        _s.c.ended_at.is_(None),
        _s.c.expires_at > bindparam("now"),
    )
    .order_by(_s.c.created_at.desc())
)


def active_sessions(
    user_id: uuid.UUID, now: datetime | None = None
) -> list[tuple[SessionFacts, DeviceFacts]]:
    """A user's open, unexpired sessions, newest first, in one statement: each a session and
    its device as plain named tuples."""
    params = {"user_id": user_id, "now": now or utcnow()}
    split = len(_SESSION_FACTS)
    return [
        (SessionFacts._make(row[:split]), DeviceFacts._make(row[split:]))
        for row in db.session.connection().execute(_ACTIVE_SESSIONS, params).all()
    ]


def get_session_of_user(user_id: uuid.UUID, session_id: str | uuid.UUID) -> UserSession | None:
    """One session, only if it belongs to ``user_id``: anyone else's is simply not found."""
    sid = parse_id(session_id)
    if sid is None:
        return None
    return db.session.execute(
        select(UserSession)
        .options(joinedload(UserSession.device))
        .where(UserSession.id == sid, UserSession.user_id == user_id)
    ).scalar_one_or_none()


_LOCKED_USER = _u.alias("locked")
# One statement: the user's row locked FOR UPDATE (as strong a lock as before, which also
# holds back new rows naming the user), and the device set's version moved.
_LOCK_ACCOUNT = (
    update(_u)
    .where(
        _u.c.id
        == select(_LOCKED_USER.c.id)
        .where(_LOCKED_USER.c.id == bindparam("user_id"))
        .with_for_update()
        .scalar_subquery()
    )
    .values(device_set_version=_u.c.device_set_version + 1)
)


def lock_account(user_id: uuid.UUID) -> None:
    """Queue behind every other change to this user's devices and sessions, until commit.

    Changes lock rows in one order, the user's row first (then devices, then sessions, the
    order in which the ORM flushes them too), so two of them never wait on each other in a
    cycle. Whoever locks the account is about to change it, so the lock moves the version of
    the user's device set too (``device_sets``; a change that then does not happen costs a
    poller one full answer). SQLite has no row locks and ignores ``FOR UPDATE``: there, the
    write takes the database's write lock now, so what the transaction reads next stays
    current.
    """
    db.session.execute(_LOCK_ACCOUNT, {"user_id": user_id})


def lock_session_of_user(
    user_id: uuid.UUID, session_id: str | uuid.UUID, now: datetime | None = None
) -> UserSession | None:
    """One of the user's *active* sessions, locked until commit; None when not found or over.

    Concurrent changes to one session (two revokes, a revoke and a heartbeat) run one after
    the other, and the second sees what the first did.
    """
    sid = parse_id(session_id)
    if sid is None:
        return None
    lock_account(user_id)
    found = db.session.execute(
        select(UserSession)
        .where(UserSession.id == sid, UserSession.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    return found if found is not None and found.is_active(now) else None


# A heartbeat moves the expiry only in steps of this share of the lifetime (and at least a
# minute): a client beating every minute writes a few times a lifetime, not every minute.
HEARTBEAT_STEP_SHARE = 0.05


def extension_due(session: UserSession, policy: SessionPolicy, now: datetime | None = None) -> bool:
    """Whether a heartbeat now would move the session's expiry by a step or more."""
    now = now or utcnow()
    step = max(timedelta(minutes=1), policy.lifetime * HEARTBEAT_STEP_SHARE)
    slid = min(now + policy.lifetime, session.absolute_expires_at)
    return slid - session.expires_at >= step


def lock_open_sessions(
    targets: list[tuple[uuid.UUID, uuid.UUID]], now: datetime | None = None
) -> list:
    """Of these (user id, session id) pairs, the sessions still active and of that user, as
    plain rows (id, user_id, device_id, idp_sid), locked until commit in the one order: the users
    (by id), then the sessions. ``lock_session_of_user`` for many at once."""
    if not targets:
        return []
    now = now or utcnow()
    wanted = set(targets)
    if db.session.get_bind().dialect.name == "sqlite":
        lock_account(targets[0][0])  # the database's write lock, whichever user
    else:
        db.session.execute(
            select(User.id)
            .where(User.id.in_(sorted({u for u, _ in wanted})))
            .order_by(User.id)
            .with_for_update()
        )
    # By id alone, and open or not decided here: a planner offered "ended_at IS NULL" may
    # walk the million open sessions of ix_sessions_ended instead of a hundred ids.
    rows = db.session.execute(
        select(_s.c.id, _s.c.user_id, _s.c.device_id, _s.c.idp_sid, _s.c.ended_at, _s.c.expires_at)
        .where(_s.c.id.in_([sid for _, sid in targets]))
        .order_by(_s.c.id)
        .with_for_update()
    ).all()
    return [
        r for r in rows if (r.user_id, r.id) in wanted and r.ended_at is None and r.expires_at > now
    ]


def end_locked_sessions(
    rows: list, reason: EndReason, by: User | None, now: datetime | None = None
) -> None:
    """End the sessions ``lock_open_sessions`` returned, each as ``end_session`` ends one
    (the same columns, and the same re-authentication marks on its user and its device), in
    a few statements for the lot."""
    if not rows:
        return
    now = now or utcnow()
    if reason.requires_reauth:
        mark = now.replace(microsecond=0)
        db.session.execute(
            update(User)
            .where(User.id.in_(sorted({r.user_id for r in rows})))
            .values(reauth_required_after=mark, device_set_version=User.device_set_version + 1)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            update(Device)
            .where(Device.id.in_(sorted({r.device_id for r in rows})))
            .values(revoked_at=mark)
            .execution_options(synchronize_session=False)
        )
    else:
        device_sets.bump(r.user_id for r in rows)
    db.session.execute(
        update(UserSession)
        .where(UserSession.id.in_([r.id for r in rows]))  # locked and open: see above
        .values(ended_at=now, end_reason=reason.value, ended_by_id=by.id if by else None)
        .execution_options(synchronize_session=False)
    )
    signals.session_revoked([signals.Ended(r.id, r.user_id, r.idp_sid) for r in rows], reason, now)


def extend_session(session: UserSession, policy: SessionPolicy, now: datetime | None = None):
    """Slide the expiry forward by one lifetime, never past the absolute cap, and never
    closer: a token's session already lasting longer (a personal token made for 30 days)
    keeps its expiry."""
    now = now or utcnow()
    slid = min(now + policy.lifetime, session.absolute_expires_at)
    session.expires_at = max(session.expires_at, slid)
    session.last_used_at = now
    db.session.flush()
    return session.expires_at


class ClientRevoked(Forbidden):
    """A new token of an API client authenticated before that client was last revoked."""


def bearer_session(
    user: User,
    *,
    client_id: str,
    token_id: str,
    token_expires_at: datetime,
    auth_time: datetime | None,
    issued_at: datetime,
    client: ClientInfo,
    policy: SessionPolicy,
    geoip_database: str | None,
    now: datetime | None = None,
) -> tuple[UserSession, bool]:
    """The session standing for one bearer token (keyed by its ``jti``), made on first use.

    Returns the session and whether this use made it. The API client is a device of its own,
    so a revoked token stops working and shows up in the same lists as browsers do. A new
    token issued (``iat``) or authenticated (``auth_time``) in the second of the client's last
    revocation or before raises ``ClientRevoked``: neither a token minted before the revoke
    nor a refresh token's authentication can bring the client back, and a client that asks
    for a new token a moment later gets in. A removed client comes back as a new device.
    """
    now = now or utcnow()
    found = _token_session(token_id)
    if found is not None:
        return found, False
    fingerprint = hashlib.sha256(f"api-client:{user.issuer}:{client_id}".encode()).hexdigest()
    known = _devices_with_fingerprint(user, fingerprint)
    revoked = max((d.revoked_at for d in known if d.revoked_at), default=None)
    if revoked is not None and (
        issued_at <= revoked or (auth_time is not None and auth_time <= revoked)
    ):
        raise ClientRevoked(client_id)
    where = geo.locate(client.ip_address, geoip_database)
    try:
        # A savepoint: a parallel first use of the same token may win the race, and then
        # only this attempt is undone, never the caller's transaction.
        with db.session.begin_nested():
            device = _live(known) or _make_device(user, fingerprint, kind="api_client")
            if not device.name:
                device.name = fit(Device.name, f"API client {client_id}")
            refresh_device(device, client, where, now)
            session = _open_session(
                user,
                device,
                client,
                where,
                policy,
                now,
                LoginMethod.BEARER,
                expires_at=token_expires_at,
                token_id=token_id,
            )
    except IntegrityError:
        return _token_session(token_id), False
    return session, True


def _token_session(token_id: str) -> UserSession | None:
    return db.session.execute(
        select(UserSession)
        .options(joinedload(UserSession.device))
        .where(UserSession.token_id == token_key(token_id))
    ).scalar_one_or_none()


def remember_logout_token(issuer: str, jti: str, now: datetime | None = None) -> bool:
    """Record a back-channel logout token as used; False when it was used before (a replay).

    The insert runs in a savepoint, so a replay leaves the caller's transaction intact.
    """
    now = now or utcnow()
    token_hash = hashlib.sha256(f"{issuer}#{jti}".encode()).hexdigest()
    try:
        with db.session.begin_nested():
            db.session.add(SeenLogoutToken(token_hash=token_hash, seen_at=now))
    except IntegrityError:
        return False
    return True


def forget_logout_tokens_before(when: datetime) -> None:
    """Drop replay records older than any logout token that could still be accepted."""
    db.session.execute(delete(SeenLogoutToken).where(SeenLogoutToken.seen_at < when))


def end_idp_sessions(
    issuer: str, *, sid: str | None, subject: str | None, now: datetime | None = None
) -> tuple[User | None, int]:
    """End the portal sessions an IdP logout names: those of IdP session ``sid`` (and of
    ``subject`` when the token names both), or every session of ``subject`` when no ``sid``.

    Returns the user concerned (None when no open session or user matches) and how many
    sessions ended.
    """
    now = now or utcnow()
    if not sid:
        user = db.session.execute(
            select(User).where(User.issuer == issuer, User.subject == subject)
        ).scalar_one_or_none()
        if user is None:
            return None, 0
        return user, end_sessions(user_id=user.id, reason=EndReason.IDP_LOGOUT, by=None, now=now)
    stmt = (
        select(UserSession)
        .join(User, User.id == UserSession.user_id)
        .options(joinedload(UserSession.user))
        .where(
            User.issuer == issuer,
            UserSession.idp_sid == idp_sid_key(sid),
            UserSession.ended_at.is_(None),
        )
    )
    if subject:
        stmt = stmt.where(User.subject == subject)
    rows = list(db.session.execute(stmt).scalars())
    ended = sum(end_session(row, EndReason.IDP_LOGOUT, by=None, now=now) for row in rows)
    return (rows[0].user if rows else None), ended
