"""The demo data that `make run` loads: every device type, locations, trust and history."""

from __future__ import annotations

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
