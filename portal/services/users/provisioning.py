"""Users as the identity provider's SCIM client manages them, and deactivated accounts.

A user the IdP provisions before their first sign-in is a row without (issuer, subject);
``users.identity.upsert_user`` links the first sign-in to it. Deactivating an account ends every
session and token at once, and the principal resolvers refuse the account on every request
until it is reactivated. Nothing here audits or commits (``operations`` does the one, the
request the other).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from ...extensions import db
from ...models import EndReason, User, utcnow
from ...models.types import bounded_length, fit, without_control_characters
from .. import common
from ..errors import Conflict, Invalid
from ..sessions import ending
from .identity import _email


class InvalidProvisioning(Invalid):
    """A value the IdP sent that no user can carry (too long, control characters...)."""


class UserNameTaken(Conflict):
    """Another user the IdP provisioned has this userName (compared case-insensitively)."""

    default_message = "Another user has this userName"


class ExternalIdTaken(Conflict):
    """Another user the IdP provisioned has this externalId."""

    default_message = "Another user has this externalId"


class EmailTaken(Conflict):
    """Another user the IdP provisioned has this email address: a first sign-in by email must
    link to one user only."""

    default_message = "Another user has this email address"


@dataclass(frozen=True)
class Provisioned:
    """What the IdP says about a user: the attributes the portal keeps."""

    user_name: str
    external_id: str | None
    email: str | None
    name: str | None
    active: bool
    # The rest of the SCIM resource, kept as sent and returned as is (``User.scim_resource``);
    # None leaves what is kept unchanged.
    resource: Mapping[str, Any] | None = field(default=None, compare=False)


def user_name_key(user_name: str) -> str:
    """How userName is compared and kept unique: case-insensitively (RFC 7643 4.1.1)."""
    return user_name.lower()


def _checked(fields: Provisioned) -> Provisioned:
    """The fields as stored, or ``InvalidProvisioning``: identifiers are never cut."""
    user_name = fields.user_name.strip() if isinstance(fields.user_name, str) else ""
    if (
        not user_name
        or len(user_name) > bounded_length(User.scim_user_name)
        or without_control_characters(user_name) != user_name
    ):
        raise InvalidProvisioning("userName must be 1 to 320 printable characters")
    external_id = fields.external_id
    if external_id is not None and (
        not external_id
        or len(external_id) > bounded_length(User.scim_external_id)
        or without_control_characters(external_id) != external_id
    ):
        raise InvalidProvisioning("externalId must be 1 to 255 printable characters")
    email = _email(fields.email) if fields.email else None
    if fields.email and email is None:
        raise InvalidProvisioning("the email address is too long or has control characters")
    if email is None and "@" in user_name:
        email = _email(user_name)
    name = fit(User.name, without_control_characters(fields.name).strip()) if fields.name else None
    return Provisioned(
        user_name, external_id, email, name or None, bool(fields.active), fields.resource
    )


def visible() -> ColumnElement[bool]:
    """The users SCIM sees: those it provisioned (or adopted) and has not deleted."""
    return (User.scim_user_name_key.is_not(None)) & (User.scim_deleted_at.is_(None))


def get_visible(user_id: str | uuid.UUID, *, lock: bool = False) -> User | None:
    """A user SCIM sees, by id; None when unknown, malformed or deleted over SCIM. With
    ``lock``, the user's row is locked until commit first (``common.lock_account``)."""
    key = common.parse_id(user_id)
    if key is None:
        return None
    if lock:
        common.lock_account(key)
    return db.session.execute(
        select(User).where(User.id == key, visible()).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def display_name_of(user_id: object) -> str | None:
    """What SCIM calls the user an id names (the enterprise extension's manager), when SCIM
    sees them; None otherwise."""
    key = common.parse_id(user_id) if isinstance(user_id, str) else None
    if key is None:
        return None
    row = db.session.execute(
        select(User.scim_resource, User.name).where(User.id == key, visible())
    ).first()
    if row is None:
        return None
    kept = row.scim_resource or {}
    shown = kept.get("displayName") if isinstance(kept, dict) else None
    return shown if isinstance(shown, str) and shown else row.name


def search(condition: ColumnElement[bool], *, offset: int, limit: int) -> tuple[int, list[User]]:
    """The visible users matching ``condition``: how many, and one page in creation order."""
    where = visible() & condition
    total = db.session.execute(select(func.count()).select_from(User).where(where)).scalar_one()
    if limit <= 0:
        return total, []
    page = db.session.execute(
        select(User).where(where).order_by(User.created_at, User.id).offset(offset).limit(limit)
    ).scalars()
    return total, list(page)


def _user_to_provision(fields: Provisioned, now: datetime) -> tuple[User, bool]:
    """The row a SCIM creation describes, and whether it is new.

    A user SCIM deleted comes back under its userName; a user who signed in before the IdP
    provisioned them is adopted (by email, or by a subject equal to ``externalId``), so the
    person stays one user with one history. ``UserNameTaken`` when SCIM already has the name.
    """
    key = user_name_key(fields.user_name)
    known = db.session.execute(
        select(User).where(User.scim_user_name_key == key)
    ).scalar_one_or_none()
    if known is not None:
        if known.scim_deleted_at is None:
            raise UserNameTaken(fields.user_name)
        known.scim_deleted_at = None
        return known, False
    matches = []
    if fields.email:
        matches.append(User.email == fields.email)
    if fields.external_id:
        matches.append(User.subject == fields.external_id)
    if matches:
        adopted = (
            db.session.execute(
                select(User)
                .where(User.scim_user_name_key.is_(None), or_(*matches))
                .order_by(User.last_seen_at.desc().nulls_last(), User.created_at)
                .limit(1)
            )
            .scalars()
            .first()
        )
        if adopted is not None:
            return adopted, False
    user = User(id=uuid.uuid4(), issuer=None, subject=None, groups=[], created_at=now)
    db.session.add(user)
    return user, True


def _claimed(user: User, fields: Provisioned) -> None:
    """``ExternalIdTaken`` or ``EmailTaken`` when another user SCIM sees has the externalId or
    the email these fields give the user (the unique indexes stop a parallel request)."""
    for column, value, taken in (
        (User.scim_external_id, fields.external_id, ExternalIdTaken),
        (User.scim_email, fields.email, EmailTaken),
    ):
        if value is None:
            continue
        with db.session.no_autoflush:  # the user's own pending change is not flushed yet
            other = db.session.execute(
                select(User.id).where(visible(), column == value, User.id != user.id).limit(1)
            ).first()
        if other is not None:
            raise taken()


# Attributes of the kept resource that the audit names as the column they fill.
_AUDIT_LABELS = {"displayName": "name"}


def _changed_attributes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """The attributes of the kept resource that differ, by name."""
    old = old or {}
    keys = (key for key in set(old) | set(new) if old.get(key) != new.get(key))
    return sorted({_AUDIT_LABELS.get(key, key) for key in keys})


def _store(user: User, fields: Provisioned, now: datetime) -> list[str]:
    """Write the fields on the user; the names of the attributes that changed."""
    _claimed(user, fields)
    changed = []
    values = {
        "userName": ("scim_user_name", fields.user_name),
        "externalId": ("scim_external_id", fields.external_id),
    }
    if fields.email:
        values["emails"] = ("email", fields.email)
    if fields.name:
        values["name"] = ("name", fields.name)
    for label, (attribute, value) in values.items():
        if getattr(user, attribute) != value:
            setattr(user, attribute, value)
            changed.append(label)
    if fields.resource is not None:
        kept = dict(fields.resource)
        changed.extend(a for a in _changed_attributes(user.scim_resource, kept) if a not in changed)
        user.scim_resource = kept
    user.scim_email = fields.email
    user.scim_user_name_key = user_name_key(fields.user_name)
    user.scim_modified_at = now
    try:
        with db.session.begin_nested():  # a parallel request may take the name first
            db.session.flush()
    except IntegrityError:
        raise Conflict("Another user has this userName, externalId or email address") from None
    return changed


def provision(fields: Provisioned, now: datetime | None = None) -> tuple[User, bool, list[str]]:
    """Create (or adopt, or bring back) the user a SCIM creation describes. Returns the user,
    whether the row is new, and the attributes that changed; ``active`` is left to the caller."""
    now = now or utcnow()
    fields = _checked(fields)
    user, new = _user_to_provision(fields, now)
    changed = _store(user, fields, now)
    return user, new, changed


def replace(user: User, fields: Provisioned, now: datetime | None = None) -> list[str]:
    """Write a SCIM replacement (PUT, or a PATCH already applied) on the user; the attributes
    that changed. ``active`` is left to the caller. ``UserNameTaken`` when the new userName is
    another user's."""
    now = now or utcnow()
    return _store(user, _checked(fields), now)


def checked(fields: Provisioned) -> Provisioned:
    """The fields as they would be stored (``InvalidProvisioning`` when they cannot be)."""
    return _checked(fields)


def hide(user: User, now: datetime | None = None) -> None:
    """A SCIM DELETE: SCIM no longer sees the user (who stays, for the history)."""
    user.scim_deleted_at = now or utcnow()
    user.scim_modified_at = user.scim_deleted_at
    db.session.flush()


def deactivate(
    user: User, *, by: User | None, now: datetime | None = None, tell_idp: bool = True
) -> int | None:
    """Deactivate the account: every session and token of it ends at once (as revoked, so the
    next sign-in must give credentials at the IdP). Returns how many ended; None when the
    account was already deactivated. ``tell_idp=False`` when the IdP itself asked (SCIM)."""
    now = now or utcnow()
    common.lock_account(user.id)
    db.session.refresh(user, ["deactivated_at"])
    if user.deactivated_at is not None:
        return None
    user.deactivated_at = now
    user.scim_modified_at = now if user.scim_user_name_key else user.scim_modified_at
    db.session.flush()
    return ending.end_sessions(
        user_id=user.id, reason=EndReason.DEACTIVATED, by=by, now=now, tell_idp=tell_idp
    )


def reactivate(user: User, now: datetime | None = None) -> bool:
    """Let the account sign in again (nothing that ended comes back); False when it was not
    deactivated."""
    now = now or utcnow()
    common.lock_account(user.id)
    db.session.refresh(user, ["deactivated_at"])
    if user.deactivated_at is None:
        return False
    user.deactivated_at = None
    user.scim_modified_at = now if user.scim_user_name_key else user.scim_modified_at
    db.session.flush()
    return True
