"""The admin user page at a glance: a sign-in timeline of the last 30 days (server-drawn SVG:
a lane per device, a bar per session, flagged sign-ins marked), the flags' evidence in words,
and where the sign-ins came from; none of it costs a query of its own."""

from __future__ import annotations

import re
from datetime import timedelta

from support.admin_helpers import (
    CHANGCHUN,
    LINKOPING,
    LONDON,
    counting_queries,
    history,
    make_user,
)

from portal.extensions import db


def _traveller(app):
    """A laptop in London for weeks, then a sign-in from Linköping 40 minutes after London."""
    with app.app_context():
        user = make_user("tess", email="tess@example.test", name="Tess Traveller")
        history(
            app,
            user,
            [
                (timedelta(days=40), CHANGCHUN),  # began before the timeline, still open
                (timedelta(days=20), LONDON),
                (timedelta(hours=3), LONDON),
                (timedelta(hours=2, minutes=20), LINKOPING),
            ],
        )
        db.session.commit()
        return user.id


def test_the_timeline_draws_each_session_of_the_last_30_days_and_marks_flagged_ones(app, auth):
    tess = _traveller(app)
    page = auth.new_client("viewer").get(f"/admin/users/{tess}").get_data(as_text=True)
    svg = page.split('<svg class="timeline"', 1)[1].split("</svg>", 1)[0]
    # Every session open during the 30 days: the one from 40 days ago is still open (drawn
    # from the window's start), the other three began inside it.
    assert svg.count("data-session-bar") == 4
    # Flagged: London after Changchun (a new country), Linköping (new, and impossible travel).
    assert svg.count("data-flag-marker") == 2
    assert 'role="img"' in page.split('<svg class="timeline"', 1)[1][:200]
    assert "Sign-in timeline of Tess Traveller" in svg
    assert "style=" not in svg  # colours are attributes, which the CSP allows


def test_flags_show_their_evidence_in_words(app, auth):
    tess = _traveller(app)
    page = auth.new_client("viewer").get(f"/admin/users/{tess}").get_data(as_text=True)
    evidence = page.split('id="flag-evidence"', 1)[1].split("</ul>", 1)[0]
    assert re.search(r"London, GB → Linköping, SE: 1,\d{3} km in 40 min", evidence)
    assert "First sign-in from SE in 30 days" in evidence
    flags_cell = page.split('<small class="evidence">', 1)[1]
    assert flags_cell.startswith("First sign-in from SE") or flags_cell.startswith("London, GB")


def test_where_from_lists_places_with_counts_and_first_and_last_seen(app, auth):
    tess = _traveller(app)
    page = auth.new_client("viewer").get(f"/admin/users/{tess}").get_data(as_text=True)
    table = page.split('id="places"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(
        r'<td data-label="Place">([^<]+)</td>\s*<td data-label="Sign-ins">(\d+)', table
    )
    assert rows == [("Linköping, SE", "1"), ("London, GB", "2"), ("Changchun, CN", "1")]
    assert table.count("<time datetime=") == 6


def test_the_timeline_and_places_cost_no_query(app, auth):
    tess = _traveller(app)
    viewer = auth.new_client("viewer")
    plain = make_plain_user(app)
    viewer.get(f"/admin/users/{plain}")
    with counting_queries(app) as without_history:
        viewer.get(f"/admin/users/{plain}")
    with counting_queries(app) as with_history:
        viewer.get(f"/admin/users/{tess}")
    assert with_history["n"] == without_history["n"]


def make_plain_user(app):
    with app.app_context():
        user = make_user("quiet", email="quiet@example.test", name="Quiet Person")
        db.session.commit()
        return user.id
