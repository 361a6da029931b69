"""The OpenAPI 3.1 document of the JSON routes, assembled with apispec and served at /openapi.json.

Nothing about an operation is written here: ``build_spec`` walks the URL map, takes every rule
of an ``ApiBlueprint`` and builds its operation from what the route declares
(``declarations.documented``: summary, success and error answers, request models, headers,
links), its URL rule (the path parameters, typed by their converters), its ``bearer`` rule
(scope and permission), its blueprint (the error family) and its ``errors.failure`` (the 500's
message). Component schemas are the JSON Schema of the models in ``shapes``: the ones the
bodies are dumped from and the requests parsed with. What is written here is what belongs to
the document as a whole: its words for each error status, the examples of each shape, the
security schemes.

Tests check the document is valid, that every JSON route declares its operation, and that the
routes parse with the declared models; the test-suite's client validates every JSON answer it
receives against the document.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from apispec import APISpec
from flask import current_app, jsonify, request
from pydantic.json_schema import GenerateJsonSchema, models_json_schema
from werkzeug.routing import FloatConverter, IntegerConverter, Rule, UUIDConverter

from ..authz import public
from .auth import bearer_requirement
from .blueprints import ApiBlueprint, envelope
from .declarations import FAMILY_TAGS, Declaration, Header, declaration_of, undocumented
from .errors import (
    ENVELOPE,
    ERROR_MODELS,
    TOKEN_ROWS,
    VERSION_PREFIX,
    ApiError,
    error_shape,
    failure_message,
)
from .shapes.audit import Event, EventList, EventUser
from .shapes.envelope import (
    Device,
    DeviceAnswer,
    DeviceDetail,
    DeviceList,
    DeviceSession,
    EnvelopeMessage,
    HeartbeatAnswer,
    SecurityEvent,
    SecurityEventList,
    Session,
    SessionList,
    TrustAnswer,
)
from .shapes.sign_ins import JobStarted, JobState, SignIn, SignInList
from .shapes.token_rows import DeviceInfo, TokenRow, TokenRowList

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
    info = DeviceInfo(
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
    return TokenRow(
        id=_SESSION_ID, device_info=info, last_used_at=_WHEN, created_at=_WHEN, expires_at=_LATER
    )


def _examples() -> dict[type, object]:
    """An example body of each answer model, built from the models themselves."""
    done = "Device removed successfully"
    return {
        DeviceList: DeviceList(devices=[Device(**_example_device())]),
        DeviceAnswer: DeviceAnswer(
            device=DeviceDetail(
                **_example_device(
                    user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X)",
                    device_fingerprint="9f86d081884c7d659a2feaa0c55ad015"
                    "a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    sessions=[DeviceSession(**_example_session())],
                )
            )
        ),
        SessionList: SessionList(
            sessions=[Session(**_example_session(device_name="Safari on iPhone"))]
        ),
        SecurityEventList: SecurityEventList(
            events=[
                SecurityEvent(
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
        EnvelopeMessage: EnvelopeMessage(message=done),
        TrustAnswer: TrustAnswer(message="Device trusted successfully", trust_expires_at=_LATER),
        HeartbeatAnswer: HeartbeatAnswer(message="Session updated successfully", new_expiry=_LATER),
        TokenRowList: TokenRowList([_example_token_row()]),
        SignInList: SignInList(
            [
                SignIn(
                    id=_SESSION_ID,
                    user=EventUser(id=_USER_ID, email="ada@example.com"),
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
        JobStarted: JobStarted(job_id=_SESSION_ID, matched=1240),
        JobState: JobState(status="running", done=400, total=1240),
        EventList: EventList(
            [
                Event(
                    id=1042,
                    time=_WHEN,
                    action="revoke_session",
                    actor=EventUser(id=_USER_ID, email="ada@example.com"),
                    target=EventUser(id=_USER_ID, email="ada@example.com"),
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


def _header(header: Header) -> dict:
    described = {"description": header.description, "schema": dict(header.schema)}
    if header.example is not None:
        described["example"] = header.example
    return described


def _query_parameters(model: type | None) -> list[dict]:
    """One query parameter per field of ``model`` (by its alias), its schema the field's."""
    if model is None:
        return []
    schema = model.model_json_schema(by_alias=True, schema_generator=_OpenApiSchema)
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        parameter = {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": prop.get("description", ""),
            "schema": {
                k: v for k, v in prop.items() if k not in ("description", "examples", "default")
            },
        }
        if prop.get("examples"):
            parameter["example"] = prop["examples"][0]
        parameters.append(parameter)
    return parameters


def _camel(name: str) -> str:
    """A URL rule variable's name in the document: camelCase, as the documents spell them."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_VARIABLE = re.compile(r"<(?:[^>:]+:)?([^>]+)>")
# What werkzeug's own converters take; a converter of ours says it (``openapi_schema``).
_CONVERTER_SCHEMAS = {
    UUIDConverter: {"type": "string", "format": "uuid"},
    IntegerConverter: {"type": "integer"},
    FloatConverter: {"type": "number"},
}
_DEFAULT_SCHEMA = {"type": "string"}


def _schema_of(converter) -> dict:
    if hasattr(converter, "openapi_schema"):
        return dict(converter.openapi_schema)
    return dict(_CONVERTER_SCHEMAS.get(type(converter), _DEFAULT_SCHEMA))


def _path(rule: Rule, declaration: Declaration) -> tuple[str, list[dict]]:
    """The rule as an OpenAPI path, and its parameters, typed by the rule's converters."""
    converters = getattr(rule, "_converters", {})  # werkzeug's, by variable, once bound
    parameters = []

    def name_of(match: re.Match) -> str:
        variable = match.group(1)
        given = declaration.path.get(variable)
        name = (given and given.name) or _camel(variable)
        schema = _schema_of(converters.get(variable))
        parameter = {"name": name, "in": "path", "required": True, "schema": schema}
        if given and given.description:
            parameter["description"] = given.description
        parameters.append(parameter)
        return "{" + name + "}"

    path = _VARIABLE.sub(name_of, rule.rule)
    unknown = set(declaration.path) - set(rule.arguments)
    if unknown:
        raise LookupError(f"{rule.rule} has no variable {', '.join(sorted(unknown))}")
    return path, parameters


class _Operations:
    """Builds operations from declarations, and remembers which models they use."""

    def __init__(self) -> None:
        self.answers: list[type] = []
        self.requests: list[type] = []
        self.examples = _examples()

    def _use(self, model: type, used: list[type] | None = None) -> type:
        used = self.answers if used is None else used
        if model not in used:
            used.append(model)
        return model

    def operation(self, view: Callable, declaration: Declaration, family: str) -> dict:
        """``view``'s operation: its success, its other answers, then its errors."""
        d = declaration
        requirement = bearer_requirement(view)
        if requirement is None:
            raise LookupError(f"{view.__qualname__} has no bearer rule: which scope opens it?")
        scope, permission = requirement
        error_model = self._use(ERROR_MODELS[family])
        if d.ok is None:
            responses = {"204": {"description": "Done"}}
        else:
            described = "Accepted" if d.status == 202 else "OK"
            example = self.examples[d.ok].body()
            responses = {str(d.status): _json(self._use(d.ok), described, example)}
        success = next(iter(responses.values()))
        if d.links:
            success["links"] = {
                name: {
                    "operationId": link.operation_id,
                    "description": link.description,
                    "parameters": dict(link.parameters),
                }
                for name, link in d.links.items()
            }
        if d.headers:
            success["headers"] = {name: _header(h) for name, h in d.headers.items()}
        for status, answer in d.answers.items():
            responses[str(status)] = {"description": answer.description}
            if answer.headers:
                responses[str(status)]["headers"] = {
                    name: _header(h) for name, h in answer.headers.items()
                }
        texts = {**_ERROR_TEXTS[family], **d.error_texts, **_EVERY_OPERATION}
        for status in (*d.errors, *_EVERY_OPERATION):
            message = failure_message(view) if status == 500 else texts[status]
            example = error_shape(ApiError(status, message), family).body()
            responses[str(status)] = _json(error_model, texts[status], example)
        operation = {
            "operationId": view.__name__,
            "summary": d.summary,
            "tags": [d.tag or FAMILY_TAGS[family]],
            "security": [{scheme: [scope]} for scheme in SECURITY_SCHEMES],
            "responses": responses,
        }
        parameters = _query_parameters(d.query) + [
            {"name": name, "in": "header", "required": False, **_header(h)}
            for name, h in d.request_headers.items()
        ]
        if parameters:
            operation["parameters"] = parameters
        if permission:
            operation["description"] = f"Requires the `{permission}` permission."
        if d.body:
            media = {"schema": _ref(self._use(d.body, self.requests))}
            if d.body.EXAMPLE is not None:
                d.body.parse(d.body.EXAMPLE)  # the route accepts what the document shows
                media["example"] = d.body.EXAMPLE
            operation["requestBody"] = {"required": True, "content": {"application/json": media}}
        return operation


def _alias(operation: dict, path: str) -> dict:
    """A token-row operation where the TKT document's samples call it (``/v1`` + its path, the
    admin routes documented at ``/devices/users/...`` at ``/v1/auth/devices/users/...``)."""
    aliased = copy.deepcopy(operation)
    aliased["operationId"] += "_v1"
    for response in aliased["responses"].values():
        response.pop("links", None)  # the links name the documented operations
    note = f"Alias of `{path}`, where the TKT document's samples call it."
    aliased["description"] = " ".join(filter(None, [aliased.get("description"), note]))
    return aliased


def json_routes(app) -> list[tuple[Rule, Callable, ApiBlueprint]]:
    """Every URL rule of a JSON blueprint (``ApiBlueprint``), with its view and blueprint."""
    found = []
    for rule in app.url_map.iter_rules():
        blueprint = app.blueprints.get(rule.endpoint.rpartition(".")[0])
        if isinstance(blueprint, ApiBlueprint):
            found.append((rule, app.view_functions[rule.endpoint], blueprint))
    return found


def _methods(rule: Rule) -> list[str]:
    return sorted(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})


def _documented(app) -> tuple[dict[str, tuple[dict, list]], _Operations]:
    """``{path: ({method: operation}, path parameters)}`` for every declared JSON route; a
    route that neither declares its operation nor says why it has none is an error."""
    op = _Operations()
    paths: dict[str, tuple[dict, list]] = {}
    served: dict[tuple[Callable, str], tuple[dict, str]] = {}  # (view, method): (operation, path)
    aliases = []
    for rule, view, blueprint in json_routes(app):
        declaration = declaration_of(view)
        if declaration is None:
            if undocumented(view):
                continue
            raise LookupError(f"{rule.rule} ({rule.endpoint}) declares no operation (@documented)")
        if rule.rule.startswith(VERSION_PREFIX + "/"):
            aliases.append((rule, view, declaration))
            continue
        path, parameters = _path(rule, declaration)
        operations, _ = paths.setdefault(path, ({}, parameters))
        for method in _methods(rule):
            operations[method] = op.operation(view, declaration, blueprint.family)
            served[(view, method)] = (operations[method], path)
    # A /v1 rule serves the same view as its documented rule: the same operation, renamed.
    for rule, view, declaration in aliases:
        path, parameters = _path(rule, declaration)
        operations, _ = paths.setdefault(path, ({}, parameters))
        for method in _methods(rule):
            if (view, method) not in served:
                raise LookupError(f"{rule.rule} is an alias of no documented rule")
            operations[method] = _alias(*served[(view, method)])
    return paths, op


def build_spec(server_url: str | None = None) -> dict:
    """The whole OpenAPI document as a dict (within an app context: it walks the URL map)."""
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
    paths, op = _documented(current_app)
    for name, schema in component_schemas(op.answers, op.requests).items():
        spec.components.schema(name, schema)
    for path, (operations, parameters) in paths.items():
        spec.path(path=path, operations=operations, parameters=parameters)
    return spec.to_dict()


@envelope.get("/openapi.json")
@undocumented("the document itself: public, it describes and reveals no data")
@public
def openapi_document():
    """The OpenAPI document (public: it describes, it reveals no data)."""
    return jsonify(build_spec(request.host_url.rstrip("/")))
