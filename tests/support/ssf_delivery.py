"""What the delivery tests share: an admin ending a user's session as the pages do, the
outbox made due at once, a stream's row as the database holds it."""

from __future__ import annotations

from sqlalchemy import update

from portal.extensions import db
from portal.models import OutboxMessage, SsfStream, utcnow
from support.account_helpers import sessions_of
from support.admin_helpers import csrf_token, user_id_of


def admin_revokes(app, auth, login: str) -> None:
    """An admin revokes the user's one session from the user's page."""
    [session] = [s for s in sessions_of(app, login) if s.ended_at is None]
    admin = auth.new_client("admin")
    uid = user_id_of(app, login)
    form = {"csrf_token": csrf_token(admin, f"/admin/users/{uid}")}
    r = admin.post(f"/admin/users/{uid}/sessions/{session.id}/revoke", data=form)
    assert r.status_code == 302, r.data[:300]


def make_due(app) -> None:
    with app.app_context():
        db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        db.session.commit()


def stream_of(app, stream_id: str) -> SsfStream:
    with app.app_context():
        found = db.session.get(SsfStream, stream_id)
        db.session.expunge_all()
        return found
