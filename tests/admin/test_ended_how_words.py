"""Who ended a session, in words true for the reader: the admin pages and the CSV say
"Revoked by the user" when the user ended it themself and name the admin who revoked it;
only the owner reads "Revoked by you", for what they ended themself."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from support.admin_helpers import make_user, sign_in_at, user_id_of

from portal.extensions import db
from portal.models import EndReason, User, utcnow
from portal.services.sessions import ending


def _ended_sessions(app, auth):
    """Bob with two ended sessions: one he revoked himself, one Ada Admin revoked."""
    auth.new_client("admin")
    with app.app_context():
        bob = make_user("bob-words", email="bob-words@example.test", name="Bob Words")
        admin = db.session.get(User, user_id_of(app, "admin"))
        own, _ = sign_in_at(app, bob, utcnow() - timedelta(hours=3))
        by_admin, _ = sign_in_at(app, bob, utcnow() - timedelta(hours=2))
        ending.end_session(own, EndReason.REVOKED, by=bob)
        ending.end_session(by_admin, EndReason.REVOKED_BY_ADMIN, by=admin)
        db.session.commit()
        return bob.id, own.id, by_admin.id


def _status(page: str, session_id) -> str:
    row = page.split(f'data-session-id="{session_id}"', 1)[1].split("</tr>", 1)[0]
    return row.split('class="status">', 1)[1]


def test_an_admin_page_says_who_revoked_each_session_not_revoked_by_you(app, auth):
    bob, own, by_admin = _ended_sessions(app, auth)
    page = auth.new_client("viewer").get(f"/admin/users/{bob}").get_data(as_text=True)
    assert "Revoked by you" not in page
    assert _status(page, own).startswith("Revoked by the user")
    assert _status(page, by_admin).startswith("Revoked by an admin, Ada Admin")


def test_the_admin_who_revoked_a_session_reads_the_same_words_as_anyone(app, auth):
    bob, own, by_admin = _ended_sessions(app, auth)
    page = auth.new_client("admin").get(f"/admin/users/{bob}").get_data(as_text=True)
    assert "Revoked by you" not in page
    assert _status(page, own).startswith("Revoked by the user")
    assert _status(page, by_admin).startswith("Revoked by an admin, Ada Admin")


def test_the_csv_export_says_who_revoked_each_session(app, auth):
    bob, own, by_admin = _ended_sessions(app, auth)
    response = auth.new_client("viewer").get(f"/admin/users/{bob}/devices.csv")
    rows = {
        r["session_id"]: r for r in csv.DictReader(io.StringIO(response.get_data(as_text=True)))
    }
    assert rows[str(own)]["ended_how"] == "Revoked by the user"
    assert rows[str(by_admin)]["ended_how"] == "Revoked by an admin, Ada Admin"
