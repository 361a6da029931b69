"""SQLAlchemy models: no request handling and no commits here."""

from .audit import AuditEvent
from .device import Device, TrustLevel
from .session import EndReason, LoginMethod, UserSession
from .types import utcnow
from .user import Grant, User

__all__ = [
    "AuditEvent",
    "Device",
    "EndReason",
    "Grant",
    "LoginMethod",
    "TrustLevel",
    "User",
    "UserSession",
    "utcnow",
]
