"""One operation of the document, built from its route's declaration: its answers (success,
others, errors with the family's examples), parameters, request body and security."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from ..auth import bearer_requirement
from ..declarations import FAMILY_TAGS, Declaration, Header
from ..errors import (
    ENVELOPE,
    ERROR_MODELS,
    TOKEN_ROWS,
    ApiError,
    error_shape,
    failure_message,
)
from .examples import example_bodies
from .schemas import query_parameters, ref

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


def _json(model: type[BaseModel], description: str, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": ref(model)}
    if example is not None:
        media["example"] = example
    return {"description": description, "content": {"application/json": media}}


def _header(header: Header) -> dict[str, Any]:
    described: dict[str, Any] = {"description": header.description, "schema": dict(header.schema)}
    if header.example is not None:
        described["example"] = header.example
    return described


class Operations:
    """Builds operations from declarations, and remembers which models they use."""

    def __init__(self) -> None:
        self.answers: list[type[BaseModel]] = []
        self.requests: list[type[BaseModel]] = []
        self.examples = example_bodies()

    def _use(
        self, model: type[BaseModel], used: list[type[BaseModel]] | None = None
    ) -> type[BaseModel]:
        used = self.answers if used is None else used
        if model not in used:
            used.append(model)
        return model

    def operation(self, view: Callable, declaration: Declaration, family: str) -> dict[str, Any]:
        """``view``'s operation: its success, its other answers, then its errors."""
        d = declaration
        requirement = bearer_requirement(view)
        if requirement is None:
            raise LookupError(f"{view.__qualname__} has no bearer rule: which scope opens it?")
        scope, permission = requirement
        error_model = self._use(ERROR_MODELS[family])
        responses: dict[str, dict[str, Any]]
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
        operation: dict[str, Any] = {
            "operationId": view.__name__,
            "summary": d.summary,
            "tags": [d.tag or FAMILY_TAGS[family]],
            "security": [{scheme: [scope]} for scheme in SECURITY_SCHEMES],
            "responses": responses,
        }
        parameters = query_parameters(d.query) + [
            {"name": name, "in": "header", "required": False, **_header(h)}
            for name, h in d.request_headers.items()
        ]
        if parameters:
            operation["parameters"] = parameters
        if permission:
            operation["description"] = f"Requires the `{permission}` permission."
        if d.body:
            media: dict[str, Any] = {"schema": ref(self._use(d.body, self.requests))}
            if d.body.EXAMPLE is not None:
                d.body.parse(d.body.EXAMPLE)  # the route accepts what the document shows
                media["example"] = d.body.EXAMPLE
            operation["requestBody"] = {"required": True, "content": {"application/json": media}}
        return operation
