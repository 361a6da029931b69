"""Ten devices of one person, as issue 32 measured My devices: this browser, two more signed in,
five browsers signed out (two of them named alike) and two API tokens."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal import demo
from portal.extensions import db
from portal.models import EndReason, User, utcnow
from portal.services import tokens
from portal.services.sessions import ending

from .admin_helpers import sign_in_at

# (user agent, ip, hours ago, still signed in)
BROWSERS = [
    (demo.IPHONE, demo.BOXFORD, 2, True),
    (demo.WINDOWS, demo.MILTON, 5, True),
    (demo.IPHONE, demo.LONDON, 30, False),  # a second "Safari on iPhone"
    (demo.ANDROID, demo.LINKOPING, 50, False),
    (demo.IPAD, demo.LONDON, 80, False),
    (demo.MAC, demo.LONDON, 120, False),
    (demo.FIREFOX, demo.MILTON, 200, False),
]


def add_nine_devices(app, login: str) -> None:
    """Give ``login`` (signed in once already, on this browser) nine more devices."""
    with app.app_context():
        user = db.session.execute(select(User).where(User.subject == login)).scalar_one()
        now = utcnow()
        for agent, ip, hours, signed_in in BROWSERS:
            session, _ = sign_in_at(app, user, now - timedelta(hours=hours), ip, user_agent=agent)
            if not signed_in:
                ending.end_session(
                    session, EndReason.SIGNED_OUT, by=user, now=now - timedelta(hours=hours - 1)
                )
        for name in ("backup script", "deploy bot"):
            token, _ = tokens.create(user, name=name, scopes=["devices:read"], days=30)
            ending.end_session(
                token.session, EndReason.REVOKED, by=user, now=now - timedelta(hours=2)
            )
        db.session.commit()
