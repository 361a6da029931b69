"""TKT "auth/devices" admin routes: another user's sessions under ``/devices/users/...``.

As the TKT document specifies: rows are active sessions (a refresh token and its access token)
with their device inside (``shapes.token_rows.TokenRow``); errors are
``{"error": {"code", "message"}}`` with 400 for a malformed user id, 401 without a valid token,
403 without the permission, 404 for an unknown user (or a session that is not that user's).

Each route is also served under ``/v1/auth/devices/users/...``, as the TKT document's samples
call them (``https://api.tktchurch.com/v1/auth/devices/users/{userId}``): same handler, rules and
error shape.
"""

from __future__ import annotations

import uuid

from ..authz import MANAGE_USER_DEVICES, VIEW_USER_DEVICES
from ..models import User
from ..services import operations
from ..services.common import parse_id
from ..services.devices import reads
from ..services.errors import NotFound
from ..services.users import summary
from .auth import bearer
from .blueprints import token_rows
from .conditional import POLL, Poll
from .declarations import ADMIN_TAG, PathName, documented, link
from .errors import ApiError, says
from .shapes.token_rows import TokenRowList

_ERRORS = (400, 401, 403, 404)  # a malformed id, no token, no permission, nobody with that id
# A TKT "device" row is a session: its id is the session's.
_DEVICE_ID = {
    "device_id": PathName(description="The session's id (a TKT 'device' row is a session).")
}


def _user_id(user_id: str) -> uuid.UUID:
    """The id in the path; 400 when it is not a UUID."""
    uid = parse_id(user_id)
    if uid is None:
        raise ApiError(400, "Invalid user id format: expected a UUID")
    return uid


def _not_found() -> ApiError:
    return ApiError(404, "User not found")


def _user_or_error(user_id: str) -> User:
    """The user named in the path: 400 when the id is not a UUID, 404 when nobody has it."""
    user = summary.get_user(_user_id(user_id))
    if user is None:
        raise _not_found()
    return user


@token_rows.get("/v1/auth/devices/users/<user_id>")
@token_rows.get("/devices/users/<user_id>")
@documented(
    "A user's active sessions",
    ok=TokenRowList,
    errors=_ERRORS,
    **POLL,
    tag=ADMIN_TAG,
    links={
        "RevokeUserDevice": link(
            "revoke_user_device",
            "End the user's first session",
            userId="$request.path.userId",
            deviceId="$response.body#/0/id",
        ),
        "RevokeAllUserDevices": link(
            "revoke_all_user_devices", "End all the user's sessions", userId="$request.path.userId"
        ),
    },
)
@bearer("devices:read", permission=VIEW_USER_DEVICES)
def list_user_devices(principal, user_id: str):
    """That user's active sessions as token rows (newest first); the look is audited, a poll
    answered 304 too (the admin still looked). The read of the list's version doubles as the
    check that the user exists: the rows and the audit event need only its id."""
    uid = _user_id(user_id)
    poll = Poll.of_user("sessions", uid)
    if poll is None:
        raise _not_found()
    operations.view_user_devices(principal.actor, uid)
    if poll.unchanged():
        return poll.not_modified()
    return poll.answer(TokenRowList.of(reads.session_rows(uid, active_only=True)))


@token_rows.delete("/v1/auth/devices/users/<user_id>/<device_id>")
@token_rows.delete("/devices/users/<user_id>/<device_id>")
@documented("End one of a user's sessions", ok=None, errors=_ERRORS, tag=ADMIN_TAG, path=_DEVICE_ID)
@says(NotFound, "Device session not found")
@bearer("devices:write", permission=MANAGE_USER_DEVICES)
def revoke_user_device(principal, user_id: str, device_id: str):
    """End one active session (a token row's ``id``) of that user: 204."""
    target = _user_or_error(user_id)
    if parse_id(device_id) is None:
        raise ApiError(400, "Invalid device id format: expected a UUID")
    operations.revoke_session(principal.actor, device_id, target.id)
    return "", 204


@token_rows.post("/v1/auth/devices/users/<user_id>/revoke-all")
@token_rows.post("/devices/users/<user_id>/revoke-all")
@documented(
    "End all of a user's sessions (keeping the caller's own)",
    ok=None,
    errors=_ERRORS,
    tag=ADMIN_TAG,
)
@bearer("devices:write", permission=MANAGE_USER_DEVICES)
def revoke_all_user_devices(principal, user_id: str):
    """End all of that user's sessions, keeping the caller's own when the caller is that user."""
    target = _user_or_error(user_id)
    operations.revoke_all_sessions(principal.actor, target, include_current=False)
    return "", 204
