"""Each SCIM request counted (``portal_scim_requests_total``) by its operation, such as
``users.create`` or ``groups.patch``, and its status."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from .. import metrics

# What each SCIM view does, for the metrics: ``users.create``, ``groups.patch``...
_VERBS = {
    "search": "list",
    "search_with_body": "search",
    "create": "create",
    "query": "get",
    "replace": "replace",
    "patch": "patch",
    "delete": "delete",
}
_RESOURCES = {"users": "users", "groups": "groups"}
_DISCOVERY = {"service_provider_config", "resource_types", "resource_type", "schemas", "schema"}


def operation_of(endpoint: str | None, view_args: dict[str, Any] | None) -> str:
    """A SCIM request's operation as a label: the resource type and the verb, or what the
    other views serve; the resource's id and the caller's words are never part of it."""
    view = (endpoint or "").rpartition(".")[2]
    if view in _VERBS:
        resource = str((view_args or {}).get("resource_endpoint", "")).lower()
        return f"{_RESOURCES.get(resource, 'other')}.{_VERBS[view]}"
    if view in _DISCOVERY:
        return "discovery"
    if view in ("bulk", "search_root", "search_root_with_body") or view.startswith("me_"):
        return "unsupported"
    return "unmatched"


def count(response: Response) -> Response:
    """Count the answered request (the blueprint's after-request hook)."""
    metrics.scim_request(operation_of(request.endpoint, request.view_args), response.status_code)
    return response
