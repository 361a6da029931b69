"""Flashback "device-session-management" routes: bodies carry ``success``.

Every id is looked up within the caller's own devices and sessions, so another user's id is
"not found", exactly like one that does not exist. Changes go through ``services.operations``,
the same functions the My devices pages call, and each writes one audit event.
"""

from __future__ import annotations

from flask import current_app

from ..auth.principal import session_policy
from ..services import operations
from ..services.audit import activity
from ..services.devices import changes, reads
from .auth import bearer
from .blueprints import envelope
from .conditional import POLL, polled
from .declarations import PathName, documented, link, parsed_body
from .errors import ApiError, failure
from .shapes.envelope import (
    Device,
    DeviceAnswer,
    DeviceDetail,
    DeviceList,
    EnvelopeMessage,
    HeartbeatAnswer,
    SecurityEvent,
    SecurityEventList,
    Session,
    SessionList,
    TrustAnswer,
    TrustRequest,
)

DEVICE_NOT_FOUND = "Device not found"
_ANY = (401, 403)
_ONE = (401, 403, 404)  # a route about one device or session of the caller's
_SESSION_ID = {"session_id": PathName("id")}  # the Flashback document's name


@envelope.get("/devices")
@documented(
    "The caller's devices",
    ok=DeviceList,
    errors=_ANY,
    **POLL,
    links={
        "GetDevice": link("get_device", "The first device", id="$response.body#/devices/0/id"),
        "UntrustDevice": link(
            "untrust_device", "Untrust the first device", id="$response.body#/devices/0/id"
        ),
        "RemoveDevice": link(
            "remove_device", "Remove the first device", id="$response.body#/devices/0/id"
        ),
    },
)
@failure("Failed to retrieve devices")
@bearer("devices:read")
@polled("devices", per_device=True)
def list_devices(principal):
    """The caller's devices, the one this token came from first (304 when unchanged)."""
    rows = reads.device_rows(
        principal.user_id, sessions=False, current_device_id=principal.device_id
    )
    return DeviceList(devices=[Device.of(r) for r in rows])


@envelope.get("/devices/<id>")
@documented("One of the caller's devices with its active sessions", ok=DeviceAnswer, errors=_ONE)
@failure("Failed to retrieve device details")
@bearer("devices:read")
def get_device(principal, id: str):
    """One of the caller's devices with its active sessions (the pages show the login history)."""
    found = reads.device_row(principal.user_id, id)
    if found is None:
        raise ApiError(404, DEVICE_NOT_FOUND)
    return DeviceAnswer(device=DeviceDetail.of(found)).answer()


@envelope.post("/devices/trust")
@documented(
    "Trust the caller's device with this fingerprint",
    ok=TrustAnswer,
    errors=(400, *_ONE, 409),
    error_texts={409: "The device was reported as not the user: its owner clears the report first"},
    body=TrustRequest,
)
@failure("Failed to trust device")
@bearer("devices:write")
def trust_device(principal):
    """Trust the caller's device with that fingerprint for PORTAL_DEVICE_TRUST_DAYS, at the
    requested level (HIGH by default); a device reported as not the user is refused (409)
    until its owner clears the report on its page."""
    wanted: TrustRequest = parsed_body()
    found = changes.get_device_by_fingerprint(principal.user_id, wanted.fingerprint)
    if found is None:
        raise ApiError(404, DEVICE_NOT_FOUND)
    _, expires = operations.trust_device(
        principal.actor, found.id, wanted.trust_level, current_app.config["DEVICE_TRUST_DAYS"]
    )
    return TrustAnswer(message="Device trusted successfully", trust_expires_at=expires).answer()


@envelope.post("/devices/<id>/untrust")
@documented("Untrust a device and end its sessions", ok=EnvelopeMessage, errors=_ONE)
@failure("Failed to untrust device")
@bearer("devices:write")
def untrust_device(principal, id: str):
    """Stop trusting one of the caller's devices and end its sessions."""
    operations.untrust_device(principal.actor, id)
    return EnvelopeMessage(message="Device untrusted successfully").answer()


@envelope.delete("/devices/<id>")
@documented("Remove a device and end its sessions", ok=EnvelopeMessage, errors=_ONE)
@failure("Failed to remove device")
@bearer("devices:write")
def remove_device(principal, id: str):
    """Remove one of the caller's devices: its sessions end, its rows stay for the history."""
    operations.remove_device(principal.actor, id)
    return EnvelopeMessage(message="Device removed successfully").answer()


@envelope.get("/account/security-events")
@documented(
    "The caller's recent security activity (14 days, newest first)",
    ok=SecurityEventList,
    errors=_ANY,
)
@failure("Failed to retrieve security events")
@bearer("devices:read")
def list_security_events(principal):
    """The caller's recent security activity (14 days, newest first): flagged sign-ins, alerts
    mailed, their own reports and confirmations, sign-outs by an administrator."""
    found = activity.security_events(principal.user_id)
    return SecurityEventList(events=[SecurityEvent.of(e) for e in found]).answer()


@envelope.get("/sessions")
@documented(
    "The caller's active sessions",
    ok=SessionList,
    errors=_ANY,
    **POLL,
    links={
        "RevokeSession": link(
            "revoke_session", "End the first session", id="$response.body#/sessions/0/id"
        ),
        "Heartbeat": link(
            "heartbeat", "Extend the first session", id="$response.body#/sessions/0/id"
        ),
    },
)
@failure("Failed to retrieve sessions")
@bearer("devices:read")
@polled("sessions")
def list_sessions(principal):
    """The caller's active sessions, newest first (304 when unchanged)."""
    rows = reads.session_rows(principal.user_id, active_only=True)
    return SessionList(sessions=[Session.of(s) for s in rows])


@envelope.post("/sessions/<session_id>/revoke")
@documented("End one of the caller's sessions", ok=EnvelopeMessage, errors=_ONE, path=_SESSION_ID)
@failure("Failed to revoke session")
@bearer("devices:write")
def revoke_session(principal, session_id: str):
    """End one of the caller's active sessions (this token's own too, if asked)."""
    operations.revoke_session(principal.actor, session_id)
    return EnvelopeMessage(message="Session revoked successfully").answer()


@envelope.post("/sessions/revoke-all")
@documented("End all the caller's sessions, this one too", ok=EnvelopeMessage, errors=_ANY)
@failure("Failed to revoke all sessions")
@bearer("devices:write")
def revoke_all_sessions(principal):
    """End all the caller's sessions, including the one this token stands for."""
    operations.revoke_all_sessions(principal.actor, principal.user, include_current=True)
    return EnvelopeMessage(message="All sessions revoked successfully").answer()


@envelope.post("/sessions/<session_id>/heartbeat")
@documented(
    "Extend a session's expiry in steps (never past its absolute cap)",
    ok=HeartbeatAnswer,
    errors=_ONE,
    path=_SESSION_ID,
)
@failure("Failed to update session")
@bearer("devices:write")
def heartbeat(principal, session_id: str):
    """Slide an active session's expiry forward, never past its absolute cap."""
    expires = operations.heartbeat(principal.actor, session_id, session_policy())
    return HeartbeatAnswer(message="Session updated successfully", new_expiry=expires).answer()
