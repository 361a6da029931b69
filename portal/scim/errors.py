"""SCIM's errors (RFC 7644 3.12) of a request the service could not read, in words a person
reads: ``invalidSyntax`` for a body that is not a SCIM request (not JSON, an unknown PATCH op, a
missing ``Operations``, an attribute no schema has), ``invalidValue`` naming the attribute and
what is wrong with its value. scim2-models' own SCIM errors (``invalidPath``, ``mutability``,
``noTarget``...) keep their keyword; no library's message reaches the client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel
from scim2_models import Error, InvalidSyntaxException, InvalidValueException, SCIMException

# What is wrong with a value, by pydantic's error type (its prefix before "_" as a fallback).
_WHAT_IS_WRONG = {
    "bool": "must be true or false",
    "string": "must be a string",
    "int": "must be an integer",
    "float": "must be a number",
    "list": "must be a list",
    "dict": "must be an object",
    "model": "must be an object",
    "model_attributes_type": "must be an object",
    "missing": "is required",
    "required_error": "is required",
    "enum": "is not one of the values it may take",
    "literal_error": "is not one of the values it may take",
    "base64": "must be base64",
    "datetime": "must be a date and time (RFC 3339, such as 2026-01-31T12:00:00Z)",
    "date": "must be a date and time (RFC 3339, such as 2026-01-31T12:00:00Z)",
    "url": "must be a URI",
    "too_long": "is too long",
    "too_short": "is too short",
}

# Errors that say the body is not a request of the kind, rather than a wrong value in it.
_SYNTAX = {"json_invalid", "json_type", "extra_forbidden", "unknown_extension_schema"}


def _attribute_name(part: str, model: type[BaseModel] | None, top: bool) -> str:
    """An attribute's SCIM name from the Python name pydantic reports when it validates a model
    already built (a PATCH applied): the resource's field alias (an extension's is its schema
    URN), else the name in camel case (``given_name``: ``givenName``, ``ref``: ``$ref``)."""
    if model is None:
        return part
    field = model.model_fields.get(part) if top else None
    if field is not None and field.serialization_alias:
        return field.serialization_alias
    if part == "ref":
        return "$ref"
    return to_camel(part) if "_" in part else part


def _path(loc: Sequence[str | int], model: type[BaseModel] | None = None) -> str:
    """Pydantic's location of an error as a SCIM attribute path (``emails[1].value``)."""
    path = ""
    for index, part in enumerate(loc):
        if isinstance(part, str):
            part = _attribute_name(part, model, top=index == 0)
        if isinstance(part, int):
            path += f"[{part}]"
        elif "[" in part or "(" in part:  # a member of a union, not an attribute
            continue
        elif not path:
            path = part
        elif path.lower().startswith("urn:") and "." not in path and ":" not in part:
            path += f":{part}"
        else:
            path += f".{part}"
    return path


def _what_is_wrong(error: Mapping[str, Any], path: str) -> str:
    kind = str(error["type"])
    if kind == "value_error" and path.lower().startswith("emails") and path.endswith("value"):
        return "is not an email address"
    if kind in _WHAT_IS_WRONG:
        return _WHAT_IS_WRONG[kind]
    prefix = kind.split("_")[0]
    return _WHAT_IS_WRONG.get(prefix, "has a value this attribute cannot take")


def _operation_error(error: Mapping[str, Any]) -> SCIMException | None:
    """An error in a PATCH request's frame: an unknown op, no ``Operations``."""
    loc = list(error["loc"])
    kind = str(error.get("ctx", {}).get("scim_type") or error["type"])
    message = str(error["msg"]).lower()
    if loc[:1] == ["Operations"] and loc[-1:] == ["op"]:
        return InvalidSyntaxException(
            detail=f"Operation {int(loc[1]) + 1} has an op that is not add, remove or replace"
            if len(loc) > 2 and isinstance(loc[1], int)
            else "A PATCH operation has an op that is not add, remove or replace"
        )
    if not loc and kind == "invalidValue" and "operations" in message:
        return InvalidSyntaxException(detail="A PATCH request needs its Operations")
    return None


def scim_error_of(
    exception: ValidationError, model: type[BaseModel] | None = None
) -> SCIMException:
    """The SCIM error that says what is wrong with a request, from its first error. ``model``:
    the resource model an error of a model already built (a PATCH applied) names fields of."""
    errors = exception.errors()
    if not errors:
        return InvalidSyntaxException(detail="The request could not be read")
    error = errors[0]
    frame = _operation_error(error)
    if frame is not None:
        return frame
    kind = str(error["type"])
    if kind.startswith("scim_"):
        # scim2-models' own errors (invalidPath, mutability, noTarget...) are written for people
        # already; their keyword stays.
        return _scim_kind(error)
    path = _path(error["loc"], model)
    if kind in {"json_invalid", "json_type"}:
        return InvalidSyntaxException(detail="The body is not a JSON object")
    if kind in {"model_type", "model_attributes_type", "dict_type"} and not path:
        return InvalidSyntaxException(detail="The body must be a JSON object")
    if kind == "extra_forbidden":
        return InvalidSyntaxException(detail=f"{path} is not an attribute of this resource")
    if kind in _SYNTAX:
        return InvalidSyntaxException(detail=f"The schemas of the request are not served: {path}")
    if not path:
        return InvalidValueException(detail="The request has a value it cannot take")
    return InvalidValueException(detail=f"{path} {_what_is_wrong(error, path)}")


def _scim_kind(error: Mapping[str, Any]) -> SCIMException:
    ctx = error.get("ctx") or {}
    scim_type = ctx.get("scim_type")
    status = int(ctx.get("status", 400))
    detail = str(error["msg"])
    if scim_type == "invalidValue" and error["loc"]:
        path = _path(error["loc"])
        detail = f"{path}: {detail}" if path else detail
    return SCIMException.from_error(Error(status=status, scim_type=scim_type, detail=detail))
