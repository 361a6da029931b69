"""Flashback "device-session-management" (envelope) shapes: ``{"success": ...}`` bodies of the
caller's devices, sessions and security activity, and the trust request."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self, cast, get_args
from uuid import UUID

from pydantic import AfterValidator, ConfigDict, Field

from ...models.device import shown_trust_level, trust_holds
from ...models.types import place_of
from ...services.devices.reads import DeviceRow, SessionRow
from .base import Refused, RequestShape, Shape, Time

# The rows read these from text columns: ``cast`` tells the type checker what the shape's own
# validation then checks (a value outside them is a ValidationError, as it always was).
TrustLevel = Literal["HIGH", "MEDIUM", "LOW", "UNKNOWN"]
DeviceType = Literal["DESKTOP", "MOBILE", "TABLET"]
LoginMethod = Literal["oidc", "bearer"]


class Device(Shape):
    """A device, as ``GET /devices`` lists it."""

    id: UUID
    device_name: str = Field(alias="deviceName")
    device_type: DeviceType = Field(alias="deviceType")
    os: str | None
    browser: str | None
    ip_address: str | None = Field(alias="ipAddress")
    country: str | None
    city: str | None
    is_trusted: bool = Field(alias="isTrusted")
    trust_level: TrustLevel = Field(alias="trustLevel")
    last_seen: Time = Field(alias="lastSeen")
    created_at: Time = Field(alias="createdAt")
    trust_expires_at: Time | None = Field(alias="trustExpiresAt")

    @classmethod
    def of(cls, device: DeviceRow, **more: Any) -> Self:
        """From a device's row (``services.devices.reads``)."""
        trusted = trust_holds(device.is_trusted, device.trust_expires_at)
        return cls(
            id=device.id,
            device_name=device.name,
            device_type=cast(DeviceType, device.device_type),
            os=" ".join(p for p in (device.os_name, device.os_version) if p) or None,
            browser=device.browser,
            ip_address=device.ip_address,
            country=device.country,
            city=device.city,
            is_trusted=trusted,
            trust_level=cast(TrustLevel, shown_trust_level(device.trust_level, trusted)),
            last_seen=device.last_seen_at,
            created_at=device.first_seen_at,
            trust_expires_at=device.trust_expires_at if trusted else None,
            **more,
        )


class DeviceSession(Shape):
    """A session inside a device detail."""

    id: UUID
    ip_address: str | None = Field(alias="ipAddress")
    location: str | None
    started_at: Time = Field(alias="startedAt")
    last_activity: Time = Field(alias="lastActivity")
    expires_at: Time = Field(alias="expiresAt")
    login_method: LoginMethod = Field(alias="loginMethod")

    @classmethod
    def of(cls, session: SessionRow, **more: Any) -> DeviceSession:
        """From a session's row (``services.devices.reads``)."""
        return cls(
            id=session.id,
            ip_address=session.ip_address,
            location=place_of(session),
            started_at=session.created_at,
            last_activity=session.last_used_at,
            expires_at=session.expires_at,
            login_method=cast(LoginMethod, session.login_method),
            **more,
        )


class DeviceDetail(Device):
    """A device with its active sessions, as ``GET /devices/{id}`` answers it."""

    user_agent: str | None = Field(alias="userAgent")
    device_fingerprint: str = Field(alias="deviceFingerprint")
    sessions: list[DeviceSession]

    @classmethod
    def of(cls, device: DeviceRow, **more: Any) -> Self:
        """From a device's row read with its sessions."""
        if device.active is None:
            raise ValueError("a device's detail is its row read with its sessions")
        return super().of(
            device,
            user_agent=device.user_agent,
            device_fingerprint=device.fingerprint,
            sessions=[DeviceSession.of(s) for s in device.active],
            **more,
        )


class Session(Shape):
    """A session, as ``GET /sessions`` lists it: a device's session with the device's name."""

    # DeviceSession's fields with deviceName after the id, in the document's order.
    id: UUID
    device_name: str = Field(alias="deviceName")
    ip_address: str | None = Field(alias="ipAddress")
    location: str | None
    started_at: Time = Field(alias="startedAt")
    last_activity: Time = Field(alias="lastActivity")
    expires_at: Time = Field(alias="expiresAt")
    login_method: LoginMethod = Field(alias="loginMethod")

    @classmethod
    def of(cls, session: SessionRow) -> Session:
        """From a session's row, read with its device."""
        if session.device is None:
            raise ValueError("a session of the list is its row read with its device")
        facts = {name: value for name, value in DeviceSession.of(session) if name != "id"}
        return cls(id=session.id, device_name=session.device.name, **facts)


class DeviceList(Shape):
    """``GET /devices``: the caller's devices."""

    success: Literal[True] = True
    devices: list[Device]


class DeviceAnswer(Shape):
    """``GET /devices/{id}``: one device with its active sessions."""

    success: Literal[True] = True
    device: DeviceDetail


class SessionList(Shape):
    """``GET /sessions``: the caller's active sessions."""

    success: Literal[True] = True
    sessions: list[Session]


class SecurityEvent(Shape):
    """One entry of the caller's recent security activity (``GET /account/security-events``)."""

    type: Literal["flagged_sign_in", "alert_sent", "reported", "confirmed", "signed_out_by_admin"]
    time: Time
    device_id: UUID = Field(alias="deviceId")
    device_name: str = Field(alias="deviceName")
    location: str | None
    ip_address: str | None = Field(alias="ipAddress")
    detail: str | None

    @classmethod
    def of(cls, event: Any) -> SecurityEvent:
        return cls(
            type=event.kind,
            time=event.at,
            device_id=event.device_id,
            device_name=event.device_name,
            location=event.location,
            ip_address=event.ip_address,
            detail=event.detail,
        )


class SecurityEventList(Shape):
    """``GET /account/security-events``: the caller's last 14 days, newest first."""

    success: Literal[True] = True
    events: list[SecurityEvent]


class EnvelopeMessage(Shape):
    """A change that went through."""

    success: Literal[True] = True
    message: str


class TrustAnswer(EnvelopeMessage):
    """``POST /devices/trust``: trusted, until when."""

    trust_expires_at: Time = Field(alias="trustExpiresAt")


class HeartbeatAnswer(EnvelopeMessage):
    """``POST /sessions/{id}/heartbeat``: the session's new expiry."""

    new_expiry: Time = Field(alias="newExpiry")


TrustChoice = Literal["HIGH", "MEDIUM", "LOW"]


class TrustRequest(RequestShape):
    """``POST /devices/trust`` request body (trustLevel defaults to HIGH). The fingerprint is
    a SHA-256 hex digest in either case (``deviceFingerprint`` sends it in lowercase)."""

    model_config = ConfigDict(extra="ignore")  # a request: other keys are ignored

    fingerprint: Annotated[str, AfterValidator(str.lower)] = Field(pattern="^[0-9a-fA-F]{64}$")
    trust_level: TrustChoice = Field("HIGH", alias="trustLevel")

    EXAMPLE: ClassVar[dict[str, Any] | None] = {
        "fingerprint": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "trustLevel": "HIGH",
    }

    @classmethod
    def refusal(cls, error: Any) -> Refused:
        """The words the route has always used for each field."""
        where = (error.get("loc") or ("",))[0]
        if where == "fingerprint":
            if error["type"] == "missing" or error.get("input") in (None, ""):
                return Refused("fingerprint is required")
            return Refused("fingerprint must be a SHA-256 hex digest (64 hex characters)")
        if where == "trustLevel":
            return Refused(f"trustLevel must be one of {', '.join(get_args(TrustChoice))}")
        return super().refusal(error)
