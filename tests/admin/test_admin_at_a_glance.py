"""Issue 32's admin pages, as the server answers them: the audit log in words with its
details on demand, looks at a user's devices left out unless asked, several actions at once,
date presets and a person named in the target box, at a constant number of statements; the
country filter of current ISO codes only, the data's first; a bad IP marked on its field; a
404 that says no such user exists. The layout itself is tested in Chromium (tests/e2e)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from support.admin_helpers import (
    LINKOPING,
    LONDON,
    backdate_latest_event,
    counting_queries,
    make_user,
    sign_in_at,
    user_id_of,
)

from portal.extensions import db
from portal.models import utcnow
from portal.services.audit import record as audit


def _crowd_of_events(app, looks: int, others: int) -> None:
    """Carol looks at Dave's devices ``looks`` times, and ends ``others`` of his sessions."""
    with app.app_context():
        carol = make_user("carol", name="Carol Cruz")
        dave = make_user("dave", name="Dave Diaz")
        for _ in range(looks):
            audit.record(audit.Actions.VIEW_USER_DEVICES, actor=carol, target_user=dave)
        for _ in range(others):
            audit.record(audit.Actions.REVOKE_SESSION, actor=carol, target_user=dave, ended=1)
        db.session.commit()


def _actions_on(page: str) -> list[str]:
    return re.findall(r'<tr data-action="([a-z_]+)"', page)


def test_looks_at_a_users_devices_are_left_out_unless_asked(app, auth):
    admin = auth.new_client("admin")
    _crowd_of_events(app, looks=30, others=3)
    page = admin.get("/admin/audit?actor=carol").get_data(as_text=True)
    assert _actions_on(page) == ["revoke_session"] * 3
    assert "3 events, newest first, not counting looks" in page
    asked = admin.get("/admin/audit?actor=carol&looks=1").get_data(as_text=True)
    assert _actions_on(asked).count("view_user_devices") == 30
    by_name = admin.get("/admin/audit?actor=carol&action=view_user_devices").get_data(as_text=True)
    assert set(_actions_on(by_name)) == {"view_user_devices"}


def test_the_audit_log_filters_by_several_actions_at_once(app, auth):
    admin = auth.new_client("admin")
    _crowd_of_events(app, looks=2, others=2)
    page = admin.get(
        "/admin/audit?action=revoke_session&action=view_user_devices&actor=carol"
    ).get_data(as_text=True)
    assert sorted(_actions_on(page)) == ["revoke_session"] * 2 + ["view_user_devices"] * 2
    assert 'name="action" value="revoke_session" checked' in page
    assert 'name="action" value="view_user_devices" checked' in page
    assert "Actions: 2 chosen" in page


def test_the_date_presets_reach_back_an_hour_a_day_and_a_week(app, auth):
    admin = auth.new_client("admin")
    with app.app_context():
        carol = make_user("carol", name="Carol Cruz")
        for age in (
            timedelta(minutes=30),
            timedelta(hours=5),
            timedelta(days=3),
            timedelta(days=9),
        ):
            audit.record(audit.Actions.REVOKE_SESSION, actor=carol, target_user=carol, n=age.days)
            backdate_latest_event(utcnow() - age)
        db.session.commit()

    def count(within: str) -> int:
        page = admin.get(f"/admin/audit?actor=carol&within={within}").get_data(as_text=True)
        return len(_actions_on(page))

    assert (count("1h"), count("24h"), count("7d"), count("")) == (1, 2, 3, 4)
    page = admin.get("/admin/audit?within=24h").get_data(as_text=True)
    assert '<option value="24h" selected>Last 24 hours</option>' in page


def test_the_target_box_names_the_person_not_their_id(app, auth):
    admin = auth.new_client("admin")
    _crowd_of_events(app, looks=0, others=1)
    dave = user_id_of(app, "dave")
    page = admin.get(f"/admin/audit?target={dave}").get_data(as_text=True)
    box = page.split('id="audit-filters"', 1)[1].split("</form>", 1)[0]
    assert 'id="target-person">Dave Diaz' in box
    assert f'value="{dave}"' in box and 'type="hidden" name="target"' in box
    assert f'type="search" name="target" value="{dave}"' not in box
    assert _actions_on(page) == ["revoke_session"]


def test_an_alerts_ids_are_details_in_words_not_raw_codes(app, auth):
    admin = auth.new_client("admin")
    with app.app_context():
        carol = make_user("carol", name="Carol Cruz")
        audit.record(
            audit.Actions.SIGN_IN_ALERT_QUEUED,
            actor=carol,
            target_user=carol,
            alert_id="4f1c2d7e-0000-4000-8000-000000000001",
            message_id="<1733526000.42.portal@example.test>",
            new_device=True,
            flags=["new_country"],
        )
        db.session.commit()
    page = admin.get("/admin/audit").get_data(as_text=True)
    row = page.split('data-action="sign_in_alert_queued"', 1)[1].split("</tr>", 1)[0]
    assert "alert_id=" not in row and "message_id=" not in row
    assert "a new device; flagged: new country" in row
    assert "<dt>Alert</dt><dd><code>4f1c2d7e-0000-4000-8000-000000000001</code>" in row
    assert "<dt>Mail Message-ID</dt><dd><code>&lt;1733526000.42.portal@example.test&gt;" in row
    assert '<details class="more">' in row  # on demand


def test_the_audit_page_costs_the_same_statements_for_few_events_or_many(app, auth):
    admin = auth.new_client("admin")
    _crowd_of_events(app, looks=1, others=1)
    dave = user_id_of(app, "dave")
    admin.get("/admin/audit")  # warm
    urls = ["/admin/audit", f"/admin/audit?target={dave}&action=revoke_session&within=7d"]
    few = []
    for url in urls:
        with counting_queries(app) as n:
            assert admin.get(url).status_code == 200
        few.append(n["n"])
    with app.app_context():
        carol = make_user("carol2", name="Carol Two")
        for _ in range(70):
            audit.record(audit.Actions.REVOKE_SESSION, actor=carol, target_user=carol, ended=1)
        db.session.commit()
    many = []
    for url in urls:
        with counting_queries(app) as n:
            assert admin.get(url).status_code == 200
        many.append(n["n"])
    assert many == few
    # The caller, the count and the page; a person named by id in a box: one statement more.
    assert few[1] == few[0] + 1


# -- the country filter ----------------------------------------------------------------------


def test_the_country_filter_offers_current_iso_codes_the_datas_first(app, auth):
    with app.app_context():
        for sub, ip in (("gb", LONDON), ("se", LINKOPING)):
            sign_in_at(app, make_user(sub), utcnow() - timedelta(hours=1), ip)
        db.session.commit()
    page = auth.new_client("viewer").get("/admin/sign-ins").get_data(as_text=True)
    select = page.split('<select name="country">', 1)[1].split("</select>", 1)[0]
    codes = re.findall(r'<option value="([A-Z]{2})"', select)
    assert len(codes) == len(set(codes)) and 240 <= len(codes) <= 260
    for retired in ("DD", "SU", "YU", "CS", "AN", "DY", "VD", "UK", "ZR", "BU", "YD", "NH"):
        assert retired not in codes
    first_group = select.split("</optgroup>", 1)[0]
    assert re.findall(r'<option value="([A-Z]{2})"', first_group) == ["SE", "GB"]  # by name
    assert '<optgroup label="Where sign-ins came from">' in first_group
    names = dict(re.findall(r'<option value="([A-Z]{2})">([^<]+) \(', select))
    assert names["GB"] == "United Kingdom"
    assert [code for code, name in names.items() if name == "United Kingdom"] == ["GB"]


# -- smaller ----------------------------------------------------------------------------------


def test_a_bad_ip_marks_its_field_and_says_what_to_type(auth):
    page = auth.new_client("viewer").get("/admin/sign-ins?ip=10.0.0.300").get_data(as_text=True)
    field = re.search(r'<input type="search" name="ip"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in field and 'aria-describedby="ip-problem"' in field
    problem = re.search(r'<small id="ip-problem"[^>]*>([^<]+)</small>', page).group(1)
    assert "203.0.113.7" in problem and "203.0.113.0/24" in problem
    good = auth.new_client("viewer").get("/admin/sign-ins?ip=10.0.0.1").get_data(as_text=True)
    assert "aria-invalid" not in good


def test_an_admins_404_for_a_user_that_does_not_exist_says_so(auth):
    viewer = auth.new_client("viewer")
    missing = uuid.uuid4()
    for url in (f"/admin/users/{missing}", "/admin/users/not-an-id"):
        response = viewer.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 404
        assert "No such user" in page and 'href="/admin/users" id="back-to-users"' in page
