"""The documented JSON shapes, written once for every test that checks a body against them."""

from __future__ import annotations

import re

# ISO 8601 in UTC with a Z, to the second.
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# Flashback: a device as `GET /devices` lists it.
DEVICE_KEYS = frozenset(
    {
        "id", "deviceName", "deviceType", "os", "browser", "ipAddress", "country", "city",
        "isTrusted", "trustLevel", "lastSeen", "createdAt", "trustExpiresAt",
    }
)  # fmt: skip
# Flashback: a session inside a device detail, less its loginMethod.
SESSION_KEYS = frozenset({"id", "ipAddress", "location", "startedAt", "lastActivity", "expiresAt"})

# TKT: a token row and its deviceInfo, in the documented order.
ROW_KEYS = ["id", "deviceInfo", "lastUsedAt", "createdAt", "expiresAt"]
DEVICE_INFO_KEYS = [
    "deviceId", "deviceType", "deviceName", "deviceModel", "osName", "osVersion", "appVersion",
    "ipAddress", "userAgent", "lastLocation",
]  # fmt: skip
