"""Shared Signals streams as their receivers manage them (SSF 1.0 section 8): created,
updated or replaced, deleted, enabled, paused or disabled, subjects removed and added again,
a verification event asked for. Each takes the OAuth client that asks (``client_id``, the
stream's owner: another client's stream is not found) and writes its audit event; the secret
a push stream sends (``authorization_header``) is never in it.

``issuer`` is the portal's ``iss`` (the events' and the configuration's), ``plain_http``
whether a push endpoint may be plain http (outside production).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete

from ...extensions import db
from ...models import SsfStream, SsfStreamSubject, StreamStatus, utcnow
from ..audit.record import Actions
from ..errors import Conflict, Invalid, NotFound, TooManyRequests
from ..streams import claims, configuration, fanout, reads, subjects
from ..streams.configuration import Requested
from ..streams.reads import StreamRow
from .actor import Actor

STREAM_NOT_FOUND = "Stream not found"
REASON_LIMIT = 1000
STATE_LIMIT = 1000


def _stream_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid("stream_id is required", field="stream_id")
    return value


def _locked(client_id: str, stream_id: Any) -> SsfStream:
    found = reads.lock_stream(client_id, _stream_id(stream_id))
    if found is None:
        raise NotFound(STREAM_NOT_FOUND)
    return found


def _apply(stream: SsfStream, wanted: Requested, now: datetime) -> None:
    if stream.delivery_method != wanted.delivery_method:
        fanout.redirect(
            stream.stream_id,
            fanout.KIND_PUSH if wanted.delivery_method == configuration.PUSH else fanout.KIND_POLL,
        )
    stream.delivery_method = wanted.delivery_method
    stream.endpoint_url = wanted.endpoint_url
    stream.authorization_header = wanted.authorization_header
    stream.events_requested = list(wanted.events_requested)
    stream.description = wanted.description
    stream.subject_format = wanted.subject_format
    stream.updated_at = now


def _said(wanted: Requested) -> dict[str, Any]:
    """What the audit event says of a stream's configuration (the header only as present)."""
    return {
        "delivery_method": wanted.delivery_method,
        "endpoint_url": wanted.endpoint_url,
        "authorization_header": "set" if wanted.authorization_header else None,
        "events_requested": list(wanted.events_requested),
        "description": wanted.description,
        "format": wanted.subject_format,
    }


def create_stream(
    actor: Actor, client_id: str, body: Mapping[str, Any], *, issuer: str, plain_http: bool
) -> StreamRow:
    """A new stream of the client's (section 8.1.1.1): enabled, its audience the client."""
    if reads.count_of_client(client_id) >= configuration.STREAMS_PER_CLIENT:
        raise Conflict(
            f"A receiver has at most {configuration.STREAMS_PER_CLIENT} streams; "
            "delete one or update an existing one"
        )
    wanted = configuration.requested(body, stream_id=None, issuer=issuer, plain_http=plain_http)
    now = utcnow()
    stream = SsfStream(
        stream_id=str(uuid.uuid4()),
        client_id=client_id,
        audience=[client_id],
        status=StreamStatus.ENABLED.value,
        min_verification_interval=configuration.MIN_VERIFICATION_INTERVAL,
        created_at=now,
    )
    stream.delivery_method = wanted.delivery_method
    _apply(stream, wanted, now)
    db.session.add(stream)
    actor.record(Actions.SSF_STREAM_CREATED, None, stream_id=stream.stream_id, **_said(wanted))
    return reads.row_of(stream)


def update_stream(
    actor: Actor,
    client_id: str,
    body: Mapping[str, Any],
    *,
    replace: bool,
    issuer: str,
    plain_http: bool,
) -> StreamRow:
    """Update (PATCH: what the body holds) or replace (PUT: what it lacks goes back to its
    default) the client's stream; the transmitter's values it repeats must be unchanged."""
    stream = _locked(client_id, body.get("stream_id"))
    current = reads.row_of(stream)
    configuration.check_transmitter_supplied(body, configuration.configuration(current, issuer))
    sid = stream.stream_id
    if replace:
        wanted = configuration.requested(body, stream_id=sid, issuer=issuer, plain_http=plain_http)
    else:
        wanted = configuration.patched(
            body, current.requested, stream_id=sid, issuer=issuer, plain_http=plain_http
        )
    _apply(stream, wanted, utcnow())
    actor.record(
        Actions.SSF_STREAM_UPDATED,
        None,
        stream_id=stream.stream_id,
        replaced=replace,
        **_said(wanted),
    )
    return reads.row_of(stream)


def delete_stream(actor: Actor, client_id: str, stream_id: Any) -> None:
    """The client's stream is gone, with its events not yet delivered (section 8.1.1.5)."""
    stream = _locked(client_id, stream_id)
    fanout.drop(stream.stream_id)
    db.session.execute(
        delete(SsfStreamSubject).where(SsfStreamSubject.stream_id == stream.stream_id)
    )
    db.session.delete(stream)
    actor.record(Actions.SSF_STREAM_DELETED, None, stream_id=stream.stream_id)


def _reason(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > REASON_LIMIT:
        raise Invalid(
            f"reason must be a string of at most {REASON_LIMIT} characters", field="reason"
        )
    return value or None


def set_stream_status(
    actor: Actor, client_id: str, stream_id: Any, status: Any, reason: Any = None
) -> StreamRow:
    """Enable, pause or disable the client's stream (section 8.1.2.2): pausing holds its
    events not yet delivered, enabling releases what it held, disabling drops them."""
    statuses = [s.value for s in StreamStatus]
    if status not in statuses:
        raise Invalid("status must be one of " + ", ".join(statuses), field="status")
    said = _reason(reason)
    stream = _locked(client_id, stream_id)
    before = stream.status
    if status != before:
        if status == StreamStatus.PAUSED.value:
            fanout.hold(stream.stream_id)
        elif status == StreamStatus.ENABLED.value:
            fanout.release(stream.stream_id)
        else:
            fanout.drop(stream.stream_id)
    stream.status = status
    stream.status_reason = said
    stream.updated_at = utcnow()
    actor.record(
        Actions.SSF_STREAM_STATUS,
        None,
        stream_id=stream.stream_id,
        previous=before,
        status=status,
        reason=said,
    )
    return reads.row_of(stream)


def remove_subject(actor: Actor, client_id: str, stream_id: Any, subject: Any) -> None:
    """The stream stops carrying events about this subject (section 8.1.3.3)."""
    key = subjects.key_of(subject)
    stream = _locked(client_id, stream_id)
    user_id = subjects.user_named(subject)
    if db.session.get(SsfStreamSubject, (stream.stream_id, key)) is None:
        db.session.add(
            SsfStreamSubject(stream_id=stream.stream_id, subject_key=key, user_id=user_id)
        )
    actor.record(Actions.SSF_SUBJECT_REMOVED, user_id, stream_id=stream.stream_id, subject=subject)


def add_subject(
    actor: Actor, client_id: str, stream_id: Any, subject: Any, verified: Any = None
) -> None:
    """The stream carries events about this subject again (section 8.1.3.2). Every subject is
    included until removed, so this only takes back a removal."""
    key = subjects.key_of(subject)
    if verified is not None and not isinstance(verified, bool):
        raise Invalid("verified must be true or false", field="verified")
    stream = _locked(client_id, stream_id)
    db.session.execute(
        delete(SsfStreamSubject).where(
            SsfStreamSubject.stream_id == stream.stream_id, SsfStreamSubject.subject_key == key
        )
    )
    actor.record(
        Actions.SSF_SUBJECT_ADDED,
        subjects.user_named(subject),
        stream_id=stream.stream_id,
        subject=subject,
        verified=verified,
    )


def request_verification(
    actor: Actor, client_id: str, stream_id: Any, state: Any, *, issuer: str
) -> None:
    """Queue a verification event on the client's stream carrying ``state`` (section
    8.1.4.2), at most once per ``min_verification_interval``; a paused stream holds it."""
    if state is not None and (not isinstance(state, str) or len(state) > STATE_LIMIT):
        raise Invalid(f"state must be a string of at most {STATE_LIMIT} characters", field="state")
    stream = _locked(client_id, stream_id)
    if stream.status == StreamStatus.DISABLED.value:
        raise Conflict("The stream is disabled: enable it before asking for verification")
    now = utcnow()
    last, interval = stream.last_verification_at, stream.min_verification_interval
    if last is not None and (now - last).total_seconds() < interval:
        wait = max(1, int(interval - (now - last).total_seconds()))
        raise TooManyRequests(
            f"A verification was asked for less than {interval} seconds ago "
            f"(min_verification_interval); try again in {wait} seconds"
        )
    stream.last_verification_at = now
    row = reads.row_of(stream)
    made = claims.verification_claims(row, issuer=issuer, state=state, now=now)
    fanout.queue_set([(row, made)], now=now)
    actor.record(
        Actions.SSF_VERIFICATION,
        None,
        stream_id=stream.stream_id,
        jti=made["jti"],
    )
