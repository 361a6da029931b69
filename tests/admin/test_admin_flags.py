"""Investigation flags computed on crafted sign-in histories (GeoIP test database positions)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from support.admin_helpers import (
    BOXFORD,
    CHANGCHUN,
    LINKOPING,
    LONDON,
    MILTON,
    history,
    make_user,
)

from portal.extensions import db
from portal.models import Device, utcnow
from portal.services.devices import changes as device_service
from portal.services.devices.flags import Flag, flag_bits, sign_in_findings
from portal.services.users import history as user_history
from portal.services.users import search


def _flags(app, steps) -> list[set[Flag]]:
    """The flags of each sign-in of a fresh user with this history, oldest first."""
    with app.app_context():
        user = make_user("traveller")
        made = history(app, user, steps)
        found = sign_in_findings(made)
        result = [{f.flag for f in found.get(s.id, [])} for s in made]
        db.session.rollback()
    return result


def test_first_sign_in_ever_is_not_a_new_country(app):
    assert _flags(app, [(timedelta(hours=1), CHANGCHUN)]) == [set()]


def test_sign_in_from_a_country_not_seen_in_the_previous_30_days_is_new(app):
    flags = _flags(
        app,
        [
            (timedelta(days=10), LONDON),
            (timedelta(days=9), BOXFORD),  # GB again
            (timedelta(days=2), LINKOPING),  # SE: new
            (timedelta(days=1), LINKOPING),  # SE again: seen yesterday
        ],
    )
    assert [Flag.NEW_COUNTRY in f for f in flags] == [False, False, True, False]


def test_a_country_last_seen_more_than_30_days_ago_is_new_again(app):
    flags = _flags(
        app,
        [
            (timedelta(days=70), LINKOPING),
            (timedelta(days=20), LONDON),  # nothing in the 30 days before: no baseline, no flag
            (timedelta(days=5), LINKOPING),  # SE last seen 65 days before: new again
            (timedelta(days=4), LONDON),  # GB seen 16 days before: not new
        ],
    )
    assert [Flag.NEW_COUNTRY in f for f in flags] == [False, False, True, False]


def test_london_to_changchun_in_an_hour_is_impossible_travel(app):
    flags = _flags(app, [(timedelta(hours=2), LONDON), (timedelta(hours=1), CHANGCHUN)])
    assert Flag.IMPOSSIBLE_TRAVEL in flags[1] and flags[0] == set()


def test_london_to_milton_in_twelve_hours_is_possible(app):
    # About 7,700 km in 12 hours: roughly 640 km/h, a long-haul flight.
    flags = _flags(app, [(timedelta(hours=13), LONDON), (timedelta(hours=1), MILTON)])
    assert Flag.IMPOSSIBLE_TRAVEL not in flags[1]


def test_london_to_boxford_in_ten_minutes_is_impossible_but_in_two_hours_is_not(app):
    # About 80 km apart: 480 km/h in 10 minutes, 40 km/h in two hours.
    fast = _flags(app, [(timedelta(minutes=20), LONDON), (timedelta(minutes=10), BOXFORD)])
    slow = _flags(app, [(timedelta(hours=3), LONDON), (timedelta(hours=1), BOXFORD)])
    assert Flag.IMPOSSIBLE_TRAVEL not in fast[1]  # 480 km/h < 1,000 km/h
    assert Flag.IMPOSSIBLE_TRAVEL not in slow[1]
    instant = _flags(app, [(timedelta(minutes=2), LONDON), (timedelta(minutes=1), BOXFORD)])
    assert Flag.IMPOSSIBLE_TRAVEL in instant[1]  # 80 km in a minute


def test_travel_is_measured_from_the_previous_located_sign_in(app):
    flags = _flags(
        app,
        [
            (timedelta(hours=3), LONDON),
            (timedelta(hours=2), "10.0.0.1"),  # private address: no position
            (timedelta(hours=1), CHANGCHUN),
        ],
    )
    assert flags[1] == set() and Flag.IMPOSSIBLE_TRAVEL in flags[2]


def test_same_place_at_the_same_time_is_not_travel(app):
    flags = _flags(app, [(timedelta(hours=1), LONDON), (timedelta(hours=1), LONDON)])
    assert flags == [set(), set()]


def test_untrusted_and_trust_expired_devices_are_flagged(app):
    with app.app_context():
        user = make_user("owner")
        sessions = history(app, user, [(timedelta(hours=1), LONDON)])
        device = sessions[0].device
        assert {f.flag for f in user_history.user_history(user).devices[0].findings} == {
            Flag.UNTRUSTED
        }
        device_service.trust_device(device, "HIGH", 30)
        assert user_history.user_history(user).devices[0].findings == []
        device_service.trust_device(device, "HIGH", 30, now=utcnow() - timedelta(days=31))
        assert {f.flag for f in user_history.user_history(user).devices[0].findings} == {
            Flag.TRUST_EXPIRED
        }
        db.session.rollback()


def test_user_page_shows_the_flags_with_their_reasons(app, auth):
    with app.app_context():
        user = make_user("roamer", name="Rita Roamer")
        history(
            app, user, [(timedelta(days=3), LONDON), (timedelta(days=3, minutes=-30), CHANGCHUN)]
        )
        db.session.execute(select(Device)).scalars().first().is_trusted = True  # lapsed below
        for d in db.session.execute(select(Device)).scalars():
            d.trust_expires_at = utcnow() - timedelta(days=1)
        db.session.commit()
        user_id = user.id
    page = auth.new_client("viewer").get(f"/admin/users/{user_id}").data.decode()
    assert 'data-flag="impossible_travel"' in page and 'data-flag="new_country"' in page
    assert 'data-flag="trust_expired"' in page
    card = page.split('class="device-card admin-device"')[1]
    assert card.count("Trust expired") == 1  # said once, as the finding, not also as a badge
    assert "London, GB → Changchun, CN" in page
    assert "First sign-in from CN in 30 days (seen before: GB)" in page


def test_users_list_flags_only_the_last_30_days(app, auth):
    with app.app_context():
        old = make_user("oldtrip", name="Old Trip")
        history(app, old, [(timedelta(days=45), LONDON), (timedelta(days=44), CHANGCHUN)])
        recent = make_user("newtrip", name="New Trip")
        history(app, recent, [(timedelta(days=5), LONDON), (timedelta(days=4), CHANGCHUN)])
        db.session.commit()
    client = auth.new_client("viewer")
    old_row = client.get("/admin/users?q=oldtrip").data.decode()
    new_row = client.get("/admin/users?q=newtrip").data.decode()
    assert 'data-flag="new_country"' not in old_row
    assert 'data-flag="new_country"' in new_row


def test_each_sign_in_keeps_the_flags_it_raised_when_it_opened(app):
    """What the users list counts (stored on the session) is what the user page computes."""
    steps = [
        (timedelta(days=40), LONDON),
        (timedelta(days=20), LONDON),
        (timedelta(days=19, hours=23), CHANGCHUN),  # new country, impossible travel
        (timedelta(days=10), MILTON),  # new country
        (timedelta(days=9, hours=23, minutes=50), LINKOPING),  # new country, impossible
        (timedelta(days=2), BOXFORD),
        (timedelta(days=1), None),  # unlocated
    ]
    with app.app_context():
        user = make_user("keeper")
        made = history(app, user, steps)
        db.session.commit()
        computed = sign_in_findings(made)
        stored = [s.sign_in_flags for s in made]
        assert stored == [flag_bits(computed.get(s.id, [])) for s in made]
        assert stored == [0, 0, 3, 1, 3, 0, 0]


def test_the_users_list_counts_the_flagged_sign_ins_of_the_last_30_days(app):
    with app.app_context():
        user = make_user("counted", name="Counted Traveller")
        history(
            app,
            user,
            [
                (timedelta(days=45), LONDON),
                (timedelta(days=44, hours=23), CHANGCHUN),  # too old to count
                (timedelta(days=6), LONDON),  # nothing in the 30 days before to compare with
                (timedelta(days=5, hours=23), CHANGCHUN),  # new country, impossible travel
                (timedelta(days=4), LONDON),
                (timedelta(days=3, hours=23), CHANGCHUN),  # impossible travel
            ],
        )
        db.session.commit()
        (row,) = search.search_users("counted").rows
    assert row.recent_flags == {Flag.NEW_COUNTRY: 1, Flag.IMPOSSIBLE_TRAVEL: 2}
