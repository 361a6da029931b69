"""Every change to devices and sessions, each with its one audit event.

A user acting on their own account, an admin acting on someone else's, the CLI and the identity
provider all go through these functions, so one action behaves the same whichever way it is
asked for. Each takes an ``Actor`` (who, through which session, from where, and how), changes
the models through the lower services, and appends its audit event in the same transaction.
Nothing here commits: the request (or the CLI command) does, once, at its end.

An operation takes what the request knows (the actor, ids, the form's values), loads and
locks what it changes with the owner in the query (another user's device is not found, never
forbidden: an answer must not tell that it exists), and raises a domain error
(``services.errors``: ``NotFound``, ``Forbidden``, ``Conflict``, ``Invalid``) when it cannot
do what was asked; the request then rolls back whatever it had changed.

Audit details follow one rule: an action on your own account says what it did
(``sessions_ended``...); an action on someone else's also says how it was asked for (``via``)
and what it ``ended``, the trail an investigator reads.

This package is the public surface of the writes: callers use ``operations.<name>``, and these
names are all of it. Its modules each hold one concept's operations: ``actor`` (who acts, and
the checks every operation makes of them), ``sign_in``, ``sessions`` (ending and extending
them), ``devices``, ``alerts``, ``tokens`` (personal API tokens), ``users`` (grants,
deactivation, SCIM), ``groups`` (SCIM's groups), ``incidents`` (audited looks, bulk
sign-out), ``streams`` (the Shared Signals streams receivers manage), ``stream_delivery``
(a receiver polling its stream) and ``received`` (security events a Shared Signals transmitter
sent).
"""

from .actor import (
    DEVICE_NOT_FOUND,
    SESSION_NOT_FOUND,
    TOKEN_NOT_FOUND,
    Actor,
)
from .alerts import (
    ALERT_NOT_FOUND,
    AlertLinkAnswer,
    answer_alert,
    answer_alert_link,
    refuse_alert_link,
    set_alert_mode,
)
from .devices import (
    AlreadyReported,
    NotReported,
    ReportingCurrentDevice,
    TrustingReportedDevice,
    clear_report,
    remove_device,
    rename_device,
    report_suspicious,
    trust_device,
    untrust_device,
)
from .groups import scim_create_group, scim_delete_group, scim_update_group
from .incidents import (
    export_csv,
    run_bulk_job_batch,
    search_sign_ins,
    start_bulk_sign_out,
    view_user_devices,
)
from .received import receive_security_event
from .sessions import (
    SESSION_NOT_FOUND_OR_EXPIRED,
    end_device_sessions,
    extend_session,
    heartbeat,
    revoke_all_sessions,
    revoke_session,
    revoke_sessions,
)
from .sign_in import (
    idp_logout,
    note_reauthentication,
    refuse_sign_in,
    sign_in,
    sign_in_with_token,
    sign_out,
)
from .stream_delivery import Polled, poll_stream
from .streams import (
    STREAM_NOT_FOUND,
    add_subject,
    create_stream,
    delete_stream,
    remove_subject,
    request_verification,
    set_stream_status,
    update_stream,
)
from .tokens import (
    create_personal_token,
    note_personal_token_use,
    revoke_personal_token,
)
from .users import (
    deactivate_user,
    grant_permission,
    reactivate_user,
    revoke_permission,
    scim_actor,
    scim_delete_user,
    scim_provision_user,
    scim_update_user,
)

__all__ = [
    "ALERT_NOT_FOUND",
    "DEVICE_NOT_FOUND",
    "SESSION_NOT_FOUND",
    "SESSION_NOT_FOUND_OR_EXPIRED",
    "STREAM_NOT_FOUND",
    "TOKEN_NOT_FOUND",
    "Actor",
    "AlertLinkAnswer",
    "AlreadyReported",
    "NotReported",
    "Polled",
    "ReportingCurrentDevice",
    "TrustingReportedDevice",
    "add_subject",
    "answer_alert",
    "answer_alert_link",
    "clear_report",
    "create_personal_token",
    "create_stream",
    "deactivate_user",
    "delete_stream",
    "end_device_sessions",
    "export_csv",
    "extend_session",
    "grant_permission",
    "heartbeat",
    "idp_logout",
    "note_personal_token_use",
    "note_reauthentication",
    "poll_stream",
    "reactivate_user",
    "receive_security_event",
    "refuse_alert_link",
    "refuse_sign_in",
    "remove_device",
    "remove_subject",
    "rename_device",
    "report_suspicious",
    "request_verification",
    "revoke_all_sessions",
    "revoke_permission",
    "revoke_personal_token",
    "revoke_session",
    "revoke_sessions",
    "run_bulk_job_batch",
    "scim_actor",
    "scim_create_group",
    "scim_delete_group",
    "scim_delete_user",
    "scim_provision_user",
    "scim_update_group",
    "scim_update_user",
    "search_sign_ins",
    "set_alert_mode",
    "set_stream_status",
    "sign_in",
    "sign_in_with_token",
    "sign_out",
    "start_bulk_sign_out",
    "trust_device",
    "untrust_device",
    "update_stream",
    "view_user_devices",
]
