"""The OpenAPI 3 document of the JSON routes, built with apispec and served at /openapi.json.

Schemas mirror the serializers in ``serializers.py`` (the documented shapes); a test checks the
document is valid and that it and the URL map name the same routes.
"""

from __future__ import annotations

import copy

from apispec import APISpec
from flask import current_app, jsonify

from ..authz import public
from . import FAILURE_MESSAGES, envelope
from .errors import VERSION_PREFIX

_nullable_str = {"type": "string", "nullable": True}
_time = {"type": "string", "format": "date-time", "example": "2026-11-25T18:00:00Z"}
_nullable_time = {**_time, "nullable": True}
_uuid = {"type": "string", "format": "uuid"}

SCHEMAS = {
    "EnvelopeError": {
        "type": "object",
        "required": ["success", "error"],
        "properties": {
            "success": {"type": "boolean", "enum": [False]},
            "error": {"type": "string"},
        },
    },
    "EnvelopeMessage": {
        "type": "object",
        "required": ["success", "message"],
        "properties": {
            "success": {"type": "boolean", "enum": [True]},
            "message": {"type": "string"},
        },
    },
    "TokenRowError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Device": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id",
            "deviceName",
            "deviceType",
            "os",
            "browser",
            "ipAddress",
            "country",
            "city",
            "isTrusted",
            "trustLevel",
            "lastSeen",
            "createdAt",
            "trustExpiresAt",
        ],
        "properties": {
            "id": _uuid,
            "deviceName": {"type": "string"},
            "deviceType": {"type": "string", "enum": ["DESKTOP", "MOBILE", "TABLET"]},
            "os": _nullable_str,
            "browser": _nullable_str,
            "ipAddress": _nullable_str,
            "country": _nullable_str,
            "city": _nullable_str,
            "isTrusted": {"type": "boolean"},
            "trustLevel": {"type": "string", "enum": ["HIGH", "MEDIUM", "LOW", "UNKNOWN"]},
            "lastSeen": _time,
            "createdAt": _time,
            "trustExpiresAt": _nullable_time,
        },
    },
    "DeviceSession": {
        "type": "object",
        "required": [
            "id",
            "ipAddress",
            "location",
            "startedAt",
            "lastActivity",
            "expiresAt",
            "loginMethod",
        ],
        "properties": {
            "id": _uuid,
            "ipAddress": _nullable_str,
            "location": _nullable_str,
            "startedAt": _time,
            "lastActivity": _time,
            "expiresAt": _time,
            "loginMethod": {"type": "string", "enum": ["oidc", "bearer"]},
        },
    },
    "DeviceDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/Device"},
            {
                "type": "object",
                "required": ["userAgent", "deviceFingerprint", "sessions"],
                "properties": {
                    "userAgent": _nullable_str,
                    "deviceFingerprint": {"type": "string"},
                    "sessions": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/DeviceSession"},
                    },
                },
            },
        ]
    },
    "Session": {
        "allOf": [
            {"$ref": "#/components/schemas/DeviceSession"},
            {
                "type": "object",
                "required": ["deviceName"],
                "properties": {"deviceName": {"type": "string"}},
            },
        ]
    },
    "TokenRow": {
        "type": "object",
        "required": ["id", "deviceInfo", "lastUsedAt", "createdAt", "expiresAt"],
        "properties": {
            "id": _uuid,
            "deviceInfo": {
                "type": "object",
                "required": [
                    "deviceId",
                    "deviceType",
                    "deviceName",
                    "deviceModel",
                    "osName",
                    "osVersion",
                    "appVersion",
                    "ipAddress",
                    "userAgent",
                    "lastLocation",
                ],
                "properties": {
                    "deviceId": _uuid,
                    "deviceType": {"type": "string", "enum": ["desktop", "mobile", "tablet"]},
                    "deviceName": {"type": "string"},
                    "deviceModel": _nullable_str,
                    "osName": _nullable_str,
                    "osVersion": _nullable_str,
                    "appVersion": _nullable_str,
                    "ipAddress": _nullable_str,
                    "userAgent": _nullable_str,
                    "lastLocation": {**_nullable_str, "example": "London, GB"},
                },
            },
            "lastUsedAt": _time,
            "createdAt": _time,
            "expiresAt": _time,
        },
    },
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _envelope_errors(*codes: int) -> dict:
    texts = {
        400: "Invalid request",
        401: "Missing or invalid bearer token",
        403: "Token lacks the scope",
        404: "Not found (or not yours)",
    }
    return {str(c): _json(_ref("EnvelopeError"), texts[c]) for c in codes}


def _token_row_errors(*codes: int) -> dict:
    texts = {
        400: "Invalid id format (not a UUID)",
        401: "Missing or invalid bearer token",
        403: "Missing permission or scope",
        404: "Not found (or not yours)",
    }
    return {str(c): _json(_ref("TokenRowError"), texts[c]) for c in codes}


def _ok(schema: dict, description: str = "OK") -> dict:
    return _json(schema, description)


ENV_TAG, TKT_TAG, ADMIN_TAG = "Devices (envelope)", "Sessions (token rows)", "Admin"


def _too_large(tag: str) -> dict:
    """Every operation: a body over PORTAL_MAX_BODY_BYTES is a 413 in the route's error shape."""
    schema = "EnvelopeError" if tag == ENV_TAG else "TokenRowError"
    return {"413": _json(_ref(schema), "Request body over the size limit (PORTAL_MAX_BODY_BYTES)")}


def _failure(view: str) -> dict:
    """An envelope route's 500, with the message the documents give it."""
    message = FAILURE_MESSAGES[f"{envelope.name}.{view}"]
    response = _json(_ref("EnvelopeError"), "Unexpected failure")
    response["content"]["application/json"]["example"] = {"success": False, "error": message}
    return {"500": response}


def _op(
    summary: str,
    scope: str,
    responses: dict,
    *,
    body: dict | None = None,
    tag: str = ENV_TAG,
    permission: str | None = None,
) -> dict:
    operation = {
        "summary": summary,
        "tags": [tag],
        "security": [{"bearer": [scope]}],
        "responses": {**responses, **_too_large(tag)},
    }
    if permission:
        operation["description"] = f"Requires the `{permission}` permission."
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": body}},
        }
    return operation


def _envelope_ok(**props) -> dict:
    return {
        "type": "object",
        "required": ["success", *props],
        "properties": {"success": {"type": "boolean", "enum": [True]}, **props},
    }


_id_param = {"name": "id", "in": "path", "required": True, "schema": _uuid}
_user_param = {"name": "userId", "in": "path", "required": True, "schema": _uuid}
_device_param = {
    "name": "deviceId",
    "in": "path",
    "required": True,
    "schema": _uuid,
    "description": "The session's id (a TKT 'device' row is a session).",
}
_no_content = {"204": {"description": "Done"}}


def _paths() -> list[tuple[str, dict, list]]:
    documented = _documented_paths()
    return documented + [_v1_alias(*entry) for entry in documented if _is_token_row(entry[1])]


def _is_token_row(operations: dict) -> bool:
    return all(op["tags"][0] in (TKT_TAG, ADMIN_TAG) for op in operations.values())


def _v1_alias(path: str, operations: dict, parameters: list) -> tuple[str, dict, list]:
    """A token-row route where the TKT document's samples call it: ``/v1`` + its path, and the
    admin routes (documented at ``/devices/users/...``) at ``/v1/auth/devices/users/...``."""
    alias = VERSION_PREFIX + (path if path.startswith("/auth/") else "/auth" + path)
    aliased = copy.deepcopy(operations)
    for operation in aliased.values():
        note = f"Alias of `{path}`, where the TKT document's samples call it."
        operation["description"] = " ".join(filter(None, [operation.get("description"), note]))
    return alias, aliased, parameters


def _documented_paths() -> list[tuple[str, dict, list]]:
    env_tag, tkt_tag, admin_tag = ENV_TAG, TKT_TAG, ADMIN_TAG
    message = _ok(_ref("EnvelopeMessage"))
    return [
        (
            "/devices",
            {
                "get": _op(
                    "The caller's devices",
                    "devices:read",
                    {
                        "200": _ok(
                            _envelope_ok(devices={"type": "array", "items": _ref("Device")})
                        ),
                        **_envelope_errors(401, 403),
                        **_failure("list_devices"),
                    },
                )
            },
            [],
        ),
        (
            "/devices/{id}",
            {
                "get": _op(
                    "One of the caller's devices with its active sessions",
                    "devices:read",
                    {
                        "200": _ok(_envelope_ok(device=_ref("DeviceDetail"))),
                        **_envelope_errors(401, 403, 404),
                        **_failure("get_device"),
                    },
                ),
                "delete": _op(
                    "Remove a device and end its sessions",
                    "devices:write",
                    {
                        "200": message,
                        **_envelope_errors(401, 403, 404),
                        **_failure("remove_device"),
                    },
                ),
            },
            [_id_param],
        ),
        (
            "/devices/trust",
            {
                "post": _op(
                    "Trust the caller's device with this fingerprint",
                    "devices:write",
                    {
                        "200": _ok(_envelope_ok(message={"type": "string"}, trustExpiresAt=_time)),
                        **_envelope_errors(400, 401, 403, 404),
                        **_failure("trust_device"),
                    },
                    body={
                        "type": "object",
                        "required": ["fingerprint"],
                        "properties": {
                            "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                            "trustLevel": {"type": "string", "enum": ["HIGH", "MEDIUM", "LOW"]},
                        },
                    },
                )
            },
            [],
        ),
        (
            "/devices/{id}/untrust",
            {
                "post": _op(
                    "Untrust a device and end its sessions",
                    "devices:write",
                    {
                        "200": message,
                        **_envelope_errors(401, 403, 404),
                        **_failure("untrust_device"),
                    },
                )
            },
            [_id_param],
        ),
        (
            "/sessions",
            {
                "get": _op(
                    "The caller's active sessions",
                    "devices:read",
                    {
                        "200": _ok(
                            _envelope_ok(sessions={"type": "array", "items": _ref("Session")})
                        ),
                        **_envelope_errors(401, 403),
                        **_failure("list_sessions"),
                    },
                    tag=env_tag,
                )
            },
            [],
        ),
        (
            "/sessions/{id}/revoke",
            {
                "post": _op(
                    "End one of the caller's sessions",
                    "devices:write",
                    {
                        "200": message,
                        **_envelope_errors(401, 403, 404),
                        **_failure("revoke_session"),
                    },
                )
            },
            [_id_param],
        ),
        (
            "/sessions/revoke-all",
            {
                "post": _op(
                    "End all the caller's sessions, this one too",
                    "devices:write",
                    {
                        "200": message,
                        **_envelope_errors(401, 403),
                        **_failure("revoke_all_sessions"),
                    },
                )
            },
            [],
        ),
        (
            "/sessions/{id}/heartbeat",
            {
                "post": _op(
                    "Extend a session's expiry (never past its absolute cap)",
                    "devices:write",
                    {
                        "200": _ok(_envelope_ok(message={"type": "string"}, newExpiry=_time)),
                        **_envelope_errors(401, 403, 404),
                        **_failure("heartbeat"),
                    },
                )
            },
            [_id_param],
        ),
        (
            "/auth/devices",
            {
                "get": _op(
                    "The caller's active sessions",
                    "devices:read",
                    {
                        "200": _ok({"type": "array", "items": _ref("TokenRow")}),
                        **_token_row_errors(401, 403),
                    },
                    tag=tkt_tag,
                )
            },
            [],
        ),
        (
            "/auth/devices/{id}",
            {
                "delete": _op(
                    "End one of the caller's sessions",
                    "devices:write",
                    {**_no_content, **_token_row_errors(400, 401, 403, 404)},
                    tag=tkt_tag,
                )
            },
            [_id_param],
        ),
        (
            "/auth/devices/revoke-all",
            {
                "post": _op(
                    "End all the caller's sessions but the current one",
                    "devices:write",
                    {**_no_content, **_token_row_errors(401, 403)},
                    tag=tkt_tag,
                )
            },
            [],
        ),
        (
            "/devices/users/{userId}",
            {
                "get": _op(
                    "A user's active sessions",
                    "devices:read",
                    {
                        "200": _ok({"type": "array", "items": _ref("TokenRow")}),
                        **_token_row_errors(400, 401, 403, 404),
                    },
                    tag=admin_tag,
                    permission="viewUserDevices",
                )
            },
            [_user_param],
        ),
        (
            "/devices/users/{userId}/{deviceId}",
            {
                "delete": _op(
                    "End one of a user's sessions",
                    "devices:write",
                    {**_no_content, **_token_row_errors(400, 401, 403, 404)},
                    tag=admin_tag,
                    permission="manageUserDevices",
                )
            },
            [_user_param, _device_param],
        ),
        (
            "/devices/users/{userId}/revoke-all",
            {
                "post": _op(
                    "End all of a user's sessions (keeping the caller's own)",
                    "devices:write",
                    {**_no_content, **_token_row_errors(400, 401, 403, 404)},
                    tag=admin_tag,
                    permission="manageUserDevices",
                )
            },
            [_user_param],
        ),
    ]


def build_spec(server_url: str | None = None) -> dict:
    """The whole OpenAPI document as a dict."""
    spec = APISpec(
        title="Device Portal API",
        version="1.0.0",
        openapi_version="3.0.3",
        info={
            "description": "Devices and sessions of the signed-in user and, with "
            "permissions, of any user. Bearer tokens are the identity "
            "provider's RFC 9068 JWT access tokens."
        },
        servers=[{"url": server_url}] if server_url else [],
    )
    spec.components.security_scheme(
        "bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    for path, operations, parameters in _paths():
        spec.path(path=path, operations=operations, parameters=parameters)
    return spec.to_dict()


@envelope.get("/openapi.json")
@public
def openapi_document():
    """The OpenAPI document (public: it describes, it reveals no data)."""
    return jsonify(build_spec(current_app.config.get("API_BASE_URL")))
