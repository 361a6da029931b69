"""Opening, checking and ending sessions: the server-side truth about who is signed in."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Device, EndReason, LoginMethod, User, UserSession, utcnow
from . import geo
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


def _refresh_device(device: Device, client: ClientInfo, where: geo.Location, now: datetime):
    """Bring a device's description up to date with what this request says."""
    info = describe(client.user_agent)
    device.device_type = info.device_type
    device.os_name, device.os_version = info.os_name, info.os_version
    device.browser, device.browser_version = info.browser, info.browser_version
    device.model, device.app_version = info.model, info.app_version
    device.user_agent = client.user_agent
    device.ip_address = client.ip_address
    device.country_code, device.country, device.city = where.country_code, where.country, where.city
    device.latitude, device.longitude = where.latitude, where.longitude
    device.last_seen_at = now
    device.removed_at = None
    if not device.name:
        device.name = info.default_name


def _find_or_make_device(user: User, fingerprint: str, kind: str) -> Device:
    device = db.session.execute(
        select(Device).where(Device.user_id == user.id, Device.fingerprint == fingerprint)
    ).scalar_one_or_none()
    if device is None:
        device = Device(user_id=user.id, fingerprint=fingerprint, kind=kind, name="")
        db.session.add(device)
    return device


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
) -> UserSession:
    session = UserSession(
        id=uuid.uuid4(),
        user_id=user.id,
        device=device,
        login_method=method.value,
        token_id=token_id,
        created_at=now,
        last_used_at=now,
        expires_at=expires_at or now + policy.lifetime,
        absolute_expires_at=expires_at or now + policy.absolute_lifetime,
        ip_address=client.ip_address,
        country_code=where.country_code,
        country=where.country,
        city=where.city,
        latitude=where.latitude,
        longitude=where.longitude,
    )
    db.session.add(session)
    user.last_seen_at = now
    user.last_ip = client.ip_address
    user.last_country_code, user.last_city = where.country_code, where.city
    return session


def record_sign_in(
    user: User,
    *,
    device_secret: str | None,
    client: ClientInfo,
    policy: SessionPolicy,
    geoip_database: str | None,
    now: datetime | None = None,
) -> tuple[UserSession, str]:
    """Find or create the browser's device, refresh it, and open a new session on it.

    Returns the session and the device secret the browser must keep in its cookie (a new one
    when the browser brought none).
    """
    now = now or utcnow()
    if not device_secret:
        device_secret, fingerprint = new_device_secret()
    else:
        fingerprint = fingerprint_of(device_secret)
    where = geo.locate(client.ip_address, geoip_database)
    device = _find_or_make_device(user, fingerprint, kind="browser")
    _refresh_device(device, client, where, now)
    session = _open_session(user, device, client, where, policy, now, LoginMethod.OIDC)
    db.session.flush()
    return session, device_secret


def parse_id(value: str | uuid.UUID) -> uuid.UUID | None:
    """A UUID from a path segment or cookie, or None when it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def load_active_session(session_id: str | uuid.UUID) -> UserSession | None:
    """The session with that id, with its user and device, or None if unknown or malformed."""
    sid = parse_id(session_id)
    if sid is None:
        return None
    return db.session.execute(
        select(UserSession)
        .options(joinedload(UserSession.user), joinedload(UserSession.device))
        .where(UserSession.id == sid)
    ).scalar_one_or_none()


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
    return True


def end_session(
    session: UserSession, reason: EndReason, by: User | None, now: datetime | None = None
) -> bool:
    """End one session if it is still open; False when it had already ended."""
    if session.ended_at is not None:
        return False
    session.ended_at = now or utcnow()
    session.end_reason = reason.value
    session.ended_by_id = by.id if by else None
    db.session.flush()
    return True


def end_sessions(
    *,
    user_id: uuid.UUID,
    reason: EndReason,
    by: User | None,
    device_id: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
    now: datetime | None = None,
) -> int:
    """End every open session of a user (or of one of their devices), except ``keep``.

    One UPDATE statement, so a concurrent sign-out and revoke cannot leave half of them open.
    """
    stmt = update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    if device_id is not None:
        stmt = stmt.where(UserSession.device_id == device_id)
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    result = db.session.execute(
        stmt.values(
            ended_at=now or utcnow(),
            end_reason=reason.value,
            ended_by_id=by.id if by else None,
        ).execution_options(synchronize_session="fetch")
    )
    return result.rowcount or 0


def active_sessions(user_id: uuid.UUID, now: datetime | None = None) -> list[UserSession]:
    """A user's open, unexpired sessions with their devices, newest first (one query)."""
    now = now or utcnow()
    return list(
        db.session.execute(
            select(UserSession)
            .options(joinedload(UserSession.device))
            .where(UserSession.user_id == user_id, UserSession.active_at(now))
            .order_by(UserSession.created_at.desc())
        ).scalars()
    )


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


def hold_write_lock(table) -> None:
    """On SQLite, take the database's write lock now, for the rest of the transaction.

    SQLite has no row locks and ignores ``FOR UPDATE``; a write that changes nothing is how a
    transaction queues behind other writers before it reads, so what it reads stays current.
    PostgreSQL needs nothing here: callers lock rows with ``SELECT ... FOR UPDATE``.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(update(table).where(table.c.id.is_(None)).values(id=table.c.id))


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
    hold_write_lock(UserSession.__table__)
    found = db.session.execute(
        select(UserSession)
        .where(UserSession.id == sid, UserSession.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    return found if found is not None and found.is_active(now) else None


def extend_session(session: UserSession, policy: SessionPolicy, now: datetime | None = None):
    """Slide the expiry forward by one lifetime, never past the absolute cap."""
    now = now or utcnow()
    session.expires_at = min(now + policy.lifetime, session.absolute_expires_at)
    session.last_used_at = now
    db.session.flush()
    return session.expires_at


def bearer_session(
    user: User,
    *,
    client_id: str,
    token_id: str,
    token_expires_at: datetime,
    client: ClientInfo,
    policy: SessionPolicy,
    geoip_database: str | None,
    now: datetime | None = None,
) -> UserSession:
    """The session standing for one bearer token (keyed by its ``jti``), made on first use.

    The API client is a device of its own, so a revoked token stops working and shows up in
    the same lists as browsers do.
    """
    now = now or utcnow()
    found = db.session.execute(
        select(UserSession)
        .options(joinedload(UserSession.device))
        .where(UserSession.token_id == token_id)
    ).scalar_one_or_none()
    if found is not None:
        return found
    where = geo.locate(client.ip_address, geoip_database)
    fingerprint = hashlib.sha256(f"api-client:{user.issuer}:{client_id}".encode()).hexdigest()
    try:
        device = _find_or_make_device(user, fingerprint, kind="api_client")
        if not device.name:
            device.name = f"API client {client_id}"[:64]
        _refresh_device(device, client, where, now)
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
        db.session.flush()
    except IntegrityError:
        # A parallel request with the same new token got there first. Authentication runs
        # before anything else in the request, so rolling back loses nothing; use its rows.
        db.session.rollback()
        return db.session.execute(
            select(UserSession).where(UserSession.token_id == token_id)
        ).scalar_one()
    return session
