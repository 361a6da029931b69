"""What each JSON route promises, declared on the route itself with ``@documented``.

``openapi.build_spec`` walks the URL map and builds every operation from its route's
declaration; nothing about an operation is written anywhere else. Where a declaration names
a request model (``body``, ``query``) the route parses its input with ``parsed_body`` and
``parsed_query``, which take the model from the same declaration: the document's schema and
the route's parser are one object, so they cannot disagree. The path parameters are the URL
rule's variables, typed by their converters; the scope and permission are the route's
``bearer`` rule, and the 500 message its ``errors.failure``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, request

from .errors import ENVELOPE, TOKEN_ROWS, ApiError
from .shapes.base import Body, Refused, RequestShape

_DECLARATION_ATTR = "_api_declaration"

# The groups of the document: a route is in its family's unless it names another.
FAMILY_TAGS = {ENVELOPE: "Devices (envelope)", TOKEN_ROWS: "Sessions (token rows)"}
ADMIN_TAG, EVENTS_TAG = "Admin", "Audit events"


@dataclass(frozen=True)
class Header:
    """A header an answer carries (``ETag``, ``Link``...), or one a request may send
    (``If-None-Match``)."""

    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    example: str | None = None


@dataclass(frozen=True)
class Answer:
    """An answer besides the route's success and its errors, with no body (``304 Not
    Modified``...): what it means and the headers it carries."""

    description: str
    headers: Mapping[str, Header] = field(default_factory=dict)


@dataclass(frozen=True)
class PathName:
    """How the document names a URL rule's variable (camelCase of the rule's name unless
    given), and what it is when its name alone does not say."""

    name: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: the operation a client can call next with a value from this answer."""

    operation_id: str
    description: str
    parameters: Mapping[str, str]


def link(operation_id: str, description: str, **parameters: str) -> Link:
    return Link(operation_id, description, parameters)


@dataclass(frozen=True)
class Declaration:
    """One route's operation: its success (``status`` with the ``ok`` model, or 204 when
    ``ok`` is None), its documented errors, and what it takes."""

    summary: str
    ok: type[Body] | None
    errors: tuple[int, ...]
    status: int = 200
    body: type[RequestShape] | None = None
    query: type[RequestShape] | None = None
    headers: Mapping[str, Header] = field(default_factory=dict)
    request_headers: Mapping[str, Header] = field(default_factory=dict)
    answers: Mapping[int, Answer] = field(default_factory=dict)
    error_texts: Mapping[int, str] = field(default_factory=dict)
    path: Mapping[str, PathName] = field(default_factory=dict)
    links: Mapping[str, Link] = field(default_factory=dict)
    tag: str | None = None


def documented(
    summary: str,
    *,
    ok: type[Body] | None,
    errors: tuple[int, ...],
    status: int = 200,
    body: type[RequestShape] | None = None,
    query: type[RequestShape] | None = None,
    headers: Mapping[str, Header] | None = None,
    request_headers: Mapping[str, Header] | None = None,
    answers: Mapping[int, Answer] | None = None,
    error_texts: Mapping[int, str] | None = None,
    path: Mapping[str, PathName] | None = None,
    links: Mapping[str, Link] | None = None,
    tag: str | None = None,
) -> Callable:
    """Declare the route's operation in the OpenAPI document. Place it under the route
    decorators, beside ``errors.failure``.

    ``ok``: the success body's model (None: 204, no body), answered with ``status``;
    ``errors``: the statuses it may answer in its family's error shape besides those every
    route may give (413, 429, 500, 503), with ``error_texts`` where the family's words do
    not fit; ``body`` and ``query``: the request models it parses with (``parsed_body``,
    ``parsed_query``); ``headers``: the success's headers; ``request_headers``: headers it
    reads; ``answers``: other statuses (a 304 and its headers); ``path``: how the document
    names the rule's variables; ``links``: what a client can do next with the answer;
    ``tag``: the group in the document (the family's by default).
    """
    declaration = Declaration(
        summary=summary,
        ok=ok,
        errors=tuple(errors),
        status=status,
        body=body,
        query=query,
        headers=dict(headers or {}),
        request_headers=dict(request_headers or {}),
        answers=dict(answers or {}),
        error_texts=dict(error_texts or {}),
        path=dict(path or {}),
        links=dict(links or {}),
        tag=tag,
    )

    def mark(view: Callable) -> Callable:
        setattr(view, _DECLARATION_ATTR, declaration)
        return view

    return mark


_UNDOCUMENTED_ATTR = "_api_undocumented"


def undocumented(reason: str | Callable) -> Any:
    """``@undocumented("why")``: a JSON route that is no operation of the document (the
    document's own route). Called with a view, says why it is undocumented (None if it is not)."""
    if callable(reason):
        return getattr(reason, _UNDOCUMENTED_ATTR, None)

    def mark(view: Callable) -> Callable:
        setattr(view, _UNDOCUMENTED_ATTR, reason)
        return view

    return mark


def declaration_of(view: Callable | None) -> Declaration | None:
    """The route's declaration, or None when it has none."""
    return getattr(view, _DECLARATION_ATTR, None)


def _current() -> Declaration:
    view = current_app.view_functions.get(request.endpoint or "")
    declaration = declaration_of(view)
    if declaration is None:
        raise LookupError(f"{request.endpoint} declares no operation (@documented)")
    return declaration


def _parse(model: type[RequestShape] | None, data: Any, what: str) -> Any:
    if model is None:
        raise LookupError(f"{request.endpoint} declares no {what} model")
    try:
        return model.parse(data)
    except Refused as refused:
        raise ApiError(400, refused.message, refused.code) from None


def parsed_body() -> Any:
    """The request's JSON body, parsed by the route's declared ``body`` model: 400 in the
    model's own words when it does not fit."""
    return _parse(_current().body, request.get_json(silent=True), "body")


def parsed_query() -> Any:
    """The query string (the first value of each name), parsed by the route's declared
    ``query`` model: 400 in the model's own words when it does not fit."""
    return _parse(_current().query, request.args.to_dict(), "query")
