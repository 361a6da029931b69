"""Shared Signals stream management (SSF 1.0 section 8, as the CAEP interoperability profile
requires it): receivers create, read, update, replace and delete their streams at
``/ssf/streams``, read and set their status at ``/ssf/status``, remove and add subjects at
``/ssf/subjects:remove`` and ``:add``, and ask for a verification event at ``/ssf/verify``.

The caller is an OAuth client with the IdP's access token in the Authorization header
(``ssf.manage`` for a change, ``ssf.read`` or ``ssf.manage`` for a read); it sees and changes
its own streams alone (another's is not found). Not in ``/openapi.json``: SSF 1.0 is this
API's document (``docs/ssf.md`` says how the portal follows it). Off (404) unless
``PORTAL_SSF_STREAMS`` is set.
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import current_app, request

from ..services import operations
from ..services.errors import NotFound
from ..services.streams import configuration, reads
from .auth import ClientCaller, client_bearer
from .blueprints import ssf
from .errors import ApiError, failure
from .shapes.base import Refused, RequestShape
from .shapes.ssf import (
    StatusRequest,
    StreamConfiguration,
    StreamConfigurationList,
    StreamQuery,
    StreamRequest,
    StreamStatusAnswer,
    SubjectRequest,
    VerificationRequest,
)

MANAGE, READ = "ssf.manage", "ssf.read"
S = TypeVar("S", bound=RequestShape)
_ON = "SSF_STREAMS"


def _issuer() -> str:
    return current_app.config["SSF_ISSUER"]


def _plain_http() -> bool:
    """Whether a push stream may deliver over plain http: outside production only."""
    return current_app.config["ENV"] != "production"


def _parsed(shape: type[S], data: Any) -> S:
    try:
        return shape.parse(data)
    except Refused as refused:
        raise ApiError(400, refused.message) from None


def _body(shape: type[S]) -> S:
    return _parsed(shape, request.get_json(silent=True))


def _query() -> StreamQuery:
    return _parsed(StreamQuery, request.args.to_dict())


def _required_id() -> str:
    stream_id = _query().stream_id
    if not stream_id:
        raise ApiError(400, "stream_id is required as a query parameter")
    return stream_id


def _configuration(row: reads.StreamRow) -> StreamConfiguration:
    return StreamConfiguration.of(configuration.configuration(row, _issuer()))


def _own(caller: ClientCaller, stream_id: str) -> reads.StreamRow:
    found = reads.stream_rows(caller.client_id, stream_id)
    if not found:
        raise NotFound(operations.STREAM_NOT_FOUND)
    return found[0]


@ssf.post("/ssf/streams")
@failure("Failed to create the stream")
@client_bearer(MANAGE, enabled=_ON)
def create_stream(caller: ClientCaller):
    """Create a stream (section 8.1.1.1): 201 with its configuration."""
    row = operations.create_stream(
        caller.actor,
        caller.client_id,
        _body(StreamRequest).given(),
        issuer=_issuer(),
        plain_http=_plain_http(),
    )
    return _configuration(row).answer(201)


@ssf.get("/ssf/streams")
@failure("Failed to read the streams")
@client_bearer(READ, MANAGE, enabled=_ON)
def read_streams(caller: ClientCaller):
    """One stream's configuration (``?stream_id=``), or all of the caller's (section 8.1.1.2)."""
    stream_id = _query().stream_id
    if stream_id:
        return _configuration(_own(caller, stream_id)).answer()
    rows = reads.stream_rows(caller.client_id)
    return StreamConfigurationList([_configuration(row) for row in rows]).answer()


@ssf.patch("/ssf/streams")
@failure("Failed to update the stream")
@client_bearer(MANAGE, enabled=_ON)
def update_stream(caller: ClientCaller):
    """Change what the body holds of the stream's configuration (section 8.1.1.3)."""
    row = operations.update_stream(
        caller.actor,
        caller.client_id,
        _body(StreamRequest).given(),
        replace=False,
        issuer=_issuer(),
        plain_http=_plain_http(),
    )
    return _configuration(row).answer()


@ssf.put("/ssf/streams")
@failure("Failed to replace the stream")
@client_bearer(MANAGE, enabled=_ON)
def replace_stream(caller: ClientCaller):
    """Replace the stream's configuration (section 8.1.1.4): what the body lacks is reset."""
    row = operations.update_stream(
        caller.actor,
        caller.client_id,
        _body(StreamRequest).given(),
        replace=True,
        issuer=_issuer(),
        plain_http=_plain_http(),
    )
    return _configuration(row).answer()


@ssf.delete("/ssf/streams")
@failure("Failed to delete the stream")
@client_bearer(MANAGE, enabled=_ON)
def delete_stream(caller: ClientCaller):
    """Delete the stream and its undelivered events (section 8.1.1.5): 204."""
    operations.delete_stream(caller.actor, caller.client_id, _required_id())
    return "", 204


@ssf.get("/ssf/status")
@failure("Failed to read the stream's status")
@client_bearer(READ, MANAGE, enabled=_ON)
def read_status(caller: ClientCaller):
    """The stream's status (section 8.1.2.1)."""
    row = _own(caller, _required_id())
    return StreamStatusAnswer(
        stream_id=row.stream_id, status=row.status, reason=row.status_reason
    ).answer()


@ssf.post("/ssf/status")
@failure("Failed to update the stream's status")
@client_bearer(MANAGE, enabled=_ON)
def update_status(caller: ClientCaller):
    """Enable, pause or disable the stream (section 8.1.2.2)."""
    asked = _body(StatusRequest)
    row = operations.set_stream_status(
        caller.actor, caller.client_id, asked.stream_id, asked.status, asked.reason
    )
    return StreamStatusAnswer(
        stream_id=row.stream_id, status=row.status, reason=row.status_reason
    ).answer()


@ssf.post("/ssf/subjects:add")
@failure("Failed to add the subject")
@client_bearer(MANAGE, enabled=_ON)
def add_subject(caller: ClientCaller):
    """Include a subject removed before (section 8.1.3.2; every subject is included until
    removed): an empty 200."""
    asked = _body(SubjectRequest)
    operations.add_subject(
        caller.actor, caller.client_id, asked.stream_id, asked.subject, asked.verified
    )
    return current_app.response_class(status=200)


@ssf.post("/ssf/subjects:remove")
@failure("Failed to remove the subject")
@client_bearer(MANAGE, enabled=_ON)
def remove_subject(caller: ClientCaller):
    """Stop the stream's events about a subject (section 8.1.3.3): 204."""
    asked = _body(SubjectRequest)
    operations.remove_subject(caller.actor, caller.client_id, asked.stream_id, asked.subject)
    return "", 204


@ssf.post("/ssf/verify")
@failure("Failed to request verification")
@client_bearer(MANAGE, enabled=_ON)
def verify(caller: ClientCaller):
    """Queue a verification event carrying ``state`` (section 8.1.4.2): 204; 429 within the
    stream's ``min_verification_interval``."""
    asked = _body(VerificationRequest)
    operations.request_verification(
        caller.actor, caller.client_id, asked.stream_id, asked.state, issuer=_issuer()
    )
    return "", 204
