"""Pushing due events to receivers (RFC 8935), for the worker: the session-revoked events of
the IdP's receiver (``PORTAL_SSF_RECEIVER_URL``) and the events of every push stream.

Each outbox row holds its SET's claims, fixed when the session ended; here they are signed
(``typ: secevent+jwt``, the portal's key and ``kid``) and POSTed as
``application/secevent+jwt``. Every attempt carries the same ``jti``, so a receiver that did
take an attempt whose answer was lost recognises the retry. 2xx: delivered. 4xx: refused for
good (bad signature, audience, issuer...), kept as failed with the receiver's
``{"err", "description"}``; 408 and 429 only ask for a later try. 5xx, a redirect, no answer:
tried again after the outbox's backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import requests
from flask import current_app

from .. import logs, metrics
from ..services.outbox import queue, signals
from ..services.streams import delivery, fanout
from . import sign

log = logging.getLogger(__name__)

SET_MEDIA_TYPE = "application/secevent+jwt"
# Client errors that say "not now" rather than "never".
_TRY_LATER = frozenset({408, 425, 429})


def _receiver_error(response: requests.Response) -> str:
    """The receiver's answer in words: RFC 8935's ``err`` and ``description`` when it sent them."""
    said = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("err"):
        said = f" {body['err']}"
        if body.get("description"):
            said += f": {body['description']}"
    elif response.text:
        said = f" {response.text[:200]}"
    return f"HTTP {response.status_code}{said}"


def _post(token: str, url: str, authorization: str | None, timeout: float) -> requests.Response:
    headers = {"Content-Type": SET_MEDIA_TYPE, "Accept": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    return requests.post(
        url, data=token.encode(), headers=headers, timeout=timeout, allow_redirects=False
    )


def _event_type(claims: dict) -> str:
    """The SET's event type (its one ``events`` key), for the metrics."""
    events = claims.get("events")
    return next(iter(events), "") if isinstance(events, dict) else ""


def _push_one(
    item: queue.Claimed,
    url: str,
    authorization: str | None,
    transaction: Callable[[Callable[[], Any]], Any],
    subject: str,
    refused: Callable[[str], None] | None = None,
) -> None:
    """Sign the row's SET, POST it and record the outcome in a transaction of its own."""
    event_type = _event_type(item.payload["claims"])
    try:
        response = _post(
            sign(item.payload["claims"]), url, authorization, current_app.config["SSF_TIMEOUT"]
        )
    except requests.RequestException as exc:
        metrics.ssf_event("failed", event_type)
        why = f"{type(exc).__name__}: {exc}"
        log.warning("event %s not delivered (attempt %d): %s", item.message_id, item.attempts, why)
        transaction(partial(queue.retry_later, item, why))
        return
    if 200 <= response.status_code < 300:
        metrics.ssf_event("sent", event_type)
        transaction(partial(queue.mark_sent, item, subject))
        log.info("event %s delivered", item.message_id)
        return
    metrics.ssf_event("failed", event_type)  # this attempt; given up or not (``queue``)
    if 400 <= response.status_code < 500 and response.status_code not in _TRY_LATER:
        why = _receiver_error(response)
        log.warning("event %s refused for good: %s", item.message_id, why)

        def give_up() -> None:
            if queue.mark_failed(item, why) and refused is not None:
                refused(why)

        transaction(give_up)
    else:
        why = _receiver_error(response)
        log.warning("event %s not delivered (attempt %d): %s", item.message_id, item.attempts, why)
        transaction(partial(queue.retry_later, item, why))


def push_due_signals(transaction: Callable[[Callable[[], Any]], Any], limit: int) -> int:
    """Claim due events for the IdP's receiver, push each, record each outcome; returns how
    many were attempted.

    ``transaction(step)`` runs ``step`` in a transaction of its own and commits it (the
    worker's), so the claim is committed before any event leaves and every outcome after."""
    transmitter = signals.Transmitter.from_config(current_app.config)
    if transmitter is None:
        return 0
    token = current_app.config["SSF_RECEIVER_TOKEN"]
    claimed = transaction(lambda: queue.claim_due(limit, kinds=(signals.KIND,)))
    for item in claimed:
        with logs.job("event", item.message_id):  # this event's lines carry its id
            _push_one(
                item,
                transmitter.receiver_url,
                f"Bearer {token}" if token else None,
                transaction,
                "session-revoked",
            )
    return len(claimed)


def push_due_stream_events(transaction: Callable[[Callable[[], Any]], Any], limit: int) -> int:
    """Claim due events of push streams, push each to its stream's receiver with the
    ``authorization_header`` it gave, record each outcome; returns how many were claimed.

    The stream is read again after the claim: an event of a stream paused since (its rows are
    then held) or disabled or deleted (its rows are gone) is not pushed, and the row is left
    to what the stream's change made of it. A refusal for good is kept on the row and, in
    the receiver's words, on the stream (``last_error``) for the admin."""
    claimed = transaction(lambda: queue.claim_due(limit, kinds=(fanout.KIND_PUSH,)))
    if not claimed:
        return 0
    targets = transaction(
        lambda: delivery.push_targets(item.payload["stream_id"] for item in claimed)
    )
    for item in claimed:
        stream_id = item.payload["stream_id"]
        target = targets.get(stream_id)
        if target is None or not target.open or target.endpoint_url is None:
            continue
        with logs.job("event", item.message_id):
            _push_one(
                item,
                target.endpoint_url,
                target.authorization_header,
                transaction,
                _event_name(item.payload["claims"]),
                partial(_refused, stream_id),
            )
    return len(claimed)


def _refused(stream_id: str, why: str) -> None:
    fanout.note_error(stream_id, why)


def _event_name(claims: dict) -> str:
    """The event's type in a word, for the row's subject (``session-revoked``...)."""
    return next(iter(claims.get("events", {})), "event").rsplit("/", 1)[-1]
