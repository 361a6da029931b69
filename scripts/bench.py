"""Benchmark: request times and query counts on a database of realistic size.

    make bench            # or: .venv/bin/python scripts/bench.py --users 2000 --rounds 30

Builds a throwaway SQLite database (or uses --database-url, e.g. a PostgreSQL one), fills it with
users, devices and sessions through the same service functions sign-in uses, signs one admin in
(a session row, as the OIDC callback would make), then times each page and prints the median and
95th percentile and the number of SQL statements per request. Nothing here asserts a time: it
measures, so changes can be compared.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from support.queries import count_queries  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import AuditEvent, utcnow  # noqa: E402
from portal.services import identity, sessions  # noqa: E402
from portal.services.demo import IPS, USER_AGENTS  # noqa: E402

GEOIP = ROOT / "tests" / "data" / "geoip" / "GeoLite2-City-Test.mmdb"


def populate(users: int, devices: int, signins: int, audit_rows: int) -> str:
    """Fill the database; returns the admin's session id."""
    rng = random.Random(1)
    policy = sessions.SessionPolicy(timedelta(hours=8), timedelta(days=3650), timedelta(days=3650))
    now = utcnow()
    admin_session = None
    for u in range(users):
        groups = ["portal-admins"] if u == 0 else ["staff"]
        user = identity.upsert_user(
            "https://idp.bench",
            {
                "sub": f"user{u}",
                "email": f"user{u}@bench.test",
                "name": f"User {u}",
                "groups": groups,
            },
            "groups",
        )
        for d in range(devices):
            secret = None
            for s in range(signins):
                when = now - timedelta(hours=rng.randrange(1, 24 * 60))
                row, secret = sessions.record_sign_in(
                    user,
                    device_secret=secret,
                    client=sessions.ClientInfo(
                        IPS[(d + s) % len(IPS)], USER_AGENTS[d % len(USER_AGENTS)]
                    ),
                    policy=policy,
                    geoip_database=str(GEOIP),
                    now=when,
                )
                if s < signins - 1:
                    sessions.end_session(row, sessions.EndReason.SIGNED_OUT, by=user, now=when)
        if u == 0:
            row, _ = sessions.record_sign_in(
                user,
                device_secret=None,
                client=sessions.ClientInfo("81.2.69.142", USER_AGENTS[0]),
                policy=policy,
                geoip_database=None,
            )
            admin_session = row.id
        if u % 200 == 0:
            db.session.commit()
    db.session.execute(
        insert(AuditEvent),
        [
            {
                "action": rng.choice(
                    ["sign_in", "sign_out", "revoke_session", "view_user_devices"]
                ),
                "occurred_at": now - timedelta(minutes=i),
                "actor_label": f"user{i % users}@bench.test",
                "detail": {},
            }
            for i in range(audit_rows)
        ],
    )
    db.session.commit()
    return str(admin_session)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument("--signins", type=int, default=3, help="sessions per device")
    parser.add_argument("--audit", type=int, default=20000, help="audit rows")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="portal-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "bench",
            "DATABASE_URL": url,
            "GROUP_PERMISSIONS": {
                "portal-admins": ["viewUserDevices", "manageUserDevices", "viewAuditLog"]
            },
            "WTF_CSRF_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        session_id = populate(args.users, args.devices, args.signins, args.audit)
        built = time.perf_counter() - started
        engine = db.engine
        from sqlalchemy import text

        some_user = db.session.execute(
            text("SELECT id FROM users ORDER BY last_seen_at DESC LIMIT 1 OFFSET 5")
        ).scalar_one()
        some_user = (
            str(some_user)
            if "-" in str(some_user)
            else (
                f"{some_user[:8]}-{some_user[8:12]}-{some_user[12:16]}-{some_user[16:20]}-"
                f"{some_user[20:]}"
            )
        )
    sessions_total = args.users * args.devices * args.signins
    print(
        f"database: {url.split(':')[0]}, {args.users} users, {args.users * args.devices} "
        f"devices, {sessions_total} sessions, {args.audit} audit rows (built in {built:.1f} s)"
    )

    client = app.test_client()
    with client.session_transaction() as s:
        s["_user_id"] = session_id
        s["_fresh"] = True
    pages = [
        ("My devices", "/"),
        ("admin: user search (page 1)", "/admin/users"),
        ("admin: user search q=user1", "/admin/users?q=user1"),
        ("admin: user search page 10", "/admin/users?page=10"),
        ("admin: one user", f"/admin/users/{some_user}"),
        ("admin: audit log", "/admin/audit"),
    ]
    print(f"{'page':34} {'status':>6} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    for label, path in pages:
        times = []
        status = None
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            status = client.get(path).status_code
            times.append((time.perf_counter() - t0) * 1000)
        with count_queries(engine) as statements:
            client.get(path)
        times.sort()
        p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
        print(
            f"{label:34} {status:>6} {statistics.median(times):>10.1f} {p95:>8.1f} "
            f"{len(statements):>8}"
        )


if __name__ == "__main__":
    main()
