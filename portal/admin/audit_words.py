"""The audit log in words a person reads: action names and a short sentence for each event's
detail. Only the page uses these; the CSV export keeps the raw codes and JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..timefmt import exact

ACTION_WORDS = {
    "sign_in": "Signed in",
    "sign_out": "Signed out",
    "reauth_required": "Must give password again",
    "reauthenticated": "Gave password again",
    "reauth_failed": "Password check failed",
    "idp_logout": "Signed out at the identity provider",
    "reported_suspicious": "Reported a device as not them",
    "cleared_report": "Took back a report that a device was not them",
    "view_user_devices": "Looked at a user's devices",
    "revoke_session": "Ended a session",
    "revoke_device": "Signed out a device",
    "revoke_all_sessions": "Signed out everywhere",
    "trust_device": "Trusted a device",
    "untrust_device": "Stopped trusting a device",
    "rename_device": "Renamed a device",
    "remove_device": "Removed a device",
    "extend_session": "Extended a session",
    "grant_permission": "Granted a permission",
    "revoke_permission": "Took away a permission",
    "export_csv": "Exported a CSV file",
    "personal_token_created": "Made a personal API token",
    "personal_token_new_address": "Used a personal API token from a new address",
    "personal_token_revoked": "Revoked a personal API token",
    "deactivate_user": "Deactivated an account",
    "reactivate_user": "Reactivated an account",
    "sign_in_refused": "Sign-in refused: account deactivated",
    "scim_provision_user": "Provisioned a user (SCIM)",
    "scim_update_user": "Updated a user (SCIM)",
    "scim_delete_user": "Deleted a user (SCIM)",
    "scim_create_group": "Created a group (SCIM)",
    "scim_update_group": "Updated a group (SCIM)",
    "scim_delete_group": "Deleted a group (SCIM)",
    "scim_add_group_member": "Was added to a group (SCIM)",
    "scim_remove_group_member": "Was removed from a group (SCIM)",
    "sign_in_alert_queued": "Was sent a sign-in alert by mail",
    "sign_in_confirmed": "Confirmed a sign-in from an alert (it was them)",
    "alert_link_refused": "Used an alert's link that no longer works",
    "alert_mode_changed": "Changed which sign-ins are mailed to them",
    "search_sign_ins": "Searched every user's sign-ins",
    "bulk_sign_out": "Started signing out the sessions a search matched",
    "ssf_stream_created": "Created a Shared Signals stream",
    "ssf_stream_updated": "Changed a Shared Signals stream",
    "ssf_stream_deleted": "Deleted a Shared Signals stream",
    "ssf_stream_status": "Enabled, paused or disabled a Shared Signals stream",
    "ssf_subject_added": "Added a subject to a Shared Signals stream",
    "ssf_subject_removed": "Removed a subject from a Shared Signals stream",
    "ssf_verification_requested": "Asked for a Shared Signals verification event",
    "ssf_event_received": "A security event came from a Shared Signals transmitter",
}

_VIA = {
    "page": "on the portal's pages",
    "api": "through the API",
    "cli": "from the command line",
    "scim": "by the identity provider's provisioning (SCIM)",
    "ssf": "over Shared Signals",
}


def action_words(action: str) -> str:
    """ "Signed out a device" for ``revoke_device``; an unknown code in plain words."""
    return ACTION_WORDS.get(action) or action.replace("_", " ").capitalize()


def _count(n: Any, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _moment(value: Any) -> str:
    """A stored ISO time in the pages' one exact format ("2026-12-06 23:13:05 UTC")."""
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return exact(when if when.tzinfo else when.replace(tzinfo=UTC))


def _phrase(text: Any) -> str:
    return str(text).replace("_", " ")


# Ids and codes an event keeps for tracing (the CSV has them all): the page names them in its
# Details, never in the sentence.
_FACTS = {
    "alert_id": "Alert",
    "message_id": "Mail Message-ID",
    "token_id": "Token",
    "group_id": "Group id",
    "idp_sid": "Identity provider session",
    "subject": "Subject at the identity provider",
    "user_agent": "User-Agent",
    "auth_time": "Last gave password",
    "required_after": "Password needed after",
    "idempotency_key": "Request key",
    "job_id": "Job",
}


def _words(detail: dict[str, Any]) -> list[str]:
    """What the event did, in a few phrases; the keys used are taken out of ``detail``."""
    parts: list[str] = []
    if "old_name" in detail or "new_name" in detail:
        parts.append(f"“{detail.pop('old_name', '')}” → “{detail.pop('new_name', '')}”")
    if "name" in detail:
        parts.append(f"“{detail.pop('name')}”")
    for key in ("sessions_ended", "ended"):
        if key in detail:
            parts.append(f"{_count(detail.pop(key), 'session')} ended")
    if "kept_current" in detail:
        parts.append("their own session kept" if detail.pop("kept_current") else "theirs too")
    if "trust_level" in detail:
        parts.append(f"{str(detail.pop('trust_level')).title()} trust")
    if "trust_expires_at" in detail:
        parts.append(f"until {_moment(detail.pop('trust_expires_at'))}")
    if "reported_at" in detail:
        parts.append(f"reported {_moment(detail.pop('reported_at'))}")
    if detail.get("new_device"):
        parts.append("a new device")
    detail.pop("new_device", None)
    if detail.get("flags"):
        flags = detail["flags"]
        flags = flags if isinstance(flags, list) else [flags]
        parts.append("flagged: " + ", ".join(_phrase(f) for f in flags))
    detail.pop("flags", None)
    if "old_mode" in detail or "new_mode" in detail:
        old, new = (
            _phrase(detail.pop("old_mode", "") or "default"),
            _phrase(detail.pop("new_mode", "")),
        )
        parts.append(f"from “{old}” to “{new}”")
    if "scopes" in detail:
        scopes = detail.pop("scopes")
        parts.append("scopes " + (", ".join(scopes) if isinstance(scopes, list) else str(scopes)))
    if "expires_at" in detail:
        parts.append(f"expires {_moment(detail.pop('expires_at'))}")
    if "reason" in detail:
        parts.append(f"why: {_phrase(detail.pop('reason'))}")
    if "answer" in detail:
        parts.append(f"answered “{_phrase(detail.pop('answer'))}”")
    if "permission" in detail:
        parts.append(f"permission {detail.pop('permission')}")
    if "group" in detail:
        parts.append(f"group {detail.pop('group')}")
    if "export" in detail:
        parts.append(f"{_phrase(detail.pop('export'))}")
    if "filters" in detail:
        filters = detail.pop("filters", None)
        if filters:
            parts.append("filtered by " + ", ".join(f"{k} {v}" for k, v in filters.items() if v))
        elif "export" not in detail:
            parts.append("no filter")
    if "sessions" in detail and "users" in detail:
        sessions, users = detail.pop("sessions"), detail.pop("users")
        parts.append(f"{_count(sessions, 'session')} of {_count(users, 'user')}")
    if "via" in detail:
        via = detail.pop("via")
        parts.append(_VIA.get(via, f"via {via}"))
    return [p for p in parts if p]


def detail_sentence(detail: dict[str, Any] | None) -> str:
    """The event's detail as a short sentence, in words only: ids and codes (an alert's id, a
    mail's Message-ID...) are left to ``detail_facts``."""
    return "; ".join(_words(dict(detail or {})))


def detail_facts(detail: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The ids and codes ``detail_sentence`` leaves out, each with a label in words (any key
    without words of its own becomes its own label: "Outbox message id")."""
    rest = dict(detail or {})
    _words(rest)
    facts = []
    for key, value in rest.items():
        if value in (None, "", [], {}):
            continue
        label = _FACTS.get(key) or _phrase(key).capitalize()
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        facts.append((label, text))
    return facts
