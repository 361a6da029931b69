"""Subjects of Shared Signals events (RFC 9493) as the streams compare them: one canonical
key per subject, so a subject a receiver removed from its stream is found again whatever the
order of its members or the case of an email's letters."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import func, select

from ...extensions import db
from ...models import User
from ..errors import Invalid

# A key longer than this is refused: it is the primary key of the removed-subject rows.
KEY_LIMIT = 1024
# RFC 9493's formats the portal can name a user by; any other well-formed one is compared as is.
USER_FORMATS = ("email", "iss_sub")


def _canonical(subject: dict[str, Any]) -> dict[str, Any]:
    """The subject with an email's letters lowered and a complex subject that names only a
    user reduced to that user (SSF 1.0 section 8.1.3.1: its other members are undefined, so
    it matches what the user alone matches)."""
    fmt = subject.get("format")
    if fmt == "email" and isinstance(subject.get("email"), str):
        return {"format": "email", "email": subject["email"].strip().lower()}
    if fmt == "complex" and set(subject) == {"format", "user"}:
        user = subject["user"]
        if isinstance(user, dict):
            return _canonical(user)
    return subject


def key_of(subject: Any) -> str:
    """The subject's canonical JSON, or Invalid when it is no RFC 9493 subject identifier."""
    if not isinstance(subject, dict) or not isinstance(subject.get("format"), str):
        raise Invalid(
            "subject must be a subject identifier: an object with a format", field="subject"
        )
    fmt = subject["format"]
    if fmt == "email" and not isinstance(subject.get("email"), str):
        raise Invalid("an email subject needs an email", field="subject")
    if fmt == "iss_sub" and not (
        isinstance(subject.get("iss"), str) and isinstance(subject.get("sub"), str)
    ):
        raise Invalid("an iss_sub subject needs iss and sub", field="subject")
    if fmt == "opaque" and not isinstance(subject.get("id"), str):
        raise Invalid("an opaque subject needs an id", field="subject")
    key = json.dumps(_canonical(subject), sort_keys=True, separators=(",", ":"))
    if len(key) > KEY_LIMIT:
        raise Invalid(f"subject is longer than {KEY_LIMIT} characters", field="subject")
    return key


def email_key(email: str) -> str:
    return key_of({"format": "email", "email": email})


def iss_sub_key(issuer: str, subject: str) -> str:
    return key_of({"format": "iss_sub", "iss": issuer, "sub": subject})


def user_keys(issuer: str | None, subject: str | None, email: str | None) -> list[str]:
    """Every key by which a receiver may have named this user (its email, its iss_sub)."""
    keys = []
    if email:
        keys.append(email_key(email))
    if issuer and subject:
        keys.append(iss_sub_key(issuer, subject))
    return keys


def user_named(subject: dict[str, Any]) -> uuid.UUID | None:
    """The portal's user the subject names (by email or iss_sub), if there is one; for the
    admin reading which subjects a receiver removed."""
    canonical = _canonical(subject)
    fmt = canonical.get("format")
    if fmt == "email":
        where = func.lower(User.email) == canonical["email"]
    elif fmt == "iss_sub":
        where = (User.issuer == canonical["iss"]) & (User.subject == canonical["sub"])
    else:
        return None
    return db.session.scalar(select(User.id).where(where).limit(1))
