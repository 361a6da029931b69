"""JSON Schema in the document: the models' (components and query parameters), and the path
parameters of a URL rule, typed by its converters."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, models_json_schema
from werkzeug.routing import FloatConverter, IntegerConverter, Rule, UUIDConverter

from ..declarations import Declaration

SCHEMAS = "#/components/schemas/"


class OpenApiSchema(GenerateJsonSchema):
    """The models' JSON Schema (the dialect of OpenAPI 3.1), less a title on every field."""

    def field_title_should_be_set(self, schema) -> bool:
        return False


def component_schemas(
    answers: Sequence[type[BaseModel]], requests: Sequence[type[BaseModel]] = ()
) -> dict[str, dict]:
    """``components.schemas`` for the models of answers and request bodies, and every model
    they refer to, by model name."""
    _, top = models_json_schema(
        [(model, "serialization") for model in answers]
        + [(model, "validation") for model in requests],
        ref_template=SCHEMAS + "{model}",
        schema_generator=OpenApiSchema,
    )
    return top.get("$defs", {})


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": SCHEMAS + model.__name__}


def query_parameters(model: type[BaseModel] | None) -> list[dict]:
    """One query parameter per field of ``model`` (by its alias), its schema the field's."""
    if model is None:
        return []
    schema = model.model_json_schema(by_alias=True, schema_generator=OpenApiSchema)
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


def rule_path(rule: Rule, declaration: Declaration) -> tuple[str, list[dict]]:
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
