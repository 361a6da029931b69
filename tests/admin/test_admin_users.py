"""User search, a user's page, the CSV export and revoking from the admin pages."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from support.admin_helpers import (
    BHUTAN,
    CHANGCHUN,
    LONDON,
    active_session_ids,
    counting_queries,
    csrf_token,
    make_user,
    sign_in_at,
    user_id_of,
)

from portal.extensions import db
from portal.models import UserSession, utcnow


def _user_ids_on(page: str) -> list[str]:
    return re.findall(r'<tr data-user-id="([^"]+)"', page)


@pytest.fixture
def many_users(app):
    """300 users: user000..user299, last seen one minute apart (user299 most recently)."""
    now = utcnow()
    with app.app_context():
        ids = []
        for i in range(300):
            u = make_user(
                f"user{i:03d}",
                email=f"user{i:03d}@corp.test",
                name=f"Person {299 - i:03d}",
                last_seen_at=now - timedelta(minutes=300 - i),
                last_country_code="GB" if i % 2 else "SE",
                last_city="London" if i % 2 else "Linköping",
            )
            ids.append(str(u.id))
        db.session.commit()
    return ids


# -- search, sort, pagination ---------------------------------------------------------------


def test_users_are_listed_newest_activity_first_50_a_page(auth, many_users):
    client = auth.new_client("viewer")
    first = client.get("/admin/users").get_data(as_text=True)
    rows = _user_ids_on(first)
    # The viewer signed in just now, so they lead; then user299, user298, ...
    assert len(rows) == 50
    assert rows[1:] == list(reversed(many_users))[:49]
    assert "301 users" in first and "Page 1 of 7" in first
    second = client.get("/admin/users?page=2").get_data(as_text=True)
    assert _user_ids_on(second) == list(reversed(many_users))[49:99]
    last = client.get("/admin/users?page=7").get_data(as_text=True)
    assert len(_user_ids_on(last)) == 1
    # A page past the end shows the last page.
    assert _user_ids_on(client.get("/admin/users?page=99").get_data(as_text=True)) == (
        _user_ids_on(last)
    )


def test_search_matches_email_name_or_subject_case_insensitively(auth, many_users):
    client = auth.new_client("viewer")
    by_email = client.get("/admin/users?q=USER01").get_data(as_text=True)
    assert len(_user_ids_on(by_email)) == 10 and "10 users matching" in by_email
    by_name = client.get("/admin/users?q=person 29").get_data(as_text=True)
    assert len(_user_ids_on(by_name)) == 10
    by_subject = client.get("/admin/users?q=VIEWER").get_data(as_text=True)
    assert len(_user_ids_on(by_subject)) == 1 and "Vic Viewer" in by_subject
    # LIKE wildcards in the query are plain characters.
    assert _user_ids_on(client.get("/admin/users?q=%25").get_data(as_text=True)) == []
    assert _user_ids_on(client.get("/admin/users?q=user_0").get_data(as_text=True)) == []


def test_search_keeps_the_query_in_sort_and_page_links(auth, many_users):
    page = auth.new_client("viewer").get("/admin/users?q=corp").get_data(as_text=True)
    assert "300 users matching" in page
    assert 'href="/admin/users?q=corp&amp;sort=email&amp;dir=asc"' in page
    next_link = re.search(r'<a href="([^"]+)" rel="next"', page).group(1)
    assert "q=corp" in next_link and "page=2" in next_link


def test_users_can_be_sorted_by_each_column(auth, many_users):
    client = auth.new_client("viewer")
    by_email = _user_ids_on(client.get("/admin/users?q=corp&sort=email&dir=asc").data.decode())
    assert by_email == many_users[:50]
    by_email_desc = _user_ids_on(
        client.get("/admin/users?q=corp&sort=email&dir=desc").data.decode()
    )
    assert by_email_desc == list(reversed(many_users))[:50]
    by_name = _user_ids_on(client.get("/admin/users?q=corp&sort=name&dir=asc").data.decode())
    assert by_name == list(reversed(many_users))[:50]  # "Person 000" is user299
    oldest = _user_ids_on(client.get("/admin/users?q=corp&sort=last_seen&dir=asc").data.decode())
    assert oldest == many_users[:50]
    by_place = client.get("/admin/users?q=corp&sort=location&dir=asc").data.decode()
    assert all(many_users.index(i) % 2 == 1 for i in _user_ids_on(by_place))  # GB before SE
    page = client.get("/admin/users?sort=email&dir=asc").data.decode()
    assert 'aria-sort="ascending"' in page


def test_sorting_by_active_devices_puts_busy_users_first(app, auth, many_users):
    with app.app_context():
        from portal.models import User

        busy = db.session.execute(select(User).where(User.subject == "user007")).scalar_one()
        for _ in range(3):
            sign_in_at(app, busy, utcnow() - timedelta(hours=1))  # a new browser each time
        db.session.commit()
    client = auth.new_client("viewer")
    page = client.get("/admin/users?sort=active_devices&dir=desc").data.decode()
    rows = _user_ids_on(page)
    assert rows[0] == many_users[7]
    assert re.search(rf'data-user-id="{many_users[7]}".*?class="active-devices">3<', page, re.S)


def test_a_search_more_users_match_than_it_reads_says_so_and_pages_through_what_it_read(
    auth, many_users, monkeypatch
):
    """A substring most users share ("corp" here, "user1" among a million) is answered from
    the first ``MATCH_CAP`` matches the index finds, so its cost does not grow with the table;
    the page says that more match, and every page it offers has rows."""
    from portal.services.users import search

    monkeypatch.setattr(search, "MATCH_CAP", 100)
    client = auth.new_client("viewer")
    first = client.get("/admin/users?q=corp").get_data(as_text=True)
    assert "More than 100 users matching “corp”" in first and "300 users" not in first
    assert "Page 1 of 2" in first
    second = client.get("/admin/users?q=corp&page=2").get_data(as_text=True)
    shown = _user_ids_on(first) + _user_ids_on(second)
    assert len(shown) == len(set(shown)) == 100 and set(shown) <= set(many_users)
    # Sorted as asked among them: the default is the most recently seen first.
    assert shown == sorted(shown, key=many_users.index, reverse=True)
    by_email = _user_ids_on(client.get("/admin/users?q=corp&sort=email&dir=asc").data.decode())
    assert by_email == sorted(shown, key=many_users.index)[:50]
    # A page past what was read shows the last page; a narrower search is counted exactly.
    assert _user_ids_on(client.get("/admin/users?q=corp&page=9").data.decode()) == (
        _user_ids_on(second)
    )
    narrow = client.get("/admin/users?q=user01").get_data(as_text=True)
    assert "10 users matching “user01”" in narrow and "More than" not in narrow


def test_the_whole_list_past_the_cap_is_still_in_order_and_counted_up_to_it(
    auth, many_users, monkeypatch
):
    """Without a query nothing is left out of the order: the pages walk every user in the
    sort's order, and only the count stops at the cap."""
    from portal.services.users import search

    monkeypatch.setattr(search, "MATCH_CAP", 100)
    client = auth.new_client("viewer")
    first = client.get("/admin/users").get_data(as_text=True)
    assert "More than 100 users: these pages hold the first 100 in this order" in first
    assert "Page 1 of 2" in first
    assert _user_ids_on(first)[1:] == list(reversed(many_users))[:49]  # the viewer leads
    second = client.get("/admin/users?page=2").get_data(as_text=True)
    assert _user_ids_on(second) == list(reversed(many_users))[49:99]
    by_email = _user_ids_on(client.get("/admin/users?sort=email&dir=desc").data.decode())
    assert by_email[1:] == list(reversed(many_users))[:49]  # "viewer@..." sorts after "user..."
    assert _user_ids_on(client.get("/admin/users?page=3").data.decode()) == (_user_ids_on(second))


def test_the_users_list_runs_the_same_number_of_queries_for_any_page(app, auth, many_users):
    with app.app_context():
        from portal.models import User

        # Give the users on the first page sessions and histories, so each row has work to do.
        users = db.session.execute(
            select(User).where(User.subject.like("user2%")).order_by(User.subject)
        ).scalars()
        for i, u in enumerate(users):
            sign_in_at(app, u, utcnow() - timedelta(hours=2), LONDON)
            sign_in_at(app, u, utcnow() - timedelta(hours=1), CHANGCHUN if i % 3 else BHUTAN)
        db.session.commit()
    client = auth.new_client("viewer")
    client.get("/admin/users?q=user200")  # warm up (metadata, first-request work)
    with counting_queries(app) as one_row:
        page = client.get("/admin/users?q=user200").data.decode()
    assert len(_user_ids_on(page)) == 1
    with counting_queries(app) as fifty_rows:
        page = client.get("/admin/users").data.decode()
    assert len(_user_ids_on(page)) == 50
    assert "Impossible travel" in page and "New country" in page
    assert fifty_rows["n"] == one_row["n"]


def test_each_row_shows_name_email_devices_last_seen_location_and_links(app, auth):
    auth.new_client("bob", remote_addr=LONDON)
    page = auth.new_client("viewer").get("/admin/users?q=bob").data.decode()
    bob_id = user_id_of(app, "bob")
    assert f'href="/admin/users/{bob_id}"' in page
    assert "Bob Berg" in page and "bob@example.test" in page
    assert 'class="active-devices">1<' in page
    assert "London, GB" in page and "just now" in page
    assert 'data-flag="untrusted"' in page


# -- one user's page ------------------------------------------------------------------------


def test_user_page_shows_profile_permissions_devices_and_login_history(app, auth):
    bob_browser = auth.new_client("bob", remote_addr=LONDON)
    bob_browser.post("/logout", data={"csrf_token": csrf_token(bob_browser)})
    auth.new_client("bob", remote_addr=CHANGCHUN)
    page = auth.new_client("manager").get(f"/admin/users/{user_id_of(app, 'bob')}").data.decode()
    assert "Bob Berg" in page and "bob@example.test" in page and "<code>bob</code>" in page
    assert "staff" in page and "None: an ordinary user." in page
    assert page.count('class="device-card admin-device"') == 2
    assert page.count("<tr data-session-id=") == 2
    assert "Signed out" in page and "London, GB" in page and "Changchun, CN" in page
    assert page.count('class="revoke-session"') == 1  # only the active session
    assert (
        'id="revoke-all"' in page and 'class="secondary outline push-right revoke-device"' in page
    )


def test_user_page_shows_where_permissions_come_from(app, auth):
    auth.new_client("manager")
    with app.app_context():
        from portal.services.users import identity

        identity.grant(identity.find_user_by_email("manager@example.test"), "viewAuditLog")
        db.session.commit()
    page = auth.new_client("viewer").get(f"/admin/users/{user_id_of(app, 'manager')}").data
    text = page.decode()
    assert '<code>viewUserDevices</code> <small class="muted">from group security</small>' in text
    assert '<code>viewAuditLog</code> <small class="muted">from local grant</small>' in text


def test_viewer_sees_no_revoke_controls(app, auth):
    auth.new_client("bob")
    page = auth.new_client("viewer").get(f"/admin/users/{user_id_of(app, 'bob')}").data.decode()
    assert "revoke-session" not in page and "revoke-all" not in page and "revoke-device" not in page


@pytest.mark.parametrize("bad", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_user_page_is_404(auth, bad):
    assert auth.new_client("viewer").get(f"/admin/users/{bad}").status_code == 404


def test_user_page_runs_a_fixed_number_of_queries_whatever_the_history(app, auth):
    auth.new_client("bob")
    bob = user_id_of(app, "bob")
    client = auth.new_client("viewer")
    client.get(f"/admin/users/{bob}")
    with counting_queries(app) as small:
        client.get(f"/admin/users/{bob}")
    with app.app_context():
        from portal.models import User

        user = db.session.get(User, bob)
        for days in range(20):
            sign_in_at(app, user, utcnow() - timedelta(days=days, hours=1))
        db.session.commit()
    with counting_queries(app) as big:
        client.get(f"/admin/users/{bob}")
    assert big["n"] == small["n"]


# -- CSV export -----------------------------------------------------------------------------


def test_csv_export_has_one_line_per_session_with_device_details(app, auth):
    auth.new_client("bob", remote_addr=LONDON)
    auth.new_client("bob", remote_addr=CHANGCHUN)
    bob = user_id_of(app, "bob")
    with app.app_context():
        from portal.models import Device

        # A hostile device name must not become a spreadsheet formula.
        device = db.session.execute(select(Device).where(Device.user_id == bob)).scalars().first()
        device.name = "=HYPERLINK(1)"
        db.session.commit()
    response = auth.new_client("viewer").get(f"/admin/users/{bob}/devices.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="user-{bob}-devices.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 2
    assert {r["location"] for r in rows} == {"London, GB", "Changchun, CN"}
    assert {r["ended_how"] for r in rows} == {"active"}
    assert {r["device_type"] for r in rows} == {"desktop"}
    assert "'=HYPERLINK(1)" in {r["device_name"] for r in rows}
    assert all(r["session_id"] and r["signed_in_at"].endswith("Z") for r in rows)


# -- revoking -------------------------------------------------------------------------------


def test_revoke_session_asks_first_then_ends_it_and_that_browser_is_signed_out(app, auth):
    bob_browser = auth.new_client("bob")
    [sid] = active_session_ids(app, "bob")
    bob = user_id_of(app, "bob")
    admin = auth.new_client("manager")
    url = f"/admin/users/{bob}/sessions/{sid}/revoke"
    confirm = admin.get(url)
    assert confirm.status_code == 200 and b"Revoke this session?" in confirm.data
    assert active_session_ids(app, "bob") == [sid]  # asking changes nothing
    done = admin.post(url, data={"csrf_token": csrf_token(admin, url)})
    assert done.status_code == 302 and done.headers["Location"] == f"/admin/users/{bob}"
    assert "revoked" in admin.get(done.headers["Location"]).data.decode()
    assert active_session_ids(app, "bob") == []
    with app.app_context():
        row = db.session.get(UserSession, sid)
        assert row.end_reason == "revoked_by_admin"
        assert row.ended_by_id == user_id_of(app, "manager")
    page = bob_browser.get("/")
    assert b"My devices" not in page.data and b"hero-sign-in" in page.data


def test_revoke_needs_a_csrf_token(app, auth):
    auth.new_client("bob")
    [sid] = active_session_ids(app, "bob")
    admin = auth.new_client("manager")
    url = f"/admin/users/{user_id_of(app, 'bob')}/sessions/{sid}/revoke"
    assert admin.post(url).status_code == 400
    # A valid token, of another browser's session (another manager's): refused as well.
    others_token = csrf_token(auth.new_client("manager"), url)
    assert admin.post(url, data={"csrf_token": others_token}).status_code == 400
    assert active_session_ids(app, "bob") == [sid]


def test_revoke_device_ends_all_its_sessions_and_keeps_other_devices(app, auth):
    bob_browser = auth.new_client("bob")
    bob_browser.delete_cookie("portal_session")
    auth.sign_in(bob_browser, "bob")  # a second session on the same browser
    other = auth.new_client("bob")  # another browser
    bob = user_id_of(app, "bob")
    with app.app_context():
        rows = db.session.execute(select(UserSession).where(UserSession.user_id == bob)).scalars()
        by_device: dict = {}
        for r in rows:
            by_device.setdefault(r.device_id, []).append(r.id)
    [device_id] = [d for d, ids in by_device.items() if len(ids) == 2]
    admin = auth.new_client("manager")
    url = f"/admin/users/{bob}/devices/{device_id}/revoke"
    assert b"Revoke this device?" in admin.get(url).data
    admin.post(url, data={"csrf_token": csrf_token(admin, url)})
    remaining = active_session_ids(app, "bob")
    assert len(remaining) == 1 and remaining[0] not in by_device[device_id]
    assert b"hero-sign-in" in bob_browser.get("/").data
    assert b"My devices" in other.get("/").data


def test_revoke_all_ends_every_session_of_the_user(app, auth):
    browsers = [auth.new_client("bob") for _ in range(3)]
    bob = user_id_of(app, "bob")
    admin = auth.new_client("manager")
    url = f"/admin/users/{bob}/revoke-all"
    assert b"Revoke all sessions of Bob Berg?" in admin.get(url).data
    admin.post(url, data={"csrf_token": csrf_token(admin, url)})
    assert active_session_ids(app, "bob") == []
    assert all(b"hero-sign-in" in b.get("/").data for b in browsers)


def test_revoking_all_of_your_own_sessions_keeps_the_current_one(app, auth):
    elsewhere = auth.new_client("manager")
    here = auth.new_client("manager")
    me = user_id_of(app, "manager")
    url = f"/admin/users/{me}/revoke-all"
    assert b"This session of yours stays signed in." in here.get(url).data
    response = here.post(url, data={"csrf_token": csrf_token(here, url)})
    assert response.status_code == 302
    assert len(active_session_ids(app, "manager")) == 1
    assert here.get(f"/admin/users/{me}").status_code == 200
    assert b"hero-sign-in" in elsewhere.get("/").data
    with app.app_context():
        reasons = set(
            db.session.execute(
                select(UserSession.end_reason).where(UserSession.ended_at.is_not(None))
            ).scalars()
        )
    assert reasons == {"revoked"}  # your own sessions: revoked by you, not by an admin


def test_revoking_a_session_of_another_user_through_this_users_url_is_404(app, auth):
    auth.new_client("alice")
    auth.new_client("bob")
    [alice_session] = active_session_ids(app, "alice")
    admin = auth.new_client("manager")
    url = f"/admin/users/{user_id_of(app, 'bob')}/sessions/{alice_session}/revoke"
    assert admin.get(url).status_code == 404
    assert admin.post(url, data={"csrf_token": csrf_token(admin)}).status_code == 404
    assert active_session_ids(app, "alice") == [alice_session]


def test_revoking_an_ended_session_says_so(app, auth):
    auth.new_client("bob")
    [sid] = active_session_ids(app, "bob")
    admin = auth.new_client("manager")
    url = f"/admin/users/{user_id_of(app, 'bob')}/sessions/{sid}/revoke"
    token = csrf_token(admin, url)
    admin.post(url, data={"csrf_token": token})
    again = admin.post(url, data={"csrf_token": token}, follow_redirects=True)
    assert b"already ended" in again.data


def test_the_user_search_is_answered_by_an_index_not_a_scan(app):
    """``LIKE '%q%'`` can use no B-tree index: trigram indexes (PostgreSQL) or an FTS5 trigram
    table (SQLite) must serve the search, or it scans every user at a hundred thousand."""
    from sqlalchemy import func, select, text

    from portal.services.users.search import _candidates

    with app.app_context():
        query = select(func.count()).select_from(_candidates("user12", 1_000))
        with db.engine.connect() as conn:
            if db.engine.dialect.name == "postgresql":
                conn.execute(text("SET enable_seqscan = off"))  # a small table would scan
                compiled = query.compile(db.engine)
                explained = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
                plan = "\n".join(r[0] for r in explained)
                assert "ix_users_email_trgm" in plan and "Seq Scan" not in plan, plan
            else:
                compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
                rows = conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
                steps = [str(r[-1]).strip() for r in rows]
                assert any("users_search VIRTUAL TABLE INDEX" in s for s in steps), steps
                assert "SCAN users" not in steps, steps
