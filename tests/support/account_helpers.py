"""Helpers for the self-service tests: CSRF tokens from real pages, rows from the database,
a signed-in ``requests`` session against the live server, and personal tokens made on their
page (``make_token``) used as bearer tokens (``bearer``)."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import requests
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Device, User, UserSession

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str | bytes) -> str:
    """The CSRF token a rendered page carries in its forms."""
    text = html.decode() if isinstance(html, bytes) else html
    match = _CSRF.search(text)
    assert match, "no CSRF token on the page"
    return match.group(1)


def page_csrf(client, path: str = "/") -> str:
    """Open ``path`` as that browser would and take the CSRF token from its forms."""
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return csrf_from(response.data)


def user_id(app, login: str):
    with app.app_context():
        return db.session.execute(select(User.id).where(User.subject == login)).scalar_one()


def devices_of(app, login: str, kind: str | None = "browser") -> list[Device]:
    """A user's devices (detached copies, read in their own app context), oldest first."""
    with app.app_context():
        stmt = (
            select(Device)
            .join(User, User.id == Device.user_id)
            .where(User.subject == login)
            .order_by(Device.first_seen_at)
        )
        if kind:
            stmt = stmt.where(Device.kind == kind)
        rows = list(db.session.execute(stmt).scalars())
        db.session.expunge_all()
        return rows


def device(app, device_id) -> Device:
    with app.app_context():
        found = db.session.get(Device, device_id)
        db.session.expunge_all()
        return found


def sessions_of(app, login: str, device_id=None) -> list[UserSession]:
    with app.app_context():
        stmt = (
            select(UserSession)
            .join(User, User.id == UserSession.user_id)
            .where(User.subject == login)
            .order_by(UserSession.created_at)
        )
        if device_id is not None:
            stmt = stmt.where(UserSession.device_id == device_id)
        rows = list(db.session.execute(stmt).scalars())
        db.session.expunge_all()
        return rows


def audit_actions(app, action: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        rows = list(db.session.execute(stmt).scalars())
        db.session.expunge_all()
        return rows


def current_session_of(client, app) -> UserSession:
    """The session row a signed-in test client's cookie stands for."""
    with client.session_transaction() as s:
        sid = s["_user_id"]
    with app.app_context():
        import uuid

        row = db.session.get(UserSession, uuid.UUID(sid))
        db.session.expunge_all()
        return row


def http_sign_in(live_server, idp, login: str) -> requests.Session:
    """A ``requests`` browser signed in to the live server through the real IdP."""
    http = requests.Session()
    start = http.get(live_server.url + "/login", allow_redirects=False, timeout=10)
    assert start.status_code == 302, start.text[:500]
    callback = idp.login_through(requests.Session(), start.headers["Location"], login)
    done = http.get(callback, allow_redirects=False, timeout=10)
    assert done.status_code == 302, done.text[:500]
    return http


def http_csrf(http: requests.Session, live_server, path: str = "/") -> str:
    return csrf_from(http.get(urljoin(live_server.url, path), timeout=10).text)


_SECRET = re.compile(r'id="token-secret">(dpt_[A-Za-z0-9_-]+)<')


def make_token(browser, name="script", scopes=("devices:read",), days=30, **kwargs) -> str:
    """Make a token on the page, as its user would; returns the secret it shows once."""
    data = {
        "csrf_token": page_csrf(browser, "/account/tokens"),
        "name": name,
        "scopes": list(scopes),
        "days": str(days),
    }
    response = browser.post("/account/tokens", data=data, **kwargs)
    assert response.status_code == 303, response.data[:2000]  # post, redirect, get
    response = browser.get(response.headers["Location"])
    assert response.status_code == 200, response.data[:2000]
    match = _SECRET.search(response.get_data(as_text=True))
    assert match, "the secret is not on the page"
    return match.group(1)


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}
