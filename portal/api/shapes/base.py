"""What every documented shape shares: the JSON answer, the request parser and its 400s."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Protocol, Self

from flask import Response, current_app
from pydantic import (
    BaseModel,
    ConfigDict,
    PlainSerializer,
    RootModel,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from ...timefmt import iso_z

# ISO 8601 in UTC with a Z, to the second: 2026-11-25T18:00:00Z.
Time = Annotated[
    datetime,
    PlainSerializer(iso_z, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-11-25T18:00:00Z"]}),
]


class _Dumps(Protocol):
    """What ``_Answers`` needs of the model it is mixed into (``BaseModel``'s own methods)."""

    def model_dump(self, *, mode: str, by_alias: bool) -> Any: ...

    def model_dump_json(self, *, by_alias: bool) -> str: ...


class _Answers:
    """What every shape does: become a JSON-ready body, or a whole answer."""

    def body(self: _Dumps) -> Any:
        """The JSON-ready body (times as ISO 8601 Z strings, ids as strings)."""
        return self.model_dump(mode="json", by_alias=True)

    def answer(self: _Dumps, status: int = 200) -> Response:
        """The body serialised by Pydantic itself (in Rust), not dumped to Python and then
        encoded again by Flask: the list is walked once, not twice."""
        return current_app.response_class(
            self.model_dump_json(by_alias=True), status=status, mimetype="application/json"
        )


class Shape(_Answers, BaseModel):
    """A documented body: built from snake_case names, sent with the documents' camelCase keys."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        # Every key is always sent (null when empty): the document marks them all required.
        json_schema_serialization_defaults_required=True,
    )


class ShapeList(_Answers, RootModel):
    """A bare JSON array of shapes (the TKT lists)."""

    model_config = ConfigDict(frozen=True)


# A documented answer's body: a JSON object, or a bare array.
Body = Shape | ShapeList


class Refused(ValueError):
    """A request its model does not accept: the 400's words, and its code (token-row errors)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def refuse(code: str, message: str) -> PydanticCustomError:
    """A validator's error that is the 400 itself: ``RequestShape.refusal`` words it as given."""
    return PydanticCustomError(code, message, {"refusal": True})


class RequestShape(Shape):
    """A documented request (a JSON body, or a query string): the route parses it with
    ``parse`` (through ``declarations.parsed_body``/``parsed_query``), and the document shows
    this model's JSON Schema, so both say the same. Only the documented (camelCase) names are
    read."""

    model_config = ConfigDict(validate_by_name=False)

    NOT_AN_OBJECT: ClassVar[str] = "Request body must be a JSON object"
    # A request as a client sends it: the document's example (which it must accept).
    EXAMPLE: ClassVar[dict[str, Any] | None] = None
    # The code of a 400 the model words itself (token-row errors carry it).
    INVALID_CODE: ClassVar[str | None] = None

    @classmethod
    def parse(cls, data: Any) -> Self:
        """The request, or ``Refused`` saying what is wrong with it (its first problem)."""
        if not isinstance(data, dict):
            raise Refused(cls.NOT_AN_OBJECT)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise cls.refusal(exc.errors()[0]) from None

    @classmethod
    def refusal(cls, error: Any) -> Refused:
        """The 400 for one of pydantic's errors: a validator's own words (``refuse``) as they
        are, else ``<where>: <pydantic's words>``."""
        if (error.get("ctx") or {}).get("refusal"):
            return Refused(error["msg"], error["type"])
        where = ".".join(str(p) for p in error.get("loc", ())) or "body"
        return Refused(f"{where}: {error.get('msg')}", cls.INVALID_CODE)
