"""TKT "auth/devices" (token-row) shapes: a session (refresh and access token) with its device,
as the self-service and admin routes list them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, cast
from uuid import UUID

from pydantic import Field

from ...models.types import place_of
from ...services.devices.reads import SessionRow
from .base import Shape, ShapeList, Time

# A device's type as the token rows spell it: the row's text, lowercased (``cast`` tells the
# type checker what the shape's own validation then checks).
DeviceType = Literal["desktop", "mobile", "tablet"]


class DeviceInfo(Shape):
    """A token row's device."""

    device_id: UUID = Field(alias="deviceId")
    device_type: DeviceType = Field(alias="deviceType")
    device_name: str = Field(alias="deviceName")
    device_model: str | None = Field(alias="deviceModel")
    os_name: str | None = Field(alias="osName")
    os_version: str | None = Field(alias="osVersion")
    app_version: str | None = Field(alias="appVersion")
    ip_address: str | None = Field(alias="ipAddress")
    user_agent: str | None = Field(alias="userAgent")
    last_location: str | None = Field(alias="lastLocation", examples=["London, GB"])


class TokenRow(Shape):
    """One active session (a refresh token and its access token) with its device."""

    id: UUID
    device_info: DeviceInfo = Field(alias="deviceInfo")
    last_used_at: Time = Field(alias="lastUsedAt")
    created_at: Time = Field(alias="createdAt")
    expires_at: Time = Field(alias="expiresAt")

    @classmethod
    def of(cls, session: SessionRow) -> TokenRow:
        """From a session's row, read with its device."""
        device = session.device
        if device is None:
            raise ValueError("a token row is a session's row read with its device")
        info = DeviceInfo(
            device_id=device.id,
            device_type=cast(DeviceType, (device.device_type or "DESKTOP").lower()),
            device_name=device.name,
            device_model=device.model,
            os_name=device.os_name,
            os_version=device.os_version,
            app_version=device.app_version,
            ip_address=session.ip_address or device.ip_address,
            user_agent=device.user_agent,
            last_location=place_of(session) or place_of(device),
        )
        return cls(
            id=session.id,
            device_info=info,
            last_used_at=session.last_used_at,
            created_at=session.created_at,
            expires_at=session.expires_at,
        )


class TokenRowList(ShapeList):
    """Active sessions as token rows, newest first."""

    root: list[TokenRow]

    @classmethod
    def of(cls, rows: Iterable[SessionRow]) -> TokenRowList:
        """From session rows read with their devices (``device_reads.session_rows``)."""
        return cls([TokenRow.of(row) for row in rows])
