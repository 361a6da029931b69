"""`make bench` builds its dataset from the code's own pieces (the demo data's browsers and
addresses, the migrations up to its base): a small build, migrated to head and read by the
portal, keeps it in step with them. The benchmark itself never runs in `make test`."""

from __future__ import annotations

from flask_migrate import upgrade
from sqlalchemy import func, select

from portal import create_app
from portal.extensions import db
from portal.models import Device, User, UserSession
from portal.services.users import search
from scripts.bench import build, dataset


def test_a_small_bench_dataset_builds_migrates_to_head_and_serves(tmp_path):
    url = f"sqlite:///{tmp_path}/bench.db"
    spec = dataset.DatasetSpec("sqlite", 12, "http://127.0.0.1:9477")
    built = build.build_dataset(spec, url, url)
    assert built["rows"]["users"] == 12 + len(dataset.CALLERS)

    app = create_app({"ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "t"})
    with app.app_context():
        upgrade()
        assert db.session.execute(select(func.count()).select_from(Device)).scalar() == (
            spec.devices
        )
        assert db.session.execute(select(func.count()).select_from(UserSession)).scalar() == (
            spec.sessions
        )
        found = search.search_users("user1")
        assert found.total >= 1 and all("user1" in r.user.email for r in found.rows)
        assert db.session.execute(select(User).where(User.subject == "bench-admin")).scalar()
        db.session.remove()
        db.engine.dispose()


def test_a_million_users_have_five_browsers_each_but_the_admin_routes_target_keeps_ten(tmp_path):
    million = dataset.DatasetSpec.for_size("sqlite", 1_000_000, "http://127.0.0.1:9477")
    assert (million.devices, million.sessions) == (5_000_029, 10_000_058)
    assert dataset.DatasetSpec.for_size("sqlite", 100_000, "x").sessions == 2_000_048

    url = f"sqlite:///{tmp_path}/bench.db"
    spec = dataset.DatasetSpec.for_size("sqlite", 12, "http://127.0.0.1:9477", devices_per_user=3)
    assert spec.key() != dataset.DatasetSpec("sqlite", 12, "http://127.0.0.1:9477").key()
    built = build.build_dataset(spec, url, url)
    assert built["rows"]["sessions"] == spec.sessions == 2 * (11 * 3 + 10 + 24)

    app = create_app({"ENV": "testing", "DATABASE_URL": url, "SECRET_KEY": "t"})
    with app.app_context():
        per_user = dict(
            db.session.execute(
                select(User.subject, func.count(Device.id)).join(Device).group_by(User.subject)
            ).all()
        )
        assert per_user[dataset.target_subject(12)] == 10
        assert per_user["user1"] == 3 and per_user["bench-user"] == 10
        db.session.remove()
        db.engine.dispose()
