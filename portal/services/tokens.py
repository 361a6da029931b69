"""Personal API tokens: made on the tokens page, used as bearer tokens, ended like sessions.

A token is a session (``login_method`` bearer) of a device of its own, an "API client" named
after the token: it shows up wherever sessions and devices do, and every revoke that ends
sessions (the tokens page, the API, an admin, removing the device) ends it. The secret is
``dpt_`` and 43 URL-safe characters (``secrets.token_urlsafe(32)``: 256 bits); only its
SHA-256 is kept, and a request finds its token by that hash in one indexed statement.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Device, EndReason, LoginMethod, PersonalToken, User, UserSession, utcnow
from ..models.types import fit
from . import common
from .devices import places, versions
from .errors import Conflict, Invalid
from .sessions import ending, opening, policy
from .sessions.policy import grant_list, grants_column
from .users.groups import effective_groups, scim_groups_column

PREFIX = "dpt_"
SCOPES = ("devices:read", "devices:write", "audit:read")
# The scope only holders of viewAuditLog may put on a token.
AUDIT_SCOPE = "audit:read"
MIN_DAYS, MAX_DAYS = 1, 365
# A token remembers this many addresses it was used from (each new one is audited).
SEEN_ADDRESSES_KEPT = 100
# Last-used time is written at most this often, unless the address or User-Agent changes.
TOUCH_INTERVAL = policy.TOUCH_INTERVAL


class InvalidTokenRequest(Invalid):
    """A token that cannot be made as asked (name, scopes or lifetime); the message says why."""


class TokenNameTaken(Conflict):
    """The user has a token of this name that still works."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"You already have a token named {name!r}. Choose another name, or revoke that "
            "token first."
        )


def is_personal_token(raw: str) -> bool:
    return raw.startswith(PREFIX)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def check_request(name: str, scopes: list[str], days: int, may_read_audit: bool) -> None:
    """Raise ``InvalidTokenRequest`` unless a token can be made with these."""
    if not name or len(name) > 64 or not name.isprintable():
        raise InvalidTokenRequest("A token name must be 1 to 64 printable characters.")
    if not scopes:
        raise InvalidTokenRequest("Choose at least one scope.")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidTokenRequest(f"Unknown scope {unknown[0]!r}.")
    if AUDIT_SCOPE in scopes and not may_read_audit:
        raise InvalidTokenRequest("Only holders of viewAuditLog may give a token audit:read.")
    if not (MIN_DAYS <= days <= MAX_DAYS):
        raise InvalidTokenRequest(f"A token lives {MIN_DAYS} to {MAX_DAYS} days.")


def claim_name(user_id: uuid.UUID, name: str, now: datetime) -> None:
    """Make ``name`` free for a new token of the user, or raise ``TokenNameTaken``.

    The name is the user's while a token of that name works (``is_active``). A token of it that
    ran out unseen and was never ended yet ends first, as ``expired`` at the moment it ran
    out (as on its next use or the prune): its name is then free, as a revoked token's is.
    The caller holds the user's row (``common.lock_account``), so two makes of one name run one
    after the other; the index on open names (``ux_personal_tokens_user_name_open``) is the
    database's own guard.
    """
    open_tokens = list(
        db.session.execute(
            select(PersonalToken)
            .options(joinedload(PersonalToken.session, innerjoin=True))
            .where(
                PersonalToken.user_id == user_id,
                PersonalToken.name == name,
                PersonalToken.ended_at.is_(None),  # as the index reads "open"
            )
        ).scalars()
    )
    if any(token.session.is_active(now) for token in open_tokens):
        raise TokenNameTaken(name)
    for token in open_tokens:  # over, never ended
        ending.end_session(
            token.session, EndReason.EXPIRED, by=None, now=min(token.session.expires_at, now)
        )
    if open_tokens:
        db.session.flush()


def create(
    user: User, *, name: str, scopes: list[str], days: int, now: datetime | None = None
) -> tuple[PersonalToken, str]:
    """A new token, its session and its API-client device; returns the token and its secret
    (shown once, never stored)."""
    now = now or utcnow()
    secret = new_secret()
    token_id = uuid.uuid4()
    expires = now + timedelta(days=days)
    device = Device(
        id=uuid.uuid4(),
        user_id=user.id,
        fingerprint=hashlib.sha256(f"personal-token:{token_id}".encode()).hexdigest(),
        kind="api_client",
        name=fit(Device.name, f"API client: {name}"),
        device_type="DESKTOP",
        first_seen_at=now,
        last_seen_at=now,
    )
    session = UserSession(
        id=uuid.uuid4(),
        user_id=user.id,
        device=device,
        login_method=LoginMethod.BEARER.value,
        created_at=now,
        last_used_at=now,
        expires_at=expires,
        absolute_expires_at=expires,
    )
    token = PersonalToken(
        id=token_id,
        user_id=user.id,
        session=session,
        name=name,
        secret_hash=secret_hash(secret),
        hint=secret[: len(PREFIX) + 4],
        scopes=[s for s in SCOPES if s in scopes],
        created_at=now,
        expires_at=expires,
        seen_addresses=[],
    )
    versions.bump_loaded(user)
    db.session.add_all([device, session, token])
    db.session.flush()
    return token, secret


# Built once: a token's request reads its token, session, user, device and grants in one row.
_TOKEN_BY_HASH = (
    select(
        PersonalToken,
        UserSession,
        grants_column(UserSession.user_id),
        scim_groups_column(UserSession.user_id),
    )
    .join(UserSession, UserSession.id == PersonalToken.session_id)
    # Inner joins: a token whose owner or device is gone (SQLite keeps orphans) is unknown.
    .options(
        joinedload(UserSession.user, innerjoin=True),
        joinedload(UserSession.device, innerjoin=True),
    )
    .where(PersonalToken.secret_hash == bindparam("key"))
)


@dataclass(frozen=True)
class FoundToken:
    token: PersonalToken
    session: UserSession
    grants: list[str]
    groups: list[str]  # those the owner's permissions come from (``users.groups``)


def find(secret: str) -> FoundToken | None:
    """The token with this secret, its session (user and device loaded) and the owner's grants,
    in one statement; None for an unknown secret."""
    if not is_personal_token(secret) or len(secret) > 200:
        return None
    key = secret_hash(secret)
    row = db.session.execute(_TOKEN_BY_HASH, {"key": key}).one_or_none()
    if row is None:
        return None
    token, session, grants, scim_groups = row
    if not hmac.compare_digest(token.secret_hash, key):
        return None
    groups = effective_groups(session.user.groups, scim_groups)
    return FoundToken(token, session, grant_list(grants), groups)


def note_use(
    token: PersonalToken,
    client: opening.ClientInfo,
    geoip_database: str | None,
    now: datetime | None = None,
) -> bool:
    """Record that the token was used now, from there: its last use (at most once a minute
    unless the address or User-Agent changed) and its device's description. Returns True when
    the address is one the token was never used from (the caller audits that)."""
    now = now or utcnow()
    address = fit(PersonalToken.last_used_ip, client.ip_address)
    user_agent = fit(Device.user_agent, client.user_agent)
    new_address = address is not None and address not in (token.seen_addresses or [])
    changed = address != token.last_used_ip or user_agent != token.last_used_user_agent
    stale = token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL
    if not (new_address or changed or stale):
        return False
    token.last_used_at = now
    token.last_used_ip = address
    token.last_used_user_agent = user_agent
    if new_address and address is not None:  # (a new address is never None)
        token.seen_addresses = [*(token.seen_addresses or []), address][-SEEN_ADDRESSES_KEPT:]
    if changed or new_address:
        _describe_device(token.session, client, geoip_database, now)
    return new_address


def _describe_device(
    session: UserSession, client: opening.ClientInfo, geoip_database: str | None, now: datetime
) -> None:
    """The token's device and session as the client using it now describes them (the device
    as every sign-in refreshes one)."""
    where = places.locate(client.ip_address, geoip_database)
    versions.bump_loaded(session.user)
    opening.refresh_device(session.device, client, where, now)
    session.ip_address = fit(UserSession.ip_address, client.ip_address)
    session.country_code = fit(UserSession.country_code, where.country_code)
    session.country = fit(UserSession.country, where.country)
    session.city = fit(UserSession.city, where.city)


def list_tokens(user_id: uuid.UUID) -> list[PersonalToken]:
    """A user's tokens with their sessions, newest first (one query)."""
    return list(
        db.session.execute(
            select(PersonalToken)
            .options(joinedload(PersonalToken.session))
            .where(PersonalToken.user_id == user_id)
            .order_by(PersonalToken.created_at.desc())
        ).scalars()
    )


def lock_token_of_user(user_id: uuid.UUID, token_id: str) -> PersonalToken | None:
    """One of the user's tokens, its account locked until commit; anyone else's is not found."""
    if common.parse_id(token_id) is None:
        return None
    common.lock_account(user_id)
    return token_of_user(user_id, token_id)


def token_of_user(user_id: uuid.UUID, token_id: str) -> PersonalToken | None:
    """One of the user's tokens (with its session); anyone else's is not found."""
    tid = common.parse_id(token_id)
    if tid is None:
        return None
    return db.session.execute(
        select(PersonalToken)
        .options(joinedload(PersonalToken.session))
        .where(PersonalToken.id == tid, PersonalToken.user_id == user_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def is_active(token: PersonalToken, now: datetime | None = None) -> bool:
    return token.session is not None and token.session.is_active(now)
