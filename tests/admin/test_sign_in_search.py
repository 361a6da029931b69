"""Every user's sign-ins, searched: exact matches among many users, on the page and the API."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from support.admin_helpers import (
    BHUTAN,
    CHANGCHUN,
    LINKOPING,
    LONDON,
    MILTON,
    audit_actions,
    counting_queries,
    make_user,
    sign_in_at,
)

from portal.extensions import db
from portal.models import utcnow
from portal.services.incidents import search

# Addresses of the crafted history: the attacker's /24 and /64, their neighbours, and places.
IN_V4 = [f"203.0.113.{n}" for n in (1, 7, 99, 254)]
NEAR_V4 = ["203.0.112.255", "203.0.114.0", "203.0.11.7"]
IN_V6 = ["2001:db8:1:2::1", "2001:db8:1:2:ffff::9"]
NEAR_V6 = ["2001:db8:1:3::1", "2001:db8::1"]
PLACES = [LONDON, MILTON, LINKOPING, CHANGCHUN, BHUTAN]


@pytest.fixture
def crowd(app):
    """40 users, each with sign-ins from known places; some also from the blocks above and
    their neighbours. Returns {address: [session ids]} of everything made."""
    made: dict[str, list] = {}
    now = utcnow()
    with app.app_context():
        for n in range(40):
            user = make_user(f"crowd{n:02d}")
            ips = [PLACES[n % len(PLACES)]]
            if n % 4 == 0:
                ips.append(IN_V4[n // 4 % len(IN_V4)])
            if n % 5 == 1:
                ips.append(NEAR_V4[n % len(NEAR_V4)])
            if n % 7 == 2:
                ips.append(IN_V6[n % len(IN_V6)])
            if n % 6 == 3:
                ips.append(NEAR_V6[n % len(NEAR_V6)])
            for i, ip in enumerate(ips):
                row, _ = sign_in_at(app, user, now - timedelta(hours=n, minutes=i), ip)
                made.setdefault(ip, []).append(row.id)
        db.session.commit()
    return made


def _ids(made, addresses) -> set[str]:
    return {str(s) for ip in addresses for s in made.get(ip, [])}


def _search(app, **values) -> set[str]:
    with app.app_context():
        f = search.parse_filter(**values)
        return {str(r.id) for r in search.iter_rows(f, batch=7)}


def test_a_v4_block_finds_exactly_its_sign_ins(app, crowd):
    assert _search(app, ip="203.0.113.0/24") == _ids(crowd, IN_V4)
    assert _search(app, ip="203.0.113.7/24") == _ids(crowd, IN_V4)  # host bits as pasted


def test_a_v4_address_finds_exactly_its_sign_ins(app, crowd):
    assert _search(app, ip="203.0.113.7") == _ids(crowd, ["203.0.113.7"])
    assert _search(app, ip="203.0.113.7/32") == _ids(crowd, ["203.0.113.7"])


def test_a_v6_block_finds_exactly_its_sign_ins(app, crowd):
    assert _search(app, ip="2001:db8:1:2::/64") == _ids(crowd, IN_V6)
    assert _search(app, ip="2001:db8::/32") == _ids(crowd, IN_V6 + NEAR_V6)


def test_a_country_finds_exactly_its_sign_ins(app, crowd):
    assert _search(app, country="se") == _ids(crowd, [LINKOPING])
    assert _search(app, country="US", ip="216.160.83.0/24") == _ids(crowd, [MILTON])
    assert _search(app, country="BT", ip="203.0.113.0/24") == set()


def test_filters_combine_with_the_user_and_time(app, crowd):
    found = _search(app, ip="203.0.113.0/24", user="crowd0", until=utcnow().isoformat())
    with app.app_context():
        expected = {
            str(r.id)
            for r in search.iter_rows(search.parse_filter(ip="203.0.113.0/24"))
            if r.email.startswith("crowd0")
        }
    assert found == expected and found
    assert _search(app, ip="203.0.113.0/24", since=(utcnow() + timedelta(hours=1)).isoformat()) == (
        set()
    )


def test_bad_filters_are_refused_with_a_reason(app):
    for values, word in [
        ({"ip": "203.0.113.0/33"}, "ip"),
        ({"ip": "not an address"}, "ip"),
        ({"country": "GBR"}, "country"),
        ({"flag": "odd"}, "flag"),
        ({"since": "yesterday"}, "since"),
    ]:
        with pytest.raises(search.InvalidFilter, match=word):
            search.parse_filter(**values)


# -- the JSON route -----------------------------------------------------------------------------


def test_the_api_pages_by_cursor_through_exactly_the_matches(app, client, auth, crowd):
    headers = auth.bearer("viewer")
    url, seen, pages = "/sign-ins?ip=203.0.113.0/24&limit=3", [], 0
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.data
        assert response.headers["X-Total-Count"] == str(len(_ids(crowd, IN_V4)))
        rows = response.get_json()
        seen += [r["id"] for r in rows]
        assert all(r["ipAddress"].startswith("203.0.113.") for r in rows)
        link = response.headers.get("Link")
        url = None
        if link:
            target = urlsplit(re.match(r"<([^>]+)>", link).group(1))
            url = f"{target.path}?{target.query}"
        pages += 1
    assert len(seen) == len(set(seen)) and set(seen) == _ids(crowd, IN_V4)
    assert pages == -(-len(seen) // 3)
    times = [r for r in seen]
    assert times  # newest first is checked on the service below


def test_rows_come_newest_first_with_who_and_where(app, client, auth, crowd):
    rows = client.get("/sign-ins?country=GB", headers=auth.bearer("viewer")).get_json()
    assert rows and [r["signedInAt"] for r in rows] == sorted(
        (r["signedInAt"] for r in rows), reverse=True
    )
    assert {r["location"] for r in rows} == {"London, GB"}
    assert all(r["user"]["email"].startswith("crowd") and r["status"] == "active" for r in rows)


def test_the_api_refuses_a_bad_filter_or_cursor_in_the_token_row_shape(client, auth):
    headers = auth.bearer("viewer")
    for url in ("/sign-ins?ip=300.1.1.1", "/sign-ins?cursor=nope", "/sign-ins?limit=0"):
        response = client.get(url, headers=headers)
        assert response.status_code == 400
        assert set(response.get_json()["error"]) == {"code", "message"}


def test_a_user_without_view_permission_gets_403(client, auth):
    assert client.get("/sign-ins", headers=auth.bearer("alice")).status_code == 403


def test_every_api_search_is_audited_with_its_filters(app, client, auth, crowd):
    client.get("/sign-ins?ip=203.0.113.0/24&country=GB", headers=auth.bearer("viewer"))
    (event,) = audit_actions(app, "search_sign_ins")
    assert event.detail["filters"] == {"ip": "203.0.113.0/24", "country": "GB"}
    assert event.actor_label == "viewer@example.test" and event.via == "api"


# -- the page and the CSV -----------------------------------------------------------------------


def _session_ids_on(page: str) -> list[str]:
    return re.findall(r'<tr data-session-id="([^"]+)"', page)


def test_a_helpdesk_user_searches_on_the_page_and_the_search_is_audited(app, auth, crowd):
    viewer = auth.new_client("viewer")
    page = viewer.get("/admin/sign-ins?ip=203.0.113.0/24").get_data(as_text=True)
    assert set(_session_ids_on(page)) == _ids(crowd, IN_V4)
    assert f"{len(_ids(crowd, IN_V4))} sign-ins" in page
    assert 'id="bulk-sign-out"' not in page  # viewUserDevices only: no sign-out offered
    (event,) = audit_actions(app, "search_sign_ins")
    assert event.detail["filters"] == {"ip": "203.0.113.0/24"} and event.via == "page"


def test_each_row_links_to_its_user_and_the_country_stays_chosen(app, auth, crowd):
    """The row's user link and the country filter's options are built once per page: each
    row still links to its own user, and the chosen country is the selected option."""
    page = auth.new_client("viewer").get("/admin/sign-ins?country=GB").get_data(as_text=True)
    rows = re.findall(r'<tr data-session-id="([^"]+)">.*?href="([^"]+)"', page, re.S)
    assert rows
    with app.app_context():
        owner = {str(r.id): str(r.user_id) for r in search.iter_rows(search.parse_filter())}
    assert all(href == f"/admin/users/{owner[sid]}" for sid, href in rows)
    assert re.findall(r'<option value="([A-Z]{2})" selected>', page) == ["GB"]
    assert '<option value="SE">Sweden (SE)</option>' in page
    other = auth.new_client("viewer").get("/admin/sign-ins?country=SE").get_data(as_text=True)
    assert re.findall(r'<option value="([A-Z]{2})" selected>', other) == ["SE"]


def test_the_page_pages_by_cursor(app, auth, crowd):
    viewer = auth.new_client("viewer")
    app.config["PAGE_SIZE"] = 5
    page = viewer.get("/admin/sign-ins").get_data(as_text=True)
    first = _session_ids_on(page)
    assert len(first) == 5
    link = re.search(r'href="([^"]+)" rel="next"', page).group(1).replace("&amp;", "&")
    second = _session_ids_on(viewer.get(link).get_data(as_text=True))
    assert len(second) == 5 and not set(first) & set(second)


def test_a_bad_filter_on_the_page_says_why_and_searches_nothing(auth, crowd):
    page = auth.new_client("viewer").get("/admin/sign-ins?ip=nonsense").get_data(as_text=True)
    assert "ip must be an IPv4 or IPv6 address" in page and _session_ids_on(page) == []


def test_the_csv_export_streams_exactly_the_filtered_set_and_is_audited(app, auth, crowd):
    response = auth.new_client("viewer").get("/admin/sign-ins.csv?ip=2001:db8::/32")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {r["session_id"] for r in rows} == _ids(crowd, IN_V6 + NEAR_V6)
    (event,) = audit_actions(app, "export_csv")
    assert event.detail == {"export": "sign_ins", "filters": {"ip": "2001:db8::/32"}}


def test_the_page_costs_the_same_statements_for_one_row_or_fifty(app, auth, crowd):
    viewer = auth.new_client("viewer")
    viewer.get("/admin/sign-ins")  # warm: the caller's standing row and touch
    with counting_queries(app) as one_row:
        page = viewer.get("/admin/sign-ins?ip=203.0.113.7").get_data(as_text=True)
    assert len(_session_ids_on(page)) == len(crowd["203.0.113.7"])
    with counting_queries(app) as fifty_rows:
        page = viewer.get("/admin/sign-ins").get_data(as_text=True)
    assert len(_session_ids_on(page)) == 50
    assert fifty_rows["n"] == one_row["n"]


def test_the_api_costs_the_same_statements_for_one_row_or_a_hundred(app, client, auth, crowd):
    headers = auth.bearer("viewer")
    client.get("/sign-ins?limit=1", headers=headers)  # warm: the token's session is made
    with counting_queries(app) as one_row:
        assert len(client.get("/sign-ins?limit=1", headers=headers).get_json()) == 1
    with counting_queries(app) as many_rows:
        assert len(client.get("/sign-ins?limit=60", headers=headers).get_json()) == 60
    assert many_rows["n"] == one_row["n"]
