"""SQLAlchemy models: no request handling and no commits here."""

from .audit import AuditEvent
from .bulk_job import BulkJob, BulkJobItem, JobStatus
from .device import Device, TrustLevel
from .logout_token import SeenLogoutToken
from .personal_token import PersonalToken
from .session import EndReason, LoginMethod, UserSession
from .types import utcnow
from .user import Grant, User

__all__ = [
    "AuditEvent",
    "BulkJob",
    "BulkJobItem",
    "Device",
    "EndReason",
    "Grant",
    "JobStatus",
    "LoginMethod",
    "PersonalToken",
    "SeenLogoutToken",
    "TrustLevel",
    "User",
    "UserSession",
    "utcnow",
]
