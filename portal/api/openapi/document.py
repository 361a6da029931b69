"""The whole document: every declared JSON route of the URL map as an operation at its path
(its ``/v1`` aliases too), with the component schemas those operations use."""

from __future__ import annotations

import copy
from collections.abc import Callable

from apispec import APISpec
from flask import current_app
from werkzeug.routing import Rule

from ..blueprints import ApiBlueprint
from ..declarations import declaration_of, undocumented
from ..errors import VERSION_PREFIX
from .operations import SECURITY_SCHEMES, Operations
from .schemas import component_schemas, rule_path


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
    return sorted(m.lower() for m in (rule.methods or set()) - {"HEAD", "OPTIONS"})


def _documented(app) -> tuple[dict[str, tuple[dict, list]], Operations]:
    """``{path: ({method: operation}, path parameters)}`` for every declared JSON route; a
    route that neither declares its operation nor says why it has none is an error."""
    op = Operations()
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
        path, parameters = rule_path(rule, declaration)
        operations, _ = paths.setdefault(path, ({}, parameters))
        for method in _methods(rule):
            operations[method] = op.operation(view, declaration, blueprint.family)
            served[(view, method)] = (operations[method], path)
    # A /v1 rule serves the same view as its documented rule: the same operation, renamed.
    for rule, view, declaration in aliases:
        path, parameters = rule_path(rule, declaration)
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
