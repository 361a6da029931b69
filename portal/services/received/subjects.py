"""Whom a SET's subject (RFC 9493) names: a user by ``iss_sub`` or ``email``, and with a
``complex`` subject also the IdP session (``session``, an ``opaque`` id: the ``sid`` the
portal stored at sign-in). ``aliases`` are tried in turn. Anything else names nobody."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ...extensions import db
from ...models import User


@dataclass(frozen=True)
class Named:
    """Who a subject names: the user (None when the portal knows nobody by it) and the IdP
    session id when it names one."""

    user: User | None
    sid: str | None
    described: str  # the subject in short, for the audit log
    names_user: bool = True  # False for a complex subject of an IdP session alone

    @property
    def anyone(self) -> bool:
        """Whether it names someone the portal knows: a known user, or an IdP session of
        nobody in particular (a subject naming a user the portal does not know names nobody,
        whatever session it adds)."""
        return self.user is not None or (bool(self.sid) and not self.names_user)


def _user(identifier: Any) -> tuple[User | None, str]:
    if not isinstance(identifier, dict):
        return None, "no subject"
    fmt = identifier.get("format")
    if fmt == "iss_sub":
        iss, sub = identifier.get("iss"), identifier.get("sub")
        if not (isinstance(iss, str) and isinstance(sub, str)):
            return None, "iss_sub without iss and sub"
        found = db.session.execute(
            select(User).where(User.issuer == iss, User.subject == sub)
        ).scalar_one_or_none()
        return found, f"iss_sub {sub[:100]}"
    if fmt == "email":
        email = identifier.get("email")
        if not isinstance(email, str):
            return None, "email without email"
        matches = (
            db.session.execute(select(User).where(User.email == email.strip().lower()).limit(2))
            .scalars()
            .all()
        )
        # Two issuers may know one address: the subject then names nobody for sure.
        return (matches[0] if len(matches) == 1 else None), f"email {email[:100]}"
    if fmt == "aliases":
        for one in identifier.get("identifiers") or []:
            user, described = _user(one)
            if user is not None:
                return user, described
        return None, "aliases"
    return None, f"format {str(fmt)[:40]}"


def named_by(subject: dict[str, Any] | None) -> Named:
    """The user and IdP session a subject identifier names."""
    if isinstance(subject, dict) and subject.get("format") == "complex":
        session = subject.get("session")
        sid = None
        if isinstance(session, dict) and session.get("format") == "opaque":
            sid = session.get("id") if isinstance(session.get("id"), str) else None
        user, described = _user(subject.get("user")) if "user" in subject else (None, "")
        if sid:
            described = f"{described}, session" if described else "session"
        return Named(user, sid, described or "complex", names_user="user" in subject)
    user, described = _user(subject)
    return Named(user, None, described)
