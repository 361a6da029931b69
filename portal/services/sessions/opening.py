"""Opening sessions: a sign-in's device (found by its cookie's fingerprint or made) and its
session, and a bearer token's session (found, or opened on its first use)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from ...extensions import db
from ...models import (
    Device,
    LoginMethod,
    User,
    UserSession,
    utcnow,
)
from ...models.types import fit
from ..devices import flags, places, versions
from ..devices.useragent import describe
from ..errors import Forbidden
from .policy import SessionPolicy, idp_sid_key, token_key


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


def refresh_device(
    device: Device, client: ClientInfo, where: places.Location, now: datetime
) -> None:
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


# Each dialect's INSERT with its own ON CONFLICT (both have ``on_conflict_do_nothing``).
_INSERT: dict[str, Callable[[type[Any]], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def insert_unless_present(
    model: type[Any],
    index_elements: list[str],
    index_where: ColumnElement[bool] | None = None,
    **values: Any,
) -> None:
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
    where: places.Location,
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
    session.sign_in_flags = flags.new_sign_in_flags(session, earlier)
    db.session.add(session)
    user.last_seen_at = now
    user.last_ip = fit(User.last_ip, client.ip_address)
    user.last_country_code = fit(User.last_country_code, where.country_code)
    user.last_city = fit(User.last_city, where.city)
    versions.bump_loaded(user)
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
                UserSession.created_at >= now - flags.NEW_COUNTRY_LOOKBACK,
                UserSession.created_at <= now,
            )
        )
    )


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
        if known or not device_secret or fingerprint is None:
            device_secret, fingerprint = new_device_secret()
        device = _make_device(user, fingerprint, kind="browser")
    assert device_secret is not None  # a live device is found only by the browser's secret
    where = places.locate(client.ip_address, geoip_database)
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
) -> tuple[UserSession | None, bool]:
    """The session standing for one bearer token (keyed by its ``jti``), made on first use.

    Returns the session and whether this use made it (no session when a parallel first use
    won the race and its session cannot be read). The API client is a device of its own,
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
    where = places.locate(client.ip_address, geoip_database)
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
