"""Users from identity-provider claims, and what they are allowed to do."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from ..config import PERMISSIONS
from ..extensions import db
from ..models import Grant, User


class UnknownPermission(ValueError):
    """A permission name that the portal does not define."""


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
    """Find the user by (issuer, sub) or create them; refresh email, name and groups."""
    subject = str(claims["sub"])
    user = db.session.execute(
        select(User).where(User.issuer == issuer, User.subject == subject)
    ).scalar_one_or_none()
    if user is None:
        user = User(issuer=issuer, subject=subject, groups=[])
        db.session.add(user)
    if claims.get("email"):
        user.email = str(claims["email"]).lower()
    name = claims.get("name") or " ".join(
        str(claims[k]) for k in ("given_name", "family_name") if claims.get(k)
    )
    if name:
        user.name = str(name)[:255]
    user.groups = groups_from_claims(claims, groups_claim)
    db.session.flush()
    return user


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
    mapped = {p for g in groups for p in group_permissions.get(g, ())}
    local = grants if grants is not None else (g.permission for g in user.grants)
    return frozenset(mapped | set(local))


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
