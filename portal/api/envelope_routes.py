"""Flashback "device-session-management" routes: bodies carry ``success``."""

from __future__ import annotations

from flask import jsonify

from ..services import devices
from . import FAILURE_MESSAGES, envelope
from .auth import bearer
from .serializers import envelope_device

FAILURE_MESSAGES["api_envelope.list_devices"] = "Failed to retrieve devices"


@envelope.get("/devices")
@bearer("devices:read")
def list_devices(principal):
    """The caller's devices, the one this token came from first."""
    current = principal.session.device_id if principal.session else None
    rows = devices.list_devices(principal.user.id, current_device_id=current)
    return jsonify(success=True, devices=[envelope_device(r.device) for r in rows])
