"""SQLAlchemy models: no request handling and no commits here."""

from .alert import AlertAnswer, OutboxMessage, OutboxStatus, SignInAlert
from .audit import AuditEvent
from .bulk_job import BulkJob, BulkJobItem, JobStatus
from .device import Device, TrustLevel
from .logout_token import SeenLogoutToken
from .personal_token import PersonalToken
from .scim_group import ScimGroup, ScimGroupMember
from .session import EndReason, LoginMethod, UserSession
from .ssf_stream import SsfStream, SsfStreamSubject, StreamStatus
from .types import utcnow
from .user import Grant, User

__all__ = [
    "AlertAnswer",
    "AuditEvent",
    "BulkJob",
    "BulkJobItem",
    "Device",
    "EndReason",
    "Grant",
    "JobStatus",
    "LoginMethod",
    "OutboxMessage",
    "OutboxStatus",
    "PersonalToken",
    "ScimGroup",
    "ScimGroupMember",
    "SeenLogoutToken",
    "SignInAlert",
    "SsfStream",
    "SsfStreamSubject",
    "StreamStatus",
    "TrustLevel",
    "User",
    "UserSession",
    "utcnow",
]
