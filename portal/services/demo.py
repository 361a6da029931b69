"""Demo users with devices of every type, for ``make run`` and screenshots."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select

from ..extensions import db
from ..models import EndReason, User, utcnow
from . import identity
from .devices import trust_device
from .sessions import ClientInfo, SessionPolicy, end_session, record_sign_in

DEMO_USERS = [
    # sub, email, name, groups
    ("admin", "admin@example.com", "Ada Admin", ["portal-admins"]),
    ("employee", "employee@example.com", "Eve Employee", ["staff"]),
    ("helpdesk", "helpdesk@example.com", "Hal Helpdesk", ["helpdesk"]),
    ("traveller", "traveller@example.com", "Tess Traveller", ["staff"]),
    ("contractor", "contractor@example.com", "Carl Contractor", []),
]

USER_AGENTS = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
]

# Addresses that resolve in MaxMind's GeoLite2 City test database (see tests/data/geoip/README.md).
IPS = [
    "81.2.69.142",
    "2.125.160.216",
    "216.160.83.56",
    "89.160.20.112",
    "175.16.199.0",
    "67.43.156.0",
]


def load_demo_data(issuer: str, *, geoip_database: str | None, force: bool = False) -> int:
    """Create the demo users and their history; returns how many users were created."""
    if not force and db.session.execute(select(func.count(User.id))).scalar_one():
        return 0
    rng = random.Random(20261125)
    policy = SessionPolicy(timedelta(hours=8), timedelta(days=3650), timedelta(days=3650))
    now = utcnow()
    created = 0
    for sub, email, name, groups in DEMO_USERS:
        user = identity.upsert_user(
            issuer, {"sub": sub, "email": email, "name": name, "groups": groups}, "groups"
        )
        user.created_at = now - timedelta(days=30)  # they have been around longer than today
        created += 1
        for i, ua in enumerate(USER_AGENTS[: 3 + rng.randrange(4)]):
            secret = None
            # A few sign-ins per device spread over the last weeks; the older ones ended.
            for k in range(1 + rng.randrange(3)):
                when = now - timedelta(days=rng.randrange(1, 28), minutes=rng.randrange(600))
                if k == 0 and i < 2:
                    when = now - timedelta(minutes=rng.randrange(5, 240))
                session, secret = record_sign_in(
                    user,
                    device_secret=secret,
                    client=ClientInfo(ip_address=IPS[(i + k) % len(IPS)], user_agent=ua),
                    policy=policy,
                    geoip_database=geoip_database,
                    now=when,
                )
                if k > 0 or i >= 2:
                    end_session(
                        session,
                        rng.choice([EndReason.SIGNED_OUT, EndReason.EXPIRED, EndReason.REVOKED]),
                        by=user,
                        now=when + timedelta(hours=1),
                    )
            device = session.device
            if i % 2 == 0:
                trust_device(device, rng.choice(["HIGH", "MEDIUM", "LOW"]), 30, now=now)
            elif i == 3:
                trust_device(device, "LOW", 30, now=now - timedelta(days=45))  # lapsed
    db.session.flush()
    return created
