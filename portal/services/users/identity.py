"""Users from identity-provider claims, and what they are allowed to do."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import QueryableAttribute

from ...config import PERMISSIONS
from ...extensions import db
from ...models import Grant, User
from ...models.types import bounded_length, fit, without_control_characters
from ..common import lock_account
from ..errors import Invalid
from ..sessions.opening import insert_unless_present


class UnknownPermission(Invalid):
    """A permission name that the portal does not define."""


class UnusableIdentity(Invalid):
    """Claims naming nobody the portal can store: a subject or issuer that is not a string
    of at most 255 characters without control characters (OIDC Core 2 caps ``sub`` there)."""


def _identifier(attribute: QueryableAttribute[str | None], value: object, what: str) -> str:
    """An identity key exactly as given, or ``UnusableIdentity``: never cut (a cut subject
    could name somebody else)."""
    if (
        not isinstance(value, str)
        or not value
        or len(value) > bounded_length(attribute)
        or without_control_characters(value) != value
    ):
        raise UnusableIdentity(f"the {what} is not a string of 1 to 255 printable characters")
    return value


def _email(value: object) -> str | None:
    """An email claim fit to keep, or None: one too long for any mailbox (or for its column)
    or with control characters is left out rather than cut into somebody else's address."""
    email = str(value).strip().lower() if value else ""
    if not email or len(email) > bounded_length(User.email):
        return None
    return email if without_control_characters(email) == email else None


def groups_from_claims(claims: Mapping[str, Any], claim_name: str) -> list[str]:
    """The groups (or roles) claim as a list of strings, whatever shape the IdP sends.

    ``claim_name`` may be a dotted path (``realm_access.roles`` in Keycloak tokens).
    """
    value: Any = claims
    for part in claim_name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return sorted({str(v) for v in value})
    return []


def upsert_user(issuer: str, claims: Mapping[str, Any], groups_claim: str) -> User:
    """Find the user by (issuer, sub) or create them; refresh email, name and groups.

    Parallel first uses of one new subject (a token used six times at once, several browsers
    finishing sign-in) make one user: the insert does nothing when another one got there
    first, and the user is read again. Raises ``UnusableIdentity`` for a subject or issuer
    that cannot be stored as it is.
    """
    issuer = _identifier(User.issuer, issuer, "issuer")
    subject = _identifier(User.subject, claims.get("sub"), "subject (sub)")
    email = _email(claims.get("email"))
    find = select(User).where(User.issuer == issuer, User.subject == subject)
    user = db.session.execute(find).scalar_one_or_none()
    if user is None and _link_provisioned(issuer, subject, email, claims):
        user = db.session.execute(find.execution_options(populate_existing=True)).scalar_one()
    if user is None:
        insert_unless_present(
            User, ["issuer", "subject"], id=uuid.uuid4(), issuer=issuer, subject=subject, groups=[]
        )
        user = db.session.execute(find).scalar_one()
    if email:
        user.email = email
    name = claims.get("name") or " ".join(
        str(claims[k]) for k in ("given_name", "family_name") if claims.get(k)
    )
    name = fit(User.name, name).strip() if name else None
    if name:
        user.name = name
    user.groups = groups_from_claims(claims, groups_claim)
    db.session.flush()
    return user


def _link_provisioned(
    issuer: str, subject: str, email: str | None, claims: Mapping[str, Any]
) -> bool:
    """Make a user provisioned over SCIM (no subject yet) this identity, on its first sign-in.

    The provisioned user matches by ``externalId`` equal to the subject, or by email (stored
    in lower case, as the claim is compared) unless the IdP says the email is unverified.
    Parallel first sign-ins take the provisioned row's lock in turn: the first links it, the
    others find it linked to them already. True when a user now has this identity.
    """
    by_email = email if email and claims.get("email_verified") is not False else None
    matches = [User.scim_external_id == subject]
    if by_email:
        matches.append(User.email == by_email)
    found = db.session.execute(
        select(User.id, User.scim_external_id)
        .where(User.subject.is_(None), User.scim_user_name_key.is_not(None), or_(*matches))
        .order_by(User.created_at)
    ).all()
    if not found:
        return False
    # A match by externalId names this very subject: it goes before a match by email.
    candidates = sorted(found, key=lambda row: row.scim_external_id != subject)
    mine = select(User.id).where(User.issuer == issuer, User.subject == subject)
    for row in candidates:
        # Parallel first sign-ins queue here (the row's lock on PostgreSQL, the write lock on
        # SQLite); each then sees what the one before it linked.
        lock_account(row.id)
        if db.session.execute(mine).first() is not None:
            return True
        # An UPDATE's result is a cursor result (with its row count); execute() does not say so.
        linked = cast(
            CursorResult[Any],
            db.session.execute(
                update(User)
                .where(User.id == row.id, User.subject.is_(None))
                .values(issuer=issuer, subject=subject)
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
        if linked:
            return True
    return False


def permissions_for(
    user: User,
    groups: Iterable[str],
    group_permissions: Mapping[str, list[str]],
    grants: Iterable[str] | None = None,
) -> frozenset[str]:
    """Union of the permissions mapped from ``groups`` and the user's local grants.

    ``grants`` are the grants' permission names when the caller already read them (the
    principal's one query does); otherwise they are loaded from ``user.grants``.
    """
    local = grants if grants is not None else [g.permission for g in user.grants]
    return mapped_permissions(groups, group_permissions, local)


def mapped_permissions(
    groups: Iterable[str], group_permissions: Mapping[str, list[str]], grants: Iterable[str]
) -> frozenset[str]:
    """Union of the permissions mapped from ``groups`` and the local ``grants``."""
    return frozenset({p for g in groups for p in group_permissions.get(g, ())}.union(grants))


def find_user_by_email(email: str) -> User | None:
    return db.session.execute(
        select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()


def check_permission_name(permission: str) -> str:
    if permission not in PERMISSIONS:
        raise UnknownPermission(
            f"unknown permission {permission!r}; known: {', '.join(PERMISSIONS)}"
        )
    return permission


def grant(user: User, permission: str, granted_by: str | None = None) -> bool:
    """Give ``permission`` to ``user``; False when they already had it."""
    check_permission_name(permission)
    if any(g.permission == permission for g in user.grants):
        return False
    user.grants.append(Grant(permission=permission, granted_by=granted_by))
    db.session.flush()
    return True


def revoke_grant(user: User, permission: str) -> bool:
    """Take a local grant away; False when there was none."""
    check_permission_name(permission)
    for g in list(user.grants):
        if g.permission == permission:
            user.grants.remove(g)
            db.session.flush()
            return True
    return False
