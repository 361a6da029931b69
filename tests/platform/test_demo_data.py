"""The demo data that `make run` loads: every device type, locations, trust and history."""

from __future__ import annotations

from itertools import pairwise

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Device, User, UserSession


def test_demo_data_loads_once_with_a_realistic_mix(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["portal", "demo-data", "--issuer", "http://127.0.0.1:9400"])
    assert result.exit_code == 0, result.output
    assert "5 users created" in result.output
    again = runner.invoke(args=["portal", "demo-data"])
    assert "already loaded" in again.output

    with app.app_context():
        assert db.session.execute(select(func.count(User.id))).scalar_one() == 5
        types = set(db.session.execute(select(Device.device_type)).scalars())
        assert types == {"DESKTOP", "MOBILE", "TABLET"}
        cities = set(db.session.execute(select(Device.city)).scalars())
        assert {"London", "Linköping"} <= cities
        devices = db.session.execute(select(Device)).scalars().all()
        assert any(d.trusted_now() for d in devices)
        assert any(not d.is_trusted for d in devices)
        assert any(d.is_trusted and not d.trusted_now() for d in devices)  # lapsed trust
        ended = db.session.execute(
            select(func.count()).where(UserSession.ended_at.is_not(None))
        ).scalar_one()
        active = db.session.execute(
            select(func.count()).where(UserSession.ended_at.is_(None))
        ).scalar_one()
        assert ended > 0 and active > 0


def _load(app):
    result = app.test_cli_runner().invoke(
        args=["portal", "demo-data", "--issuer", "http://127.0.0.1:9400"]
    )
    assert result.exit_code == 0, result.output


def test_demo_history_is_consistent_with_itself(app):
    _load(app)
    with app.app_context():
        devices = db.session.execute(select(Device)).scalars().all()
        users = db.session.execute(select(User)).scalars().all()
        # A history to check: every demo user, and devices signed in to more than once.
        assert len(users) == 5 and sum(len(d.sessions) > 1 for d in devices) >= 2
        for device in devices:
            sessions = sorted(device.sessions, key=lambda s: s.created_at)
            assert sessions, device.name
            # First seen at its first sign-in, last active at its last use, at its last address.
            assert device.first_seen_at == sessions[0].created_at
            assert device.last_seen_at == max(s.last_used_at for s in sessions)
            assert device.ip_address == sessions[-1].ip_address
            for earlier, later in pairwise(sessions):
                assert earlier.ended_at is None or earlier.ended_at <= later.created_at
            for s in sessions:
                assert s.created_at <= s.last_used_at
                assert s.ended_at is None or s.created_at < s.ended_at
        for user in users:
            first = db.session.execute(
                select(func.min(UserSession.created_at)).where(UserSession.user_id == user.id)
            ).scalar_one()
            assert user.created_at == first


def test_only_the_traveller_has_sign_ins_to_investigate(app):
    from portal.services.devices.flags import Flag
    from portal.services.users import history as user_history

    _load(app)
    with app.app_context():
        flagged = {}
        people = db.session.execute(select(User)).scalars().all()
        assert len(people) == 5
        for user in people:
            history = user_history.user_history(user)
            found = [f for fs in history.session_findings.values() for f in fs]
            if found:
                flagged[user.subject] = found
        assert set(flagged) == {"traveller"}
        [travel] = [f for f in flagged["traveller"] if f.flag is Flag.IMPOSSIBLE_TRAVEL]
        [new_country] = [f for f in flagged["traveller"] if f.flag is Flag.NEW_COUNTRY]
        assert travel.reason.startswith("London, GB → Linköping, SE")
        assert "SE" in new_country.reason


def test_in_the_users_list_only_the_traveller_is_flagged(app, auth):
    _load(app)
    page = auth.new_client("viewer").get("/admin/users").get_data(as_text=True)
    flagged = {
        row.split("</a>", 1)[0].rsplit(">", 1)[1]
        for row in page.split("<tr data-user-id=")[1:]
        if "data-flag=" in row
    }
    # (The viewer's own browser, new and untrusted, is flagged too: it is not demo data.)
    assert flagged - {"Vic Viewer"} == {"Tess Traveller"}
