"""The OpenAPI 3.1 document of the JSON routes, assembled with apispec and served at /openapi.json.

Nothing about a body is written here. Component schemas are the JSON Schema of the models in
``shapes`` (the ones the bodies are dumped from); an operation's error shape is its blueprint's
family, and its 500 example is the message its route declares with ``errors.failure``. What is
written here is the table of operations: path, summary, scope, which answers each may give.

A test checks the document is valid and that it and the URL map name the same routes, and the
test-suite's client validates every JSON answer it receives against it.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from apispec import APISpec
from flask import current_app, jsonify, request
from pydantic.json_schema import GenerateJsonSchema, models_json_schema

from ..authz import public
from ..services import audit_events, sign_ins
from . import (
    admin_routes,
    audit_routes,
    envelope,
    envelope_routes,
    shapes,
    sign_in_routes,
    token_row_routes,
)
from .errors import (
    ENVELOPE,
    ERROR_MODELS,
    TOKEN_ROWS,
    VERSION_PREFIX,
    ApiError,
    error_shape,
    failure_message,
)

SCHEMAS = "#/components/schemas/"
_uuid = {"type": "string", "format": "uuid"}

# What each documented error status means, in each family's words.
_ERROR_TEXTS = {
    ENVELOPE: {
        400: "Invalid request",
        401: "Missing or invalid bearer token",
        403: "Token lacks the scope",
        404: "Not found (or not yours)",
    },
    TOKEN_ROWS: {
        400: "Invalid id format (not a UUID)",
        401: "Missing or invalid bearer token",
        403: "Missing permission or scope",
        404: "Not found (or not yours)",
    },
}
# Answers every operation may give, whatever it does.
_EVERY_OPERATION = {
    413: "Request body over the size limit (PORTAL_MAX_BODY_BYTES)",
    429: "Too many requests (PORTAL_RATELIMIT_API)",
    500: "Unexpected failure",
    503: "The database is unavailable for a moment (Retry-After says when to try again)",
}

ENV_TAG, TKT_TAG, ADMIN_TAG = "Devices (envelope)", "Sessions (token rows)", "Admin"
EVENTS_TAG = "Audit events"

# Either kind of bearer token opens every operation (with the operation's scope).
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The identity provider's RFC 9068 JWT access token (typ at+jwt).",
    },
    "personalToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "dpt_...",
        "description": "A personal API token made on /account/tokens: its scopes, and never "
        "more than its owner may do now.",
    },
}


# Example values: fixed, so the document is the same on every request.
_WHEN = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
_LATER = datetime(2026, 12, 25, 18, 0, tzinfo=UTC)
_DEVICE_ID = uuid.UUID("5f0c6d1e-8a4b-4c3e-9d2a-1b7e6f5a4c3d")
_SESSION_ID = uuid.UUID("0b9e8d7c-6f5a-4e3d-8c2b-1a0f9e8d7c6b")
_USER_ID = uuid.UUID("3c2b1a0f-9e8d-4c7b-a6f5-e4d3c2b1a0f9")


def _example_device(**more):
    return dict(
        id=_DEVICE_ID,
        device_name="Safari on iPhone",
        device_type="MOBILE",
        os="iOS 17.1",
        browser="Safari",
        ip_address="81.2.69.142",
        country="United Kingdom",
        city="London",
        is_trusted=True,
        trust_level="HIGH",
        last_seen=_WHEN,
        created_at=_WHEN,
        trust_expires_at=_LATER,
        **more,
    )


def _example_session(**more):
    return dict(
        id=_SESSION_ID,
        ip_address="81.2.69.142",
        location="London, GB",
        started_at=_WHEN,
        last_activity=_WHEN,
        expires_at=_LATER,
        login_method="oidc",
        **more,
    )


def _example_token_row():
    info = shapes.DeviceInfo(
        device_id=_DEVICE_ID,
        device_type="mobile",
        device_name="Safari on iPhone",
        device_model="iPhone",
        os_name="iOS",
        os_version="17.1",
        app_version=None,
        ip_address="81.2.69.142",
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Safari/604.1",
        last_location="London, GB",
    )
    return shapes.TokenRow(
        id=_SESSION_ID, device_info=info, last_used_at=_WHEN, created_at=_WHEN, expires_at=_LATER
    )


def _examples() -> dict[type, object]:
    """An example body of each answer model, built from the models themselves."""
    done = "Device removed successfully"
    return {
        shapes.DeviceList: shapes.DeviceList(devices=[shapes.Device(**_example_device())]),
        shapes.DeviceAnswer: shapes.DeviceAnswer(
            device=shapes.DeviceDetail(
                **_example_device(
                    user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)",
                    device_fingerprint="9f86d081884c7d659a2feaa0c55ad015"
                    "a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    sessions=[shapes.DeviceSession(**_example_session())],
                )
            )
        ),
        shapes.SessionList: shapes.SessionList(
            sessions=[shapes.Session(**_example_session(device_name="Safari on iPhone"))]
        ),
        shapes.SecurityEventList: shapes.SecurityEventList(
            events=[
                shapes.SecurityEvent(
                    type="alert_sent",
                    time=_WHEN,
                    device_id=_DEVICE_ID,
                    device_name="Safari on iPhone",
                    location="London, GB",
                    ip_address="81.2.69.142",
                    detail="New device",
                )
            ]
        ),
        shapes.EnvelopeMessage: shapes.EnvelopeMessage(message=done),
        shapes.TrustAnswer: shapes.TrustAnswer(
            message="Device trusted successfully", trust_expires_at=_LATER
        ),
        shapes.HeartbeatAnswer: shapes.HeartbeatAnswer(
            message="Session updated successfully", new_expiry=_LATER
        ),
        shapes.TokenRowList: shapes.TokenRowList([_example_token_row()]),
        shapes.SignInList: shapes.SignInList(
            [
                shapes.SignIn(
                    id=_SESSION_ID,
                    user=shapes.EventUser(id=_USER_ID, email="ada@example.com"),
                    signed_in_at=_WHEN,
                    device_id=_DEVICE_ID,
                    device_name="Safari on iPhone",
                    device_type="mobile",
                    browser="Safari",
                    os="iOS",
                    ip_address="203.0.113.7",
                    location="London, GB",
                    login_method="oidc",
                    status="active",
                    active=True,
                    ended_at=None,
                    flags=["new_country"],
                )
            ]
        ),
        shapes.JobStarted: shapes.JobStarted(job_id=_SESSION_ID, matched=1240),
        shapes.JobState: shapes.JobState(status="running", done=400, total=1240),
        shapes.EventList: shapes.EventList(
            [
                shapes.Event(
                    id=1042,
                    time=_WHEN,
                    action="revoke_session",
                    actor=shapes.EventUser(id=_USER_ID, email="ada@example.com"),
                    target=shapes.EventUser(id=_USER_ID, email="ada@example.com"),
                    device=_DEVICE_ID,
                    session=_SESSION_ID,
                    ip="81.2.69.142",
                    location="London, GB",
                    via="api",
                    details={},
                )
            ]
        ),
    }


def _link(operation_id: str, description: str, **parameters: str) -> dict:
    return {"operationId": operation_id, "description": description, "parameters": parameters}


# "List, then act on an id": what a client (or a fuzzer) can do next with a list's first row.
_LINKS = {
    "list_devices": {
        "GetDevice": _link("get_device", "The first device", id="$response.body#/devices/0/id"),
        "UntrustDevice": _link(
            "untrust_device", "Untrust the first device", id="$response.body#/devices/0/id"
        ),
        "RemoveDevice": _link(
            "remove_device", "Remove the first device", id="$response.body#/devices/0/id"
        ),
    },
    "list_sessions": {
        "RevokeSession": _link(
            "revoke_session", "End the first session", id="$response.body#/sessions/0/id"
        ),
        "Heartbeat": _link(
            "heartbeat", "Extend the first session", id="$response.body#/sessions/0/id"
        ),
    },
    "list_my_devices": {
        "RevokeMyDevice": _link(
            "revoke_my_device", "End the first session", id="$response.body#/0/id"
        ),
    },
    "list_user_devices": {
        "RevokeUserDevice": _link(
            "revoke_user_device",
            "End the user's first session",
            userId="$request.path.userId",
            deviceId="$response.body#/0/id",
        ),
        "RevokeAllUserDevices": _link(
            "revoke_all_user_devices", "End all the user's sessions", userId="$request.path.userId"
        ),
    },
}


class _OpenApiSchema(GenerateJsonSchema):
    """The models' JSON Schema (the dialect of OpenAPI 3.1), less a title on every field."""

    def field_title_should_be_set(self, schema) -> bool:
        return False


def component_schemas(answers: list[type], requests: list[type] = ()) -> dict[str, dict]:
    """``components.schemas`` for the models of answers and request bodies, and every model
    they refer to, by model name."""
    _, top = models_json_schema(
        [(model, "serialization") for model in answers]
        + [(model, "validation") for model in requests],
        ref_template=SCHEMAS + "{model}",
        schema_generator=_OpenApiSchema,
    )
    return top.get("$defs", {})


def _ref(model: type) -> dict:
    return {"$ref": SCHEMAS + model.__name__}


def _json(model: type, description: str, example=None) -> dict:
    media = {"schema": _ref(model)}
    if example is not None:
        media["example"] = example
    return {"description": description, "content": {"application/json": media}}


def _family(view: Callable) -> str:
    """The family of the blueprint that serves ``view``: the one place it is declared."""
    for endpoint, function in current_app.view_functions.items():
        if function is view:
            return current_app.blueprints[endpoint.rpartition(".")[0]].family
    raise LookupError(f"{view.__qualname__} is not a route")


class _Operations:
    """Builds operations, and remembers which models they use and each one's family."""

    def __init__(self) -> None:
        self.answers: list[type] = []
        self.requests: list[type] = []
        self.families: dict[int, str] = {}

    def _use(self, model: type, used: list[type] | None = None) -> type:
        used = self.answers if used is None else used
        if model not in used:
            used.append(model)
        return model

    def __call__(
        self,
        view: Callable,
        summary: str,
        scope: str,
        ok: type | None,
        errors: tuple[int, ...],
        *,
        tag: str = ENV_TAG,
        body: type | None = None,
        permission: str | None = None,
        error_texts: dict[int, str] | None = None,
        parameters: list[dict] | None = None,
        headers: dict[str, dict] | None = None,
        status: int = 200,
    ) -> dict:
        """``view``'s operation: ``status`` (200) with ``ok`` (204 when None), then its errors."""
        family = _family(view)
        error_model = self._use(ERROR_MODELS[family])
        if ok is None:
            responses = {"204": {"description": "Done"}}
        else:
            described = "Accepted" if status == 202 else "OK"
            responses = {str(status): _json(self._use(ok), described, _examples()[ok].body())}
            if view.__name__ in _LINKS:
                responses[str(status)]["links"] = _LINKS[view.__name__]
        if headers:
            responses[str(status)]["headers"] = headers
        texts = {**_ERROR_TEXTS[family], **(error_texts or {}), **_EVERY_OPERATION}
        for status in (*errors, *_EVERY_OPERATION):
            message = failure_message(view) if status == 500 else texts[status]
            example = error_shape(ApiError(status, message), family).body()
            responses[str(status)] = _json(error_model, texts[status], example)
        operation = {
            "operationId": view.__name__,
            "summary": summary,
            "tags": [tag],
            "security": [{scheme: [scope]} for scheme in SECURITY_SCHEMES],
            "responses": responses,
        }
        if parameters:
            operation["parameters"] = parameters
        if permission:
            operation["description"] = f"Requires the `{permission}` permission."
        if body:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(self._use(body, self.requests))}},
            }
        self.families[id(operation)] = family
        return operation

    def all_token_rows(self, operations: dict) -> bool:
        return all(self.families[id(o)] == TOKEN_ROWS for o in operations.values())


_EVENTS_PARAMETERS = [
    {
        "name": "since",
        "in": "query",
        "required": False,
        "description": "The first page starts at events from this time on (ISO 8601).",
        "schema": {"type": "string", "format": "date-time"},
        "example": "2026-11-25T18:00:00Z",
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Events per page (default 100).",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "Opaque: pass back what the previous answer's Link header gave.",
        "schema": {"type": "string", "pattern": audit_events.CURSOR_PATTERN},
    },
]


def _query_parameters(model: type) -> list[dict]:
    """Optional query parameters, one per field of ``model`` (by its alias), schema and all."""
    parameters = []
    for name, prop in model.model_json_schema(by_alias=True)["properties"].items():
        schema = {k: v for k, v in prop.items() if k not in ("description", "examples", "default")}
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": prop.get("description", ""),
                "schema": schema,
            }
        )
    return parameters


_SIGN_IN_FILTERS = [
    *_query_parameters(shapes.SignInQuery),
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Sign-ins per page (default 100).",
        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
    },
    {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "Opaque: pass back what the previous answer's Link header gave.",
        "schema": {"type": "string", "pattern": sign_ins.CURSOR_PATTERN},
    },
]
_job_param = {"name": "jobId", "in": "path", "required": True, "schema": _uuid}
_id_param = {"name": "id", "in": "path", "required": True, "schema": _uuid}
_user_param = {"name": "userId", "in": "path", "required": True, "schema": _uuid}
_device_param = {
    "name": "deviceId",
    "in": "path",
    "required": True,
    "schema": _uuid,
    "description": "The session's id (a TKT 'device' row is a session).",
}


def _v1_alias(path: str, operations: dict, parameters: list) -> tuple[str, dict, list]:
    """A token-row route where the TKT document's samples call it: ``/v1`` + its path, and the
    admin routes (documented at ``/devices/users/...``) at ``/v1/auth/devices/users/...``."""
    alias = VERSION_PREFIX + (path if path.startswith("/auth/") else "/auth" + path)
    aliased = copy.deepcopy(operations)
    for operation in aliased.values():
        operation["operationId"] += "_v1"
        for response in operation["responses"].values():
            response.pop("links", None)  # the links name the documented operations
        note = f"Alias of `{path}`, where the TKT document's samples call it."
        operation["description"] = " ".join(filter(None, [operation.get("description"), note]))
    return alias, aliased, parameters


def _documented_paths(op: _Operations) -> list[tuple[str, dict, list]]:
    env, tkt, admin = envelope_routes, token_row_routes, admin_routes
    message = shapes.EnvelopeMessage
    return [
        (
            "/devices",
            {
                "get": op(
                    env.list_devices,
                    "The caller's devices",
                    "devices:read",
                    shapes.DeviceList,
                    (401, 403),
                )
            },
            [],
        ),
        (
            "/devices/{id}",
            {
                "get": op(
                    env.get_device,
                    "One of the caller's devices with its active sessions",
                    "devices:read",
                    shapes.DeviceAnswer,
                    (401, 403, 404),
                ),
                "delete": op(
                    env.remove_device,
                    "Remove a device and end its sessions",
                    "devices:write",
                    message,
                    (401, 403, 404),
                ),
            },
            [_id_param],
        ),
        (
            "/devices/trust",
            {
                "post": op(
                    env.trust_device,
                    "Trust the caller's device with this fingerprint",
                    "devices:write",
                    shapes.TrustAnswer,
                    (400, 401, 403, 404),
                    body=shapes.TrustRequest,
                )
            },
            [],
        ),
        (
            "/devices/{id}/untrust",
            {
                "post": op(
                    env.untrust_device,
                    "Untrust a device and end its sessions",
                    "devices:write",
                    message,
                    (401, 403, 404),
                )
            },
            [_id_param],
        ),
        (
            "/account/security-events",
            {
                "get": op(
                    env.list_security_events,
                    "The caller's recent security activity (14 days, newest first)",
                    "devices:read",
                    shapes.SecurityEventList,
                    (401, 403),
                )
            },
            [],
        ),
        (
            "/sessions",
            {
                "get": op(
                    env.list_sessions,
                    "The caller's active sessions",
                    "devices:read",
                    shapes.SessionList,
                    (401, 403),
                )
            },
            [],
        ),
        (
            "/sessions/{id}/revoke",
            {
                "post": op(
                    env.revoke_session,
                    "End one of the caller's sessions",
                    "devices:write",
                    message,
                    (401, 403, 404),
                )
            },
            [_id_param],
        ),
        (
            "/sessions/revoke-all",
            {
                "post": op(
                    env.revoke_all_sessions,
                    "End all the caller's sessions, this one too",
                    "devices:write",
                    message,
                    (401, 403),
                )
            },
            [],
        ),
        (
            "/sessions/{id}/heartbeat",
            {
                "post": op(
                    env.heartbeat,
                    "Extend a session's expiry in steps (never past its absolute cap)",
                    "devices:write",
                    shapes.HeartbeatAnswer,
                    (401, 403, 404),
                )
            },
            [_id_param],
        ),
        (
            "/auth/devices",
            {
                "get": op(
                    tkt.list_my_devices,
                    "The caller's active sessions",
                    "devices:read",
                    shapes.TokenRowList,
                    (401, 403),
                    tag=TKT_TAG,
                )
            },
            [],
        ),
        (
            "/auth/devices/{id}",
            {
                "delete": op(
                    tkt.revoke_my_device,
                    "End one of the caller's sessions",
                    "devices:write",
                    None,
                    (400, 401, 403, 404),
                    tag=TKT_TAG,
                )
            },
            [_id_param],
        ),
        (
            "/auth/devices/revoke-all",
            {
                "post": op(
                    tkt.revoke_all_my_devices,
                    "End all the caller's sessions but the current one",
                    "devices:write",
                    None,
                    (401, 403),
                    tag=TKT_TAG,
                )
            },
            [],
        ),
        (
            "/devices/users/{userId}",
            {
                "get": op(
                    admin.list_user_devices,
                    "A user's active sessions",
                    "devices:read",
                    shapes.TokenRowList,
                    (400, 401, 403, 404),
                    tag=ADMIN_TAG,
                    permission="viewUserDevices",
                )
            },
            [_user_param],
        ),
        (
            "/devices/users/{userId}/{deviceId}",
            {
                "delete": op(
                    admin.revoke_user_device,
                    "End one of a user's sessions",
                    "devices:write",
                    None,
                    (400, 401, 403, 404),
                    tag=ADMIN_TAG,
                    permission="manageUserDevices",
                )
            },
            [_user_param, _device_param],
        ),
        (
            "/devices/users/{userId}/revoke-all",
            {
                "post": op(
                    admin.revoke_all_user_devices,
                    "End all of a user's sessions (keeping the caller's own)",
                    "devices:write",
                    None,
                    (400, 401, 403, 404),
                    tag=ADMIN_TAG,
                    permission="manageUserDevices",
                )
            },
            [_user_param],
        ),
        (
            "/audit/events",
            {
                "get": op(
                    audit_routes.list_audit_events,
                    "Audit events in commit order after a cursor (for security tools)",
                    "audit:read",
                    shapes.EventList,
                    (400, 401, 403),
                    tag=EVENTS_TAG,
                    permission="viewAuditLog",
                    error_texts={400: "Invalid since, limit or cursor"},
                    parameters=_EVENTS_PARAMETERS,
                    headers={
                        "Link": {
                            "description": 'The next page: `<URL>; rel="next"` (always sent; '
                            "an empty page means no newer committed event yet, poll it later).",
                            "schema": {"type": "string"},
                            "example": "<https://portal.example.com/audit/events?limit=100&"
                            'cursor=c412>; rel="next"',
                        }
                    },
                )
            },
            [],
        ),
        (
            "/sign-ins",
            {
                "get": op(
                    sign_in_routes.list_sign_ins,
                    "Every user's sign-ins, newest first, filtered (audited)",
                    "devices:read",
                    shapes.SignInList,
                    (400, 401, 403),
                    tag=ADMIN_TAG,
                    permission="viewUserDevices",
                    error_texts={400: "Invalid filter, limit or cursor"},
                    parameters=_SIGN_IN_FILTERS,
                    headers={
                        "Link": {
                            "description": 'The next page: `<URL>; rel="next"` (absent on the '
                            "last page).",
                            "schema": {"type": "string"},
                        },
                        "X-Total-Count": {
                            "description": "How many sign-ins match (when at most 10,000).",
                            "schema": {"type": "integer"},
                        },
                        "X-Total-Count-Exceeds": {
                            "description": "Sent instead of X-Total-Count when more than this "
                            "many match.",
                            "schema": {"type": "integer"},
                        },
                    },
                )
            },
            [],
        ),
        (
            "/sign-ins/revoke",
            {
                "post": op(
                    sign_in_routes.revoke_sign_ins,
                    "Sign out every active session matching the filters (a background job)",
                    "devices:write",
                    shapes.JobStarted,
                    (400, 401, 403),
                    tag=ADMIN_TAG,
                    permission="manageUserDevices",
                    error_texts={400: "Invalid or missing filters"},
                    body=shapes.SignInQuery,
                    status=202,
                    headers={
                        "Location": {
                            "description": "The job: `GET /jobs/{jobId}`.",
                            "schema": {"type": "string"},
                        }
                    },
                )
            },
            [],
        ),
        (
            "/jobs/{jobId}",
            {
                "get": op(
                    sign_in_routes.get_job,
                    "Where a bulk sign-out job is",
                    "devices:read",
                    shapes.JobState,
                    (401, 403, 404),
                    tag=ADMIN_TAG,
                    permission="manageUserDevices",
                )
            },
            [_job_param],
        ),
    ]


# The polled lists (``api.conditional``): their ETag, If-None-Match and 304, added in one place.
POLLED = ("list_devices", "list_sessions", "list_user_devices")
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "ETags of lists the caller holds (or `*`): when one names the list as it is "
    "now, the answer is 304 with no body. Compared weakly (RFC 9110).",
    "schema": {"type": "string"},
    "example": 'W/"Vq3xB1m0cS4v2h8QJt7kYw"',
}
_VALIDATOR_HEADERS = {
    "ETag": {
        "description": "A weak tag of the list's state: the version of the user's device set "
        "(moved by every change the list shows), the next expiry in it, and who asks. Send it "
        "back in If-None-Match.",
        "schema": {"type": "string"},
        "example": 'W/"Vq3xB1m0cS4v2h8QJt7kYw"',
    },
    "Cache-Control": {
        "description": "`private, no-cache`: keep the list, but ask again before using it.",
        "schema": {"type": "string"},
    },
}


def _conditional(operation: dict) -> None:
    """A polled list's operation answers If-None-Match: 304 with no body when unchanged."""
    operation.setdefault("parameters", []).append(_IF_NONE_MATCH)
    operation["responses"]["200"]["headers"] = _VALIDATOR_HEADERS
    operation["responses"]["304"] = {
        "description": "Not modified: the list is as the If-None-Match tag says (no body)",
        "headers": _VALIDATOR_HEADERS,
    }


def build_spec(server_url: str | None = None) -> dict:
    """The whole OpenAPI document as a dict (within an app context: it reads the URL map)."""
    spec = APISpec(
        title="Device Portal API",
        version="1.0.0",
        openapi_version="3.1.0",
        info={
            "description": "Devices and sessions of the signed-in user and, with "
            "permissions, of any user. Bearer tokens are the identity "
            "provider's RFC 9068 JWT access tokens, or personal API tokens (dpt_...) made "
            "on /account/tokens."
        },
        servers=[{"url": server_url}] if server_url else [],
    )
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    op = _Operations()
    documented = _documented_paths(op)
    for _, operations, _ in documented:
        for operation in operations.values():
            if operation["operationId"] in POLLED:
                _conditional(operation)
    # Token-row routes are served again where the TKT document's samples call them.
    aliases = [
        _v1_alias(*entry)
        for entry in documented
        if op.all_token_rows(entry[1]) and entry[0].startswith(("/auth/", "/devices/users/"))
    ]
    for name, schema in component_schemas(op.answers, op.requests).items():
        spec.components.schema(name, schema)
    for path, operations, parameters in documented + aliases:
        spec.path(path=path, operations=operations, parameters=parameters)
    return spec.to_dict()


@envelope.get("/openapi.json")
@public
def openapi_document():
    """The OpenAPI document (public: it describes, it reveals no data)."""
    return jsonify(build_spec(request.host_url.rstrip("/")))
