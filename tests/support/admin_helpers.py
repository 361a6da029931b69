"""Builders for the admin tests: users and sign-in histories made through the real services."""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import event, select

from portal.extensions import db
from portal.models import User, UserSession, utcnow
from portal.services.sessions import opening, policy
from support.account_helpers import audit_actions  # noqa: F401  (re-exported)

LONDON = "81.2.69.142"  # GB, London
BOXFORD = "2.125.160.216"  # GB, Boxford (about 80 km from London)
MILTON = "216.160.83.56"  # US, Milton (Washington state)
LINKOPING = "89.160.20.112"  # SE, Linköping
CHANGCHUN = "175.16.199.0"  # CN, Changchun
BHUTAN = "67.43.156.0"  # BT, no city

FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"

LONG = policy.SessionPolicy(timedelta(days=3650), timedelta(days=3650), timedelta(days=3650))


def make_user(sub: str, *, email: str | None = None, name: str | None = None, **fields) -> User:
    """A user row as a sign-in would have made it (no IdP involved); flushed, not committed."""
    user = User(
        issuer="https://idp.test",
        subject=sub,
        email=email if email is not None else f"{sub}@example.test",
        name=name,
        groups=[],
        **fields,
    )
    db.session.add(user)
    db.session.flush()
    return user


def sign_in_at(
    app,
    user: User,
    when: datetime,
    ip: str | None = LONDON,
    *,
    user_agent: str = FIREFOX,
    device_secret: str | None = None,
) -> tuple[UserSession, str]:
    """A sign-in of ``user`` at ``when`` from ``ip`` (located with the test GeoIP database)."""
    return opening.record_sign_in(
        user,
        device_secret=device_secret,
        client=opening.ClientInfo(ip_address=ip, user_agent=user_agent),
        policy=LONG,
        geoip_database=app.config["GEOIP_DATABASE"],
        now=when,
    )


def history(app, user: User, steps: list[tuple[timedelta, str | None]]) -> list[UserSession]:
    """Sign-ins ``ago`` before now from each ip, oldest first, all on one browser."""
    now = utcnow()
    secret = None
    made = []
    for ago, ip in steps:
        session, secret = sign_in_at(app, user, now - ago, ip, device_secret=secret)
        made.append(session)
    return made


def user_id_of(app, login: str) -> uuid.UUID:
    with app.app_context():
        return db.session.execute(select(User.id).where(User.subject == login)).scalar_one()


def active_session_ids(app, login: str) -> list[uuid.UUID]:
    with app.app_context():
        return list(
            db.session.execute(
                select(UserSession.id)
                .join(User, User.id == UserSession.user_id)
                .where(User.subject == login, UserSession.ended_at.is_(None))
                .order_by(UserSession.created_at)
            ).scalars()
        )


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, url: str = "/") -> str:
    """The CSRF token of ``client``'s session, read from a page's form as a browser would."""
    page = client.get(url)
    match = _CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({page.status_code})"
    return match.group(1)


@contextmanager
def counting_queries(app):
    """Count the SQL statements run inside the block: ``with counting_queries(app) as n: ...``."""
    counter = {"n": 0}

    def count(*args, **kwargs):
        counter["n"] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", count)


def backdate_latest_event(when) -> None:
    """Move the audit event just recorded to ``when``, for a history spread over days.

    ``audit.record.record`` inserts at once with the current time; the log's own code never changes
    a row (the ORM refuses), so this test-only UPDATE goes through Core.
    """
    from sqlalchemy import func, select, update

    from portal.extensions import db
    from portal.models import AuditEvent

    latest = select(func.max(AuditEvent.id)).scalar_subquery()
    db.session.execute(update(AuditEvent).where(AuditEvent.id == latest).values(occurred_at=when))
