"""TKT "auth/devices" routes (self-service): arrays of session rows
(``shapes.token_rows.TokenRow``).

In the TKT document a "device" is one session (a refresh token and its access token), so the
ids here are session ids. Changes go through ``services.operations``, as the pages' do.

Each route is also served at ``/v1`` + its path, where the TKT document's own samples call it
(``https://api.tktchurch.com/v1/auth/devices...``): same handler, rules and error shape.
"""

from __future__ import annotations

from ..services import operations
from ..services.common import parse_id
from ..services.devices import reads
from ..services.errors import NotFound
from .auth import bearer
from .blueprints import token_rows
from .declarations import documented, link
from .errors import ApiError, failure, says
from .shapes.token_rows import TokenRowList


@token_rows.get("/v1/auth/devices")
@token_rows.get("/auth/devices")
@documented(
    "The caller's active sessions",
    ok=TokenRowList,
    errors=(401, 403),
    links={
        "RevokeMyDevice": link(
            "revoke_my_device", "End the first session", id="$response.body#/0/id"
        )
    },
)
@failure("Failed to retrieve devices")
@bearer("devices:read")
def list_my_devices(principal):
    """The caller's active sessions, in the same row shape as ``GET /devices/users/{userId}``."""
    return TokenRowList.of(reads.session_rows(principal.user_id, active_only=True)).answer()


@token_rows.delete("/v1/auth/devices/<id>")
@token_rows.delete("/auth/devices/<id>")
@documented("End one of the caller's sessions", ok=None, errors=(400, 401, 403, 404))
@failure("Failed to revoke device")
@says(NotFound, "Device not found")
@bearer("devices:write")
def revoke_my_device(principal, id: str):
    """End one of the caller's sessions; 400 for an id that is not a UUID."""
    sid = parse_id(id)
    if sid is None:
        raise ApiError(400, "Device id must be a UUID", code="invalid_id")
    operations.revoke_session(principal.actor, sid)
    return "", 204


@token_rows.post("/v1/auth/devices/revoke-all")
@token_rows.post("/auth/devices/revoke-all")
@documented("End all the caller's sessions but the current one", ok=None, errors=(401, 403))
@failure("Failed to revoke devices")
@bearer("devices:write")
def revoke_all_my_devices(principal):
    """End all the caller's sessions except the one this token stands for."""
    operations.revoke_all_sessions(principal.actor, principal.user, include_current=False)
    return "", 204
