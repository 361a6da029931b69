"""Demo users with devices of every type, for ``make run`` and screenshots.

The history is made oldest-first, as it would have happened: each device is first seen at its
first sign-in and last active at its last one, ended sessions end after they began and before
the next, and the devices' addresses are those of their latest sign-ins. Everyone signs in from
one country on trusted devices, except Tess Traveller: the one user with something to
investigate (an untrusted phone signing in from Linköping 40 minutes after her laptop's London
sign-in: a new country, and impossible travel).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from .extensions import db
from .models import EndReason, User, UserSession, utcnow
from .services.devices.changes import trust_device
from .services.sessions.ending import end_session
from .services.sessions.opening import ClientInfo, record_sign_in
from .services.sessions.policy import SessionPolicy
from .services.users import identity

DEMO_USERS = [
    # sub, email, name, groups
    ("admin", "admin@example.com", "Ada Admin", ["portal-admins"]),
    ("employee", "employee@example.com", "Eve Employee", ["staff"]),
    ("helpdesk", "helpdesk@example.com", "Hal Helpdesk", ["helpdesk"]),
    ("traveller", "traveller@example.com", "Tess Traveller", ["staff"]),
    ("contractor", "contractor@example.com", "Carl Contractor", []),
]

MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1"
)
FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"

# Addresses that resolve in MaxMind's GeoLite2 City test database (see tests/data/geoip/README.md).
LONDON, BOXFORD = "81.2.69.142", "2.125.160.216"  # GB
MILTON = "216.160.83.56"  # US
LINKOPING = "89.160.20.112"  # SE
CHANGCHUN = "175.16.199.0"  # CN
BHUTAN = "67.43.156.0"  # BT, no city

IPS = [LONDON, BOXFORD, MILTON, LINKOPING, CHANGCHUN, BHUTAN]


@dataclass(frozen=True)
class DemoDevice:
    """One device of a demo user: its user agent, where it signs in from, and when."""

    user_agent: str
    ip: str
    # Each sign-in: (how long ago, how long it lasted; None = still signed in).
    sign_ins: tuple[tuple[timedelta, timedelta | None], ...]
    trust: str | None = None  # a level, "lapsed", or None (never trusted)


def _days(d: float, hours: float = 0) -> timedelta:
    return timedelta(days=d, hours=hours)


H = timedelta(hours=1)

PLANS: dict[str, list[DemoDevice]] = {
    "admin": [
        DemoDevice(
            MAC, LONDON, ((_days(26), 8 * H), (_days(12), 7 * H), (_days(0, 3), None)), "HIGH"
        ),
        DemoDevice(IPHONE, BOXFORD, ((_days(20), 2 * H), (_days(1, 5), None)), "MEDIUM"),
        DemoDevice(IPAD, LONDON, ((_days(17), 3 * H),), "lapsed"),
    ],
    "employee": [
        DemoDevice(
            WINDOWS, MILTON, ((_days(27), 9 * H), (_days(9), 8 * H), (_days(0, 2), None)), "HIGH"
        ),
        DemoDevice(ANDROID, MILTON, ((_days(15), H), (_days(2), None)), "LOW"),
        DemoDevice(FIREFOX, MILTON, ((_days(22), 4 * H),)),
    ],
    "helpdesk": [
        DemoDevice(FIREFOX, LINKOPING, ((_days(25), 8 * H), (_days(0, 4), None)), "MEDIUM"),
        DemoDevice(IPHONE, LINKOPING, ((_days(11), 2 * H), (_days(3), 5 * H)), "LOW"),
    ],
    "traveller": [
        # Home in London for weeks...
        DemoDevice(
            MAC, LONDON, ((_days(24), 8 * H), (_days(10), 8 * H), (_days(0, 5), None)), "HIGH"
        ),
        # ...then a phone signs in from Linköping 40 minutes after the laptop's London sign-in.
        DemoDevice(ANDROID, LINKOPING, ((_days(0, 5) - timedelta(minutes=40), None),)),
        DemoDevice(IPAD, LONDON, ((_days(18), 2 * H),), "lapsed"),
    ],
    "contractor": [
        DemoDevice(
            WINDOWS,
            CHANGCHUN,
            ((_days(21), 6 * H), (_days(6), 6 * H), (_days(0, 1), None)),
            "MEDIUM",
        ),
        DemoDevice(ANDROID, CHANGCHUN, ((_days(13), H), (_days(4), 2 * H))),
    ],
}

# How the ended sessions ended, in turn: mostly signed out or ran out, once revoked.
ENDINGS = [EndReason.SIGNED_OUT, EndReason.EXPIRED, EndReason.SIGNED_OUT, EndReason.REVOKED]


def load_demo_data(issuer: str, *, geoip_database: str | None, force: bool = False) -> int:
    """Create the demo users and their history; returns how many users were created."""
    if not force and db.session.execute(select(func.count(User.id))).scalar_one():
        return 0
    policy = SessionPolicy(timedelta(hours=12), timedelta(days=3650), timedelta(days=3650))
    now = utcnow()
    created = 0
    for sub, email, name, groups in DEMO_USERS:
        user = identity.upsert_user(
            issuer, {"sub": sub, "email": email, "name": name, "groups": groups}, "groups"
        )
        created += 1
        _load_history(user, PLANS[sub], policy, geoip_database, now)
    db.session.flush()
    return created


def _load_history(user: User, plan: list[DemoDevice], policy, geoip_database, now: datetime):
    """Replay the user's sign-ins oldest first, each device keeping its cookie's secret."""
    events = sorted(
        ((now - ago, i, lasted) for i, d in enumerate(plan) for ago, lasted in d.sign_ins),
        key=lambda e: e[0],
    )
    secrets: dict[int, str | None] = {}
    made: dict[int, list[UserSession]] = {}
    endings = iter(ENDINGS * 10)
    for when, i, lasted in events:
        spec = plan[i]
        session, secrets[i] = record_sign_in(
            user,
            device_secret=secrets.get(i),
            client=ClientInfo(ip_address=spec.ip, user_agent=spec.user_agent),
            policy=policy,
            geoip_database=geoip_database,
            now=when,
        )
        made.setdefault(i, []).append(session)
        if lasted is None:
            session.last_used_at = now - timedelta(minutes=5 + 7 * i)
            session.expires_at = now + policy.lifetime
            continue
        until = when + lasted
        session.last_used_at = until
        reason = next(endings)
        if reason is EndReason.EXPIRED:
            session.expires_at = until  # ran out unseen: over, never ended by anyone
        else:
            end_session(session, reason, by=user, now=until)
    user.created_at = events[0][0]
    for i, spec in enumerate(plan):
        sessions = made[i]
        device = sessions[-1].device
        device.first_seen_at = sessions[0].created_at
        device.last_seen_at = max(s.last_used_at for s in sessions)
        if spec.trust == "lapsed":  # trusted for a week at its first sign-in, long lapsed
            trust_device(device, "LOW", 7, now=sessions[0].created_at + timedelta(hours=1))
        elif spec.trust:
            trust_device(device, spec.trust, 30, now=sessions[0].created_at + timedelta(hours=1))
    latest = max((s for group in made.values() for s in group), key=lambda s: s.last_used_at)
    user.last_seen_at = latest.last_used_at
