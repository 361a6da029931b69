"""Example bodies of each answer model: fixed values, so the document is the same on every
request."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from ..shapes.audit import Event, EventList, EventUser
from ..shapes.base import Body
from ..shapes.envelope import (
    Device,
    DeviceAnswer,
    DeviceDetail,
    DeviceList,
    DeviceSession,
    EnvelopeMessage,
    HeartbeatAnswer,
    SecurityEvent,
    SecurityEventList,
    Session,
    SessionList,
    TrustAnswer,
)
from ..shapes.sign_ins import JobStarted, JobState, SignIn, SignInList
from ..shapes.token_rows import DeviceInfo, TokenRow, TokenRowList

_WHEN = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
_LATER = datetime(2026, 12, 25, 18, 0, tzinfo=UTC)
_DEVICE_ID = uuid.UUID("5f0c6d1e-8a4b-4c3e-9d2a-1b7e6f5a4c3d")
_SESSION_ID = uuid.UUID("0b9e8d7c-6f5a-4e3d-8c2b-1a0f9e8d7c6b")
_USER_ID = uuid.UUID("3c2b1a0f-9e8d-4c7b-a6f5-e4d3c2b1a0f9")


def _example_device(**more):
    return dict(
        id=_DEVICE_ID,
        device_name="Safari on iPhone",
        device_type="MOBILE",
        os="iOS 17.1",
        browser="Safari",
        ip_address="81.2.69.142",
        country="United Kingdom",
        city="London",
        is_trusted=True,
        trust_level="HIGH",
        last_seen=_WHEN,
        created_at=_WHEN,
        trust_expires_at=_LATER,
        **more,
    )


def _example_session(**more):
    return dict(
        id=_SESSION_ID,
        ip_address="81.2.69.142",
        location="London, GB",
        started_at=_WHEN,
        last_activity=_WHEN,
        expires_at=_LATER,
        login_method="oidc",
        **more,
    )


def _example_token_row():
    info = DeviceInfo(
        device_id=_DEVICE_ID,
        device_type="mobile",
        device_name="Safari on iPhone",
        device_model="iPhone",
        os_name="iOS",
        os_version="17.1",
        app_version=None,
        ip_address="81.2.69.142",
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Safari/604.1",
        last_location="London, GB",
    )
    return TokenRow(
        id=_SESSION_ID, device_info=info, last_used_at=_WHEN, created_at=_WHEN, expires_at=_LATER
    )


def example_bodies() -> dict[type[Body], Body]:
    """An example body of each answer model, built from the models themselves."""
    done = "Device removed successfully"
    return {
        DeviceList: DeviceList(devices=[Device(**_example_device())]),
        DeviceAnswer: DeviceAnswer(
            device=DeviceDetail(
                **_example_device(
                    user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)",
                    device_fingerprint="9f86d081884c7d659a2feaa0c55ad015"
                    "a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    sessions=[DeviceSession(**_example_session())],
                )
            )
        ),
        SessionList: SessionList(
            sessions=[Session(**_example_session(device_name="Safari on iPhone"))]
        ),
        SecurityEventList: SecurityEventList(
            events=[
                SecurityEvent(
                    type="alert_sent",
                    time=_WHEN,
                    device_id=_DEVICE_ID,
                    device_name="Safari on iPhone",
                    location="London, GB",
                    ip_address="81.2.69.142",
                    detail="New device",
                )
            ]
        ),
        EnvelopeMessage: EnvelopeMessage(message=done),
        TrustAnswer: TrustAnswer(message="Device trusted successfully", trust_expires_at=_LATER),
        HeartbeatAnswer: HeartbeatAnswer(message="Session updated successfully", new_expiry=_LATER),
        TokenRowList: TokenRowList([_example_token_row()]),
        SignInList: SignInList(
            [
                SignIn(
                    id=_SESSION_ID,
                    user=EventUser(id=_USER_ID, email="ada@example.com"),
                    signed_in_at=_WHEN,
                    device_id=_DEVICE_ID,
                    device_name="Safari on iPhone",
                    device_type="mobile",
                    browser="Safari",
                    os="iOS",
                    ip_address="203.0.113.7",
                    location="London, GB",
                    login_method="oidc",
                    status="active",
                    active=True,
                    ended_at=None,
                    flags=["new_country"],
                )
            ]
        ),
        JobStarted: JobStarted(job_id=_SESSION_ID, matched=1240),
        JobState: JobState(status="running", done=400, total=1240),
        EventList: EventList(
            [
                Event(
                    id=1042,
                    time=_WHEN,
                    action="revoke_session",
                    actor=EventUser(id=_USER_ID, email="ada@example.com"),
                    target=EventUser(id=_USER_ID, email="ada@example.com"),
                    device=_DEVICE_ID,
                    session=_SESSION_ID,
                    ip="81.2.69.142",
                    location="London, GB",
                    via="api",
                    details={},
                )
            ]
        ),
    }
