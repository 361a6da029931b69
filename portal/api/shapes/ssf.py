"""Shared Signals stream management shapes (SSF 1.0 section 8): the stream configuration, the
status, and the requests a receiver sends. Keys are the specification's own (snake_case).

Requests ignore members they do not know (another version of the specification may send
more) and refuse members of the wrong JSON type with a 400 naming them; what the values mean
(delivery methods, URLs, event types, transmitter-supplied values) the operations check
(``services.streams.configuration``). Which members a request held matters (a PATCH changes
only those), so the operations take ``given()``: the members sent, as sent.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flask import Response, current_app
from pydantic import ConfigDict

from .base import RequestShape, Shape, ShapeList


class _Request(RequestShape):
    model_config = ConfigDict(extra="ignore", validate_by_name=True)

    NOT_AN_OBJECT: ClassVar[str] = "The request body must be a JSON object"

    def given(self) -> dict[str, Any]:
        """The members the request held, as plain JSON values."""
        return self.model_dump(mode="json", exclude_unset=True)


class DeliveryRequest(_Request):
    """``delivery``: the method, and for push the receiver's URL and the header it wants."""

    method: str | None = None
    endpoint_url: str | None = None
    authorization_header: str | None = None


class StreamRequest(_Request):
    """A create (POST), update (PATCH) or replace (PUT) of a stream's configuration; an update
    or a replace names its ``stream_id``. Transmitter-supplied members may be repeated (they
    must then be the portal's)."""

    stream_id: str | None = None
    delivery: DeliveryRequest | None = None
    events_requested: list[str] | None = None
    description: str | None = None
    # How the events name their subject: iss_sub (default), email or complex (docs/ssf.md).
    format: str | None = None
    iss: str | None = None
    aud: str | list[str] | None = None
    events_supported: list[str] | None = None
    events_delivered: list[str] | None = None
    min_verification_interval: int | None = None


class StatusRequest(_Request):
    """``POST /ssf/status``: the stream's new status, and why."""

    stream_id: str
    status: str
    reason: str | None = None


class SubjectRequest(_Request):
    """``POST /ssf/subjects:add`` and ``:remove``: a subject identifier (RFC 9493)."""

    stream_id: str
    subject: dict[str, Any]
    verified: bool | None = None


class VerificationRequest(_Request):
    """``POST /ssf/verify``: the stream to verify and the ``state`` to echo."""

    stream_id: str
    state: str | None = None


class StreamQuery(_Request):
    """``?stream_id=``: one stream (required but for the list of a client's streams)."""

    stream_id: str | None = None


class _Answer(Shape):
    """Members without a value are left out, as SSF 1.0 section 7.1.3 has it for metadata."""

    def body(self) -> Any:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def answer(self, status: int = 200) -> Response:
        return current_app.response_class(
            self.model_dump_json(by_alias=True, exclude_none=True),
            status=status,
            mimetype="application/json",
        )


class DeliveryAnswer(_Answer):
    """How the stream's events travel; a push stream's authorization header is a secret never
    repeated."""

    method: str
    endpoint_url: str | None = None


class StreamConfiguration(_Answer):
    """A stream's configuration (section 8.1.1)."""

    stream_id: str
    iss: str
    aud: list[str]
    delivery: DeliveryAnswer
    events_supported: list[str]
    events_requested: list[str]
    events_delivered: list[str]
    min_verification_interval: int
    description: str | None = None
    format: str | None = None

    @classmethod
    def of(cls, answer: dict[str, Any]) -> StreamConfiguration:
        return cls.model_validate(answer)


class StreamConfigurationList(ShapeList):
    """``GET /ssf/streams`` without a ``stream_id``: every stream of the caller's."""

    root: list[StreamConfiguration]

    def body(self) -> Any:
        return [stream.body() for stream in self.root]

    def answer(self, status: int = 200) -> Response:
        return current_app.response_class(
            current_app.json.dumps(self.body()), status=status, mimetype="application/json"
        )


class StreamStatusAnswer(_Answer):
    """A stream's status (section 8.1.2)."""

    stream_id: str
    status: str
    reason: str | None = None
