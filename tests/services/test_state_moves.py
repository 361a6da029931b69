"""Issue 32: every move docs/states.md forbids is refused by the operation itself (a domain
error, not page logic), and a refused move changes nothing: not the device, not its sessions,
not the alert, and no audit event is written.

Each case builds one small story (a user, two browsers on two devices, an alert), makes the
state the case needs through the same operations the pages call, then tries the forbidden move.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.admin_helpers import make_user

from portal.extensions import db
from portal.models import AlertAnswer, AuditEvent, Device, SignInAlert, User, UserSession, utcnow
from portal.services import operations
from portal.services.errors import Conflict, DomainError, NotFound
from portal.services.operations.actor import Actor
from portal.services.outbox import alerts
from portal.services.sessions import opening, policy

POLICY = policy.SessionPolicy(timedelta(hours=8), timedelta(hours=2), timedelta(hours=8))
ALERTS = alerts.AlertPolicy(
    enabled=True,
    default_mode=alerts.AlertMode.NEW_DEVICE,
    force_flagged=True,
    base_url="http://portal.test/",
    sender="portal@example.com",
)


@dataclass
class Story:
    user: User
    here: UserSession  # the browser the user acts from
    there: UserSession  # a second browser, on another device
    alert: SignInAlert  # the alert about the second browser's sign-in

    @property
    def me(self) -> Actor:
        return Actor(self.user, self.here, "127.0.0.1")

    @property
    def device(self) -> uuid.UUID:
        return self.there.device_id


def _sign_in(user: User) -> UserSession:
    session, _ = opening.record_sign_in(
        user,
        device_secret=None,
        client=opening.ClientInfo(ip_address="81.2.69.142", user_agent=None),
        policy=POLICY,
        geoip_database=None,
    )
    return session


@pytest.fixture
def story(app):
    with app.test_request_context():
        user = make_user(f"states-{uuid.uuid4().hex[:8]}")
        here, there = _sign_in(user), _sign_in(user)
        alert = alerts._queue(user, there, ALERTS, utcnow(), new_device=True)
        db.session.flush()
        yield Story(user, here, there, alert)
        db.session.rollback()


def _snapshot(story: Story) -> tuple:
    """Everything a refused move must leave as it was."""
    db.session.expire_all()
    devices = db.session.execute(
        select(Device).where(Device.user_id == story.user.id).order_by(Device.id)
    ).scalars()
    sessions = db.session.execute(
        select(UserSession).where(UserSession.user_id == story.user.id).order_by(UserSession.id)
    ).scalars()
    alert = db.session.get(SignInAlert, story.alert.id)
    events = db.session.execute(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.target_user_id == story.user.id)
    ).scalar()
    return (
        [
            (
                d.name,
                d.is_trusted,
                d.trust_level,
                d.trust_expires_at,
                d.removed_at,
                d.reported_suspicious_at,
            )
            for d in devices
        ],
        [(s.ended_at, s.end_reason, s.expires_at) for s in sessions],
        (alert.answer, alert.answered_at),
        events,
    )


def _report(s: Story) -> None:
    operations.report_suspicious(s.me, s.device)


def _remove(s: Story) -> None:
    operations.remove_device(s.me, s.device)


def _end_there(s: Story) -> None:
    operations.revoke_session(s.me, s.there.id)


def _expire_there(s: Story) -> None:
    s.there.expires_at = s.there.absolute_expires_at = utcnow() - timedelta(minutes=1)
    db.session.flush()


def _confirm(s: Story) -> None:
    operations.answer_alert(s.me, s.alert, AlertAnswer.CONFIRMED, s.alert.device)


def _secure(s: Story) -> None:
    operations.answer_alert(s.me, s.alert, AlertAnswer.SECURED, s.alert.device)


def _age_alert(s: Story) -> None:
    s.alert.created_at = utcnow() - timedelta(days=8)
    db.session.flush()


def _nothing(s: Story) -> None:
    return None


def _other_user() -> Actor:
    stranger = make_user(f"stranger-{uuid.uuid4().hex[:8]}")
    return Actor(stranger, _sign_in(stranger), "127.0.0.1")


# (the state first, the forbidden move, the error it must raise)
MOVES: dict[str, tuple[Callable[[Story], None], Callable[[Story], object], type[DomainError]]] = {
    "trust a reported device": (
        _report,
        lambda s: operations.trust_device(s.me, s.device, "high", 30),
        Conflict,
    ),
    "report a reported device again": (
        _report,
        lambda s: operations.report_suspicious(s.me, s.device),
        Conflict,
    ),
    "clear the report of a device never reported": (
        _nothing,
        lambda s: operations.clear_report(s.me, s.device),
        Conflict,
    ),
    "report the device in use": (
        _nothing,
        lambda s: operations.report_suspicious(s.me, s.here.device_id),
        Conflict,
    ),
    "trust a removed device": (
        _remove,
        lambda s: operations.trust_device(s.me, s.device, "high", 30),
        NotFound,
    ),
    "rename a removed device": (
        _remove,
        lambda s: operations.rename_device(s.me, s.device, "Mine after all"),
        NotFound,
    ),
    "untrust a removed device": (
        _remove,
        lambda s: operations.untrust_device(s.me, s.device),
        NotFound,
    ),
    "report a removed device": (
        _remove,
        lambda s: operations.report_suspicious(s.me, s.device),
        NotFound,
    ),
    "remove a removed device": (
        _remove,
        lambda s: operations.remove_device(s.me, s.device),
        NotFound,
    ),
    "sign out a removed device": (
        _remove,
        lambda s: operations.end_device_sessions(s.me, s.device),
        NotFound,
    ),
    "end a session that ended": (
        _end_there,
        lambda s: operations.revoke_session(s.me, s.there.id),
        NotFound,
    ),
    "end a session that expired": (
        _expire_there,
        lambda s: operations.revoke_session(s.me, s.there.id),
        NotFound,
    ),
    "keep alive a session that ended": (
        _end_there,
        lambda s: operations.heartbeat(
            Actor(s.user, s.there, "127.0.0.1"), str(s.there.id), POLICY
        ),
        NotFound,
    ),
    "keep alive a session that expired": (
        _expire_there,
        lambda s: operations.heartbeat(
            Actor(s.user, s.there, "127.0.0.1"), str(s.there.id), POLICY
        ),
        NotFound,
    ),
    "confirm an alert answered yes already": (
        _confirm,
        lambda s: operations.answer_alert(s.me, s.alert, AlertAnswer.CONFIRMED, s.alert.device),
        Conflict,
    ),
    "secure an alert answered yes": (
        _confirm,
        lambda s: operations.answer_alert(s.me, s.alert, AlertAnswer.SECURED, s.alert.device),
        Conflict,
    ),
    "confirm an alert answered no": (
        _secure,
        lambda s: operations.answer_alert(s.me, s.alert, AlertAnswer.CONFIRMED, s.alert.device),
        Conflict,
    ),
    "confirm an alert whose device was reported": (
        _report,
        lambda s: operations.answer_alert(s.me, s.alert, AlertAnswer.CONFIRMED, s.alert.device),
        Conflict,
    ),
    "secure an alert older than the device's report": (
        _report,
        lambda s: operations.answer_alert(s.me, s.alert, AlertAnswer.SECURED, s.alert.device),
        Conflict,
    ),
    "answer an alert after its links lapsed": (
        _age_alert,
        lambda s: operations.answer_alert(s.me, s.alert, AlertAnswer.CONFIRMED, s.alert.device),
        Conflict,
    ),
    "trust another user's device": (
        _nothing,
        lambda s: operations.trust_device(_other_user(), s.device, "high", 30),
        NotFound,
    ),
    "sign out another user's device": (
        _nothing,
        lambda s: operations.end_device_sessions(_other_user(), s.device),
        NotFound,
    ),
    "end another user's session": (
        _nothing,
        lambda s: operations.revoke_session(_other_user(), s.there.id),
        NotFound,
    ),
    "clear the report of another user's device": (
        _report,
        lambda s: operations.clear_report(_other_user(), s.device),
        NotFound,
    ),
}


@pytest.mark.parametrize("name", list(MOVES))
def test_a_forbidden_move_is_refused_and_changes_nothing(story, name):
    arrange, move, error = MOVES[name]
    arrange(story)
    db.session.flush()
    before = _snapshot(story)
    with pytest.raises(error):
        move(story)
    db.session.flush()
    assert _snapshot(story) == before, name


def test_every_forbidden_move_of_the_model_is_tested():
    """docs/states.md's "Refused moves" table lists each forbidden move; each has a case here
    (same words), so the document and the enforcement cannot drift apart."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "states.md").read_text()
    section = text.split("## Refused moves", 1)[1].split("\n## ", 1)[0]
    listed = {
        line.split("|")[1].strip()
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| Move ")
    }
    assert listed == set(MOVES)
