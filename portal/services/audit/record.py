"""Writing the audit log: the only way rows get into it, and there is no way out."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert

from ...extensions import db
from ...models import AuditEvent, User
from ...models.types import fit


class Actions:
    """Audited action names, in one place so pages can offer them as filters."""

    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    REAUTH_REQUIRED = "reauth_required"
    REAUTHENTICATED = "reauthenticated"
    REAUTH_FAILED = "reauth_failed"
    IDP_LOGOUT = "idp_logout"
    REPORT_SUSPICIOUS = "reported_suspicious"
    CLEAR_REPORT = "cleared_report"
    VIEW_USER_DEVICES = "view_user_devices"
    REVOKE_SESSION = "revoke_session"
    REVOKE_DEVICE = "revoke_device"
    REVOKE_ALL_SESSIONS = "revoke_all_sessions"
    TRUST_DEVICE = "trust_device"
    UNTRUST_DEVICE = "untrust_device"
    RENAME_DEVICE = "rename_device"
    REMOVE_DEVICE = "remove_device"
    EXTEND_SESSION = "extend_session"
    GRANT_PERMISSION = "grant_permission"
    REVOKE_PERMISSION = "revoke_permission"
    EXPORT_CSV = "export_csv"
    PERSONAL_TOKEN_CREATED = "personal_token_created"
    PERSONAL_TOKEN_NEW_ADDRESS = "personal_token_new_address"
    PERSONAL_TOKEN_REVOKED = "personal_token_revoked"
    DEACTIVATE_USER = "deactivate_user"
    REACTIVATE_USER = "reactivate_user"
    SIGN_IN_REFUSED = "sign_in_refused"
    SCIM_PROVISION_USER = "scim_provision_user"
    SCIM_UPDATE_USER = "scim_update_user"
    SCIM_DELETE_USER = "scim_delete_user"
    SCIM_CREATE_GROUP = "scim_create_group"
    SCIM_UPDATE_GROUP = "scim_update_group"
    SCIM_DELETE_GROUP = "scim_delete_group"
    SCIM_ADD_GROUP_MEMBER = "scim_add_group_member"
    SCIM_REMOVE_GROUP_MEMBER = "scim_remove_group_member"
    SIGN_IN_ALERT_QUEUED = "sign_in_alert_queued"
    SIGN_IN_CONFIRMED = "sign_in_confirmed"
    ALERT_LINK_REFUSED = "alert_link_refused"
    ALERT_MODE_CHANGED = "alert_mode_changed"
    SEARCH_SIGN_INS = "search_sign_ins"
    BULK_SIGN_OUT = "bulk_sign_out"
    SSF_STREAM_CREATED = "ssf_stream_created"
    SSF_STREAM_UPDATED = "ssf_stream_updated"
    SSF_STREAM_DELETED = "ssf_stream_deleted"
    SSF_STREAM_STATUS = "ssf_stream_status"
    SSF_SUBJECT_ADDED = "ssf_subject_added"
    SSF_SUBJECT_REMOVED = "ssf_subject_removed"
    SSF_VERIFICATION = "ssf_verification_requested"

    @classmethod
    def all(cls) -> list[str]:
        return sorted(v for k, v in vars(cls).items() if k.isupper())


def record(
    action: str,
    *,
    actor: User | None,
    actor_id: uuid.UUID | None = None,
    target_user: User | uuid.UUID | None = None,
    device_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    ip_address: str | None = None,
    actor_label: str | None = None,
    channel: str | None = None,
    **detail: Any,
) -> None:
    """Append one audit event; the caller's transaction commits it with the change it records.

    Inserted at once with a Core INSERT (after flushing pending changes, so that the users it
    names exist), not added to the session: the unit of work cost more than the statement on
    a route that audits every read.

    ``channel`` is how the action was asked for (page, api, cli, idp), kept in its own column.
    The actor is a user model, or only its id (``actor_id``) with its name as the label.
    """
    target_id = target_user.id if isinstance(target_user, User) else target_user
    db.session.flush()  # the users and sessions it names exist before it does (nothing if clean)
    db.session.connection().execute(
        _INSERT,
        {
            "action": action,
            "actor_id": actor.id if actor else actor_id,
            "actor_label": fit(
                AuditEvent.actor_label,
                actor_label or (actor.email or actor.subject if actor else None),
            ),
            "target_user_id": target_id,
            "device_id": device_id,
            "session_id": session_id,
            "ip_address": fit(AuditEvent.ip_address, ip_address),  # as the request said, bounded
            "via": channel,
            "detail": {k: v for k, v in detail.items() if v is not None},
        },
    )


_INSERT = insert(AuditEvent.__table__)
