"""Each JSON route declares its own operation (``api.declarations.documented``), the document
is built from those declarations by walking the URL map, and the declaration and the route
agree: what the document accepts as a request body or query, the route accepts, and what the
document refuses, the route refuses with a 400."""

from __future__ import annotations

import pytest
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest
from openapi_spec_validator import validate
from support.account_helpers import bearer as bearer_header
from support.account_helpers import make_token
from support.api_contract import api_document
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from portal import create_app
from portal.api.auth import bearer
from portal.api.blueprints import ApiBlueprint
from portal.api.declarations import (
    Answer,
    Header,
    PathName,
    declaration_of,
    documented,
    undocumented,
)
from portal.api.errors import ENVELOPE, TOKEN_ROWS
from portal.api.openapi import build_spec, json_routes
from portal.api.shapes.envelope import EnvelopeMessage, TrustRequest
from portal.api.shapes.sign_ins import SignInQuery
from portal.api.shapes.token_rows import TokenRowList


def _undeclared(app) -> list[str]:
    """The JSON routes that neither declare their operation nor say why they have none."""
    return [
        rule.rule
        for rule, view, _ in json_routes(app)
        if declaration_of(view) is None and not undocumented(view)
    ]


def test_every_json_route_declares_its_operation(app):
    routes = json_routes(app)
    assert len(routes) > 20  # the envelope, token-row, admin, events and sign-in routes
    assert _undeclared(app) == []
    # Only the document's own route is not an operation of it.
    assert [r.rule for r, view, _ in routes if undocumented(view)] == ["/openapi.json"]


def _app_with(app_config, blueprint: ApiBlueprint):
    """An app of the test's own, serving ``blueprint`` beside the portal's routes."""
    own = create_app(app_config)
    own.register_blueprint(blueprint)
    return own


def test_a_json_route_added_without_a_declaration_fails(app_config):
    throwaway = ApiBlueprint("api_throwaway", __name__, ENVELOPE)

    @throwaway.get("/throwaway")
    @bearer("devices:read")
    def undeclared(principal):
        return EnvelopeMessage(message="hello").answer()

    own = _app_with(app_config, throwaway)
    assert _undeclared(own) == ["/throwaway"]
    with own.test_request_context("/openapi.json"), pytest.raises(LookupError, match="throwaway"):
        build_spec()


def test_a_declaration_naming_a_path_variable_the_rule_lacks_fails(app_config):
    throwaway = ApiBlueprint("api_throwaway", __name__, TOKEN_ROWS)

    @throwaway.delete("/throwaway/<thing_id>")
    @documented("Mistyped", ok=None, errors=(401,), path={"thingid": PathName("id")})
    @bearer("devices:write")
    def mistyped(principal, thing_id):
        return "", 204

    own = _app_with(app_config, throwaway)
    with own.test_request_context("/openapi.json"), pytest.raises(LookupError, match="thingid"):
        build_spec()


def test_a_304_and_its_headers_are_declared_at_the_route(app_config):
    """The way a polled GET documents its ETag, If-None-Match and 304 Not Modified."""
    throwaway = ApiBlueprint("api_throwaway", __name__, TOKEN_ROWS)
    etag = Header("A version of the caller's sessions", example='"v42"')

    @throwaway.get("/throwaway/<uuid:user_id>")
    @documented(
        "Polled",
        ok=TokenRowList,
        errors=(401, 403, 404),
        headers={"ETag": etag},
        request_headers={"If-None-Match": Header("The ETag of the rows the client holds")},
        answers={304: Answer("Not modified since that ETag", headers={"ETag": etag})},
    )
    @bearer("devices:read")
    def polled(principal, user_id):
        raise NotImplementedError

    own = _app_with(app_config, throwaway)
    with own.test_request_context("/openapi.json"):
        spec = build_spec("http://localhost")
    validate(spec)
    path = spec["paths"]["/throwaway/{userId}"]
    assert path["parameters"] == [
        {
            "name": "userId",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "format": "uuid"},
        }
    ]
    operation = path["get"]
    assert list(operation["responses"])[:2] == ["200", "304"]
    assert operation["responses"]["304"] == {
        "description": "Not modified since that ETag",
        "headers": {
            "ETag": {
                "description": "A version of the caller's sessions",
                "schema": {"type": "string"},
                "example": '"v42"',
            }
        },
    }
    assert "ETag" in operation["responses"]["200"]["headers"]
    assert operation["parameters"] == [
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "The ETag of the rows the client holds",
            "schema": {"type": "string"},
        }
    ]
    assert operation["security"] == [
        {"bearer": ["devices:read"]},
        {"personalToken": ["devices:read"]},
    ]


def test_scope_permission_and_failure_come_from_the_route_itself(client):
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"]["/audit/events"]["get"]
    assert operation["security"][0] == {"bearer": ["audit:read"]}
    assert operation["description"] == "Requires the `viewAuditLog` permission."
    failed = operation["responses"]["500"]["content"]["application/json"]["example"]
    assert failed["error"]["message"] == "Failed to retrieve audit events"
    # A /v1 rule is the same view's operation again, under its own id.
    alias = spec["paths"]["/v1/auth/devices/users/{userId}"]["get"]
    assert alias["operationId"] == "list_user_devices_v1"
    assert "Alias of `/devices/users/{userId}`" in alias["description"]


# --- the document and the route's parser agree -------------------------------------------


def _document_accepts(app, method: str, path: str, headers: dict, **request) -> bool:
    """Whether /openapi.json allows this request (its body, its query) as it stands."""
    built = EnvironBuilder(path=path, method=method, headers=headers, **request)
    try:
        api_document(app).validate_request(WerkzeugOpenAPIRequest(Request(built.get_environ())))
    except Exception:
        return False
    return True


def _fingerprint_of_a_device(client, headers) -> str:
    device = client.get("/devices", headers=headers).get_json()["devices"][0]
    detail = client.get(f"/devices/{device['id']}", headers=headers).get_json()
    return detail["device"]["deviceFingerprint"]


def _variants(example: dict, extra: dict) -> list[dict]:
    """The example, each key left out, null, a number, and one unknown key more."""
    bodies = [example, {}, {**example, **extra}]
    for key in example:
        bodies.append({k: v for k, v in example.items() if k != key})
        bodies.append({**example, key: None})
        bodies.append({**example, key: 5})
    return bodies


def _agree(app, client, method, path, headers, bodies) -> list:
    """The bodies the document and the route judge differently (the route: 400 or not)."""
    disagree = []
    for body in bodies:
        answer = client.open(path, method=method, json=body, headers=headers)
        route_accepts = answer.status_code != 400
        if route_accepts != _document_accepts(app, method, path, headers, json=body):
            disagree.append((body, answer.status_code, answer.get_json()))
    return disagree


def test_trust_device_accepts_exactly_the_bodies_the_document_allows(app, client, auth):
    headers = auth.bearer("alice")
    fingerprint = _fingerprint_of_a_device(client, headers)
    example = TrustRequest.EXAMPLE
    spec = client.get("/openapi.json").get_json()
    documented_example = spec["paths"]["/devices/trust"]["post"]["requestBody"]["content"]
    assert documented_example["application/json"]["example"] == example
    mine = {**example, "fingerprint": fingerprint}
    bodies = [
        *_variants(mine, {"note": "ignored"}),
        example,  # nobody's device: a 404, not a 400
        {**mine, "fingerprint": fingerprint.upper()},  # a hex digest in either case
        {**mine, "trustLevel": "low"},
        {**mine, "trustLevel": "UNKNOWN"},
        {**mine, "fingerprint": fingerprint[:-1]},
        {**mine, "fingerprint": " " + fingerprint[1:]},
        [mine],
    ]
    assert _agree(app, client, "POST", "/devices/trust", headers, bodies) == []
    upper = client.post(
        "/devices/trust", json={**mine, "fingerprint": fingerprint.upper()}, headers=headers
    )
    assert upper.status_code == 200


def test_bulk_sign_out_accepts_exactly_the_bodies_the_document_allows(app, client, auth):
    headers = auth.bearer("admin")
    example = SignInQuery.EXAMPLE
    bodies = [
        *_variants(example, {"deviceKind": "mobile"}),
        {"device_type": "mobile"},  # a field's Python name is not its documented name
        {"activeOnly": True},  # no filter that narrows
        {"activeOnly": "true", "country": "GB"},
        {"ip": "203.0.113.0/24", "user": "  "},
        {"deviceType": "phone"},
        {"flag": "reported", "until": "2026-12-01"},
        "GB",
    ]
    assert _agree(app, client, "POST", "/sign-ins/revoke", headers, bodies) == []


def _agree_on_queries(app, client, path, headers, queries) -> list:
    disagree = []
    for query in queries:
        answer = client.get(path, query_string=query, headers=headers)
        route_accepts = answer.status_code != 400
        if route_accepts != _document_accepts(app, "GET", path, headers, query_string=query):
            disagree.append((query, answer.status_code, answer.get_json()))
    return disagree


def _query_variants(parameters: list[dict]) -> list[dict]:
    """Each parameter alone: its example, and values of the wrong kind or out of range."""
    queries = [{}]
    for parameter in parameters:
        name = parameter["name"]
        # "²" is a digit to str.isdigit and no number to int(), an Arabic-Indic five a
        # digit to both; openapi-core reads "0" as a boolean false, where a query string's
        # boolean is "true" or "false".
        wrong = ("x", "", "5", "5000", "-1", "1.5", "true", "\u00b2", "\u0665")
        zero = () if parameter["schema"].get("type") == "boolean" else ("0",)
        queries.extend({name: value} for value in (*wrong, *zero))
        if "example" in parameter:
            queries.append({name: parameter["example"]})
    return queries


def test_query_routes_accept_exactly_the_queries_the_document_allows(app, client, auth):
    admin = auth.new_client("admin")
    for path, scopes in (("/audit/events", ("audit:read",)), ("/sign-ins", ("devices:read",))):
        headers = bearer_header(make_token(admin, name=path, scopes=scopes))
        spec = client.get("/openapi.json").get_json()
        parameters = spec["paths"][path]["get"]["parameters"]
        assert {p["name"] for p in parameters} >= {"limit", "cursor", "since"}
        assert client.get(path, headers=headers).status_code == 200
        queries = [*_query_variants(parameters), {"since": "2026-11-25T18:00:00Z", "limit": "2"}]
        disagree = _agree_on_queries(app, client, path, headers, queries)
        assert disagree == [], "\n".join(map(str, disagree))
