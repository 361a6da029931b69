"""Deny by default: every route names the rule that guards it, and the API document matches."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from portal.authz import ACCESS_RULE_ATTR

API_BLUEPRINTS = ("api_envelope", "api_token_rows")


def test_every_route_names_its_access_rule(app):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]
    # Pages, sign-in, the admin's pages and the API are all among them.
    assert {"/", "/login", "/admin/users", "/devices"} <= {rule.rule for rule in rules}
    missing = []
    for rule in rules:
        view = app.view_functions[rule.endpoint]
        if not getattr(view, ACCESS_RULE_ATTR, None):
            missing.append(f"{rule.rule} ({rule.endpoint})")
    assert missing == [], f"routes without an access rule: {missing}"


def _json_routes(app) -> list:
    """The JSON API's URL rules (``/openapi.json``, public, aside)."""
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in API_BLUEPRINTS and rule.rule != "/openapi.json"
    ]


def test_json_routes_require_a_bearer_token(app):
    routes = _json_routes(app)
    assert {rule.endpoint.split(".")[0] for rule in routes} == set(API_BLUEPRINTS)
    for rule in routes:
        access = getattr(app.view_functions[rule.endpoint], ACCESS_RULE_ATTR)
        assert access.startswith("bearer:"), (rule.rule, access)


def _documented_operations(spec) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "delete", "put", "patch")
    }


def test_openapi_document_is_valid_and_lists_exactly_the_json_routes(client, app):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    served = set()
    for rule in _json_routes(app):
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((method, path))
    normalise = {"{user_id}": "{userId}", "{device_id}": "{deviceId}", "{session_id}": "{id}"}

    def norm(pair):
        method, path = pair
        for a, b in normalise.items():
            path = path.replace(a, b)
        return method, path

    assert {norm(p) for p in served} == _documented_operations(spec)
    # 15 documented operations, the six token-row ones again at their /v1 paths, the events
    # API (GET /audit/events), the caller's security activity (GET /account/security-events),
    # and the sign-in search and bulk sign-out (GET /sign-ins, POST /sign-ins/revoke,
    # GET /jobs/{jobId}).
    assert len(_documented_operations(spec)) == 26


# Where the TKT document's samples call each token-row route, and the path it documents.
V1_ALIASES = {
    "/v1/auth/devices": "/auth/devices",
    "/v1/auth/devices/<id>": "/auth/devices/<id>",
    "/v1/auth/devices/revoke-all": "/auth/devices/revoke-all",
    "/v1/auth/devices/users/<user_id>": "/devices/users/<user_id>",
    "/v1/auth/devices/users/<user_id>/<device_id>": "/devices/users/<user_id>/<device_id>",
    "/v1/auth/devices/users/<user_id>/revoke-all": "/devices/users/<user_id>/revoke-all",
}


def test_v1_aliases_are_the_documented_routes_with_their_rules(app):
    rules = {rule.rule: rule for rule in app.url_map.iter_rules()}
    served = {path for path in rules if path.startswith("/v1/")}
    assert served == set(V1_ALIASES)
    for alias, documented in V1_ALIASES.items():
        a, d = rules[alias], rules[documented]
        assert (a.endpoint, a.methods) == (d.endpoint, d.methods), alias
        assert a.endpoint.startswith("api_token_rows."), alias
        access = getattr(app.view_functions[a.endpoint], ACCESS_RULE_ATTR)
        assert access.startswith("bearer:"), (alias, access)
