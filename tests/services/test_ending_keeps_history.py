"""Issue 32, item 1: every bulk way sessions end leaves an ended or expired session as it was.

An ended session keeps its end reason and time; an expired one (shown "Expired", never ended by
anyone) is not relabelled by a later revoke, deactivation or logout, and the prune or its next
use ends it as ``expired`` at the moment it ran out, never at "now". Each path's count (what the
flash and the audit event say) is the number of sessions it really ended: here one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from support.admin_helpers import make_user

from portal.extensions import db
from portal.models import AuditEvent, EndReason, User, UserSession, utcnow
from portal.services import operations
from portal.services.operations.actor import Actor
from portal.services.sessions import ending, opening, policy, retention

POLICY = policy.SessionPolicy(timedelta(hours=8), timedelta(hours=2), timedelta(hours=8))


@dataclass
class Story:
    user: User
    device_id: uuid.UUID
    active: uuid.UUID
    expired: uuid.UUID
    expired_at: datetime
    ended: uuid.UUID
    ended_at: datetime


def _story(sub: str) -> Story:
    """A user with one device and three sessions on it: one active, one that expired an hour
    ago unseen, one signed out two hours ago."""
    user = make_user(sub)
    now = utcnow()
    secret = None
    made = []
    for opened in (now - timedelta(minutes=5), now - timedelta(hours=9), now - timedelta(hours=3)):
        session, secret = opening.record_sign_in(
            user,
            device_secret=secret,
            client=opening.ClientInfo(ip_address="81.2.69.142", user_agent=None),
            policy=POLICY,
            geoip_database=None,
            now=opened,
        )
        session.idp_sid = f"sid-{sub}"
        made.append(session)
    active, expired, ended = made
    active.last_used_at = now - timedelta(minutes=1)
    expired_at = (now - timedelta(hours=1)).replace(microsecond=0)
    expired.expires_at = expired.absolute_expires_at = expired_at
    expired.last_used_at = expired_at - timedelta(minutes=30)
    ended_at = (now - timedelta(hours=2)).replace(microsecond=0)
    ended.ended_at, ended.end_reason, ended.last_used_at = (
        ended_at,
        EndReason.SIGNED_OUT.value,
        ended_at,
    )
    db.session.flush()
    return Story(user, active.device_id, active.id, expired.id, expired_at, ended.id, ended_at)


def _assert_history_kept(story: Story, reason: EndReason) -> None:
    db.session.expire_all()
    active = db.session.get(UserSession, story.active)
    assert active.ended_at is not None and active.end_reason == reason.value
    expired = db.session.get(UserSession, story.expired)
    assert expired.ended_at is None, "an expired session is not relabelled"
    assert expired.end_label == "Expired"
    ended = db.session.get(UserSession, story.ended)
    assert (ended.ended_at, ended.end_reason) == (story.ended_at, EndReason.SIGNED_OUT.value)


def _last_event(action: str) -> AuditEvent:
    return (
        db.session.execute(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id.desc())
        )
        .scalars()
        .first()
    )


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield
        db.session.rollback()


def _admin() -> Actor:
    """An operator at the CLI (who may manage every user's devices)."""
    return Actor(make_user("ops-admin"), None, "127.0.0.1", via="cli", label="ops")


def test_deactivation_ends_only_the_active_session(ctx):
    story = _story("traveller")
    ended = operations.deactivate_user(_admin(), story.user)
    assert ended == 1
    _assert_history_kept(story, EndReason.DEACTIVATED)
    assert _last_event("deactivate_user").detail["sessions_ended"] == 1


def test_scim_deactivation_ends_only_the_active_session(ctx):
    story = _story("contractor")
    actor = Actor(None, None, "127.0.0.1", via="scim", label="SCIM")
    assert operations.deactivate_user(actor, story.user) == 1
    _assert_history_kept(story, EndReason.DEACTIVATED)


def test_admin_revoke_all_counts_what_ended(ctx):
    story = _story("alice2")
    ended, _ = operations.revoke_all_sessions(_admin(), story.user, include_current=False)
    assert ended == 1
    _assert_history_kept(story, EndReason.REVOKED_BY_ADMIN)
    assert _last_event("revoke_all_sessions").detail["ended"] == 1


@pytest.mark.parametrize("include_current", [False, True])
def test_sign_out_others_and_everywhere_count_what_ended(ctx, include_current):
    story = _story("bob2")
    # The user acts from a second, active browser session of their own.
    current, _ = opening.record_sign_in(
        story.user,
        device_secret=None,
        client=opening.ClientInfo(ip_address="81.2.69.142", user_agent=None),
        policy=POLICY,
        geoip_database=None,
    )
    actor = Actor(story.user, current, "127.0.0.1")
    ended, ended_current = operations.revoke_all_sessions(
        actor, story.user, include_current=include_current
    )
    assert ended == 1 + int(include_current) and ended_current == include_current
    _assert_history_kept(story, EndReason.REVOKED)
    assert _last_event("revoke_all_sessions").detail["sessions_ended"] == ended


@pytest.mark.parametrize(
    ("operation", "reason", "action"),
    [
        (operations.untrust_device, EndReason.UNTRUSTED, "untrust_device"),
        (operations.remove_device, EndReason.DEVICE_REMOVED, "remove_device"),
        (operations.report_suspicious, EndReason.REPORTED, "reported_suspicious"),
    ],
)
def test_device_changes_end_only_the_active_session(ctx, operation, reason, action):
    story = _story("carol2")
    _, ended = operation(Actor(story.user, None, "127.0.0.1"), story.device_id)
    assert ended == 1
    _assert_history_kept(story, reason)
    assert _last_event(action).detail["sessions_ended"] == 1


def test_signing_a_device_out_counts_what_ended(ctx):
    story = _story("dave2")
    _, ended, _ = operations.end_device_sessions(_admin(), story.device_id, story.user.id)
    assert ended == 1
    _assert_history_kept(story, EndReason.REVOKED_BY_ADMIN)


def test_a_bulk_job_batch_ends_only_the_active_session(ctx):
    story = _story("erin2")
    targets = [(story.user.id, sid) for sid in (story.active, story.expired, story.ended)]
    assert operations.revoke_sessions(_admin(), targets) == 1
    _assert_history_kept(story, EndReason.REVOKED_BY_ADMIN)


@pytest.mark.parametrize("by_sid", [True, False])
def test_back_channel_logout_ends_only_the_active_session(ctx, by_sid):
    story = _story("frank2")
    user, ended = ending.end_idp_sessions(
        story.user.issuer,
        sid=f"sid-{story.user.subject}" if by_sid else None,
        subject=story.user.subject,
    )
    assert (user.id, ended) == (story.user.id, 1)
    _assert_history_kept(story, EndReason.IDP_LOGOUT)


def test_the_prune_ends_an_expired_session_at_its_expiry_and_leaves_ended_ones(ctx):
    story = _story("gina2")
    assert operations.deactivate_user(_admin(), story.user) == 1
    assert retention.expire_sessions(POLICY, now=utcnow()) == 1
    db.session.expire_all()
    expired = db.session.get(UserSession, story.expired)
    assert (expired.ended_at, expired.end_reason) == (story.expired_at, EndReason.EXPIRED.value)
    active = db.session.get(UserSession, story.active)
    assert active.end_reason == EndReason.DEACTIVATED.value
    ended = db.session.get(UserSession, story.ended)
    assert (ended.ended_at, ended.end_reason) == (story.ended_at, EndReason.SIGNED_OUT.value)


def test_an_expired_session_seen_again_ends_at_its_expiry_not_now(ctx):
    story = _story("hank2")
    expired = db.session.get(UserSession, story.expired)
    assert not ending.check_and_touch(expired, POLICY)
    assert (expired.ended_at, expired.end_reason) == (story.expired_at, EndReason.EXPIRED.value)


def test_ending_one_expired_or_ended_session_changes_nothing(ctx):
    story = _story("ivy2")
    for sid in (story.expired, story.ended):
        session = db.session.get(UserSession, sid)
        assert not ending.end_session(session, EndReason.REVOKED, by=story.user)
    assert db.session.get(UserSession, story.active).ended_at is None
    db.session.expire_all()
    assert db.session.get(UserSession, story.expired).ended_at is None
    ended = db.session.get(UserSession, story.ended)
    assert (ended.ended_at, ended.end_reason) == (story.ended_at, EndReason.SIGNED_OUT.value)
