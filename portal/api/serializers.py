"""One function per documented body shape, named after it, so each contract is easy to find.

*Envelope* shapes come from the Flashback "device-session-management" document; *token-row*
shapes from the TKT "auth/devices" document.
"""

from __future__ import annotations

from typing import Any

from ..models import Device, UserSession
from ..timefmt import iso_z


def envelope_device(device: Device) -> dict[str, Any]:
    """Flashback device, as listed by ``GET /devices``."""
    trusted = device.trusted_now()
    return {
        "id": str(device.id),
        "deviceName": device.name,
        "deviceType": device.device_type,
        "os": " ".join(p for p in (device.os_name, device.os_version) if p) or None,
        "browser": device.browser,
        "ipAddress": device.ip_address,
        "country": device.country,
        "city": device.city,
        "isTrusted": trusted,
        "trustLevel": device.effective_trust_level(),
        "lastSeen": iso_z(device.last_seen_at),
        "createdAt": iso_z(device.first_seen_at),
        "trustExpiresAt": iso_z(device.trust_expires_at) if trusted else None,
    }


def envelope_session_of_device(session: UserSession) -> dict[str, Any]:
    """Flashback session inside a device detail."""
    return {
        "id": str(session.id),
        "ipAddress": session.ip_address,
        "location": session.location,
        "startedAt": iso_z(session.created_at),
        "lastActivity": iso_z(session.last_used_at),
        "expiresAt": iso_z(session.expires_at),
        "loginMethod": session.login_method,
    }


def envelope_device_detail(device: Device, sessions: list[UserSession]) -> dict[str, Any]:
    """Flashback device detail, as answered by ``GET /devices/{id}``."""
    body = envelope_device(device)
    body["userAgent"] = device.user_agent
    body["deviceFingerprint"] = device.fingerprint
    body["sessions"] = [envelope_session_of_device(s) for s in sessions]
    return body


def envelope_session(session: UserSession) -> dict[str, Any]:
    """Flashback session, as listed by ``GET /sessions``."""
    return {
        "id": str(session.id),
        "deviceName": session.device.name,
        **{k: v for k, v in envelope_session_of_device(session).items() if k != "id"},
    }


def token_row(session: UserSession) -> dict[str, Any]:
    """TKT row: one active session (a refresh token and its access token) with its device."""
    device = session.device
    return {
        "id": str(session.id),
        "deviceInfo": {
            "deviceId": str(device.id),
            "deviceType": (device.device_type or "DESKTOP").lower(),
            "deviceName": device.name,
            "deviceModel": device.model,
            "osName": device.os_name,
            "osVersion": device.os_version,
            "appVersion": device.app_version,
            "ipAddress": session.ip_address or device.ip_address,
            "userAgent": device.user_agent,
            "lastLocation": session.location or device.location,
        },
        "lastUsedAt": iso_z(session.last_used_at),
        "createdAt": iso_z(session.created_at),
        "expiresAt": iso_z(session.expires_at),
    }
