"""Pushing due session-revoked events to the IdP (RFC 8935), for the worker.

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
from joserfc import jwt

from .. import logs, metrics
from ..services.outbox import queue, signals
from . import signing_key

log = logging.getLogger(__name__)

SET_MEDIA_TYPE = "application/secevent+jwt"
# Client errors that say "not now" rather than "never".
_TRY_LATER = frozenset({408, 425, 429})


def sign(claims: dict) -> str:
    """The SET of these claims, signed with the portal's key."""
    key = signing_key()
    header = {"alg": key.alg, "kid": key.kid, "typ": "secevent+jwt"}
    return jwt.encode(header, claims, key.key, algorithms=[key.alg])


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


def _post(token: str, transmitter: signals.Transmitter) -> requests.Response:
    headers = {"Content-Type": SET_MEDIA_TYPE, "Accept": "application/json"}
    if current_app.config["SSF_RECEIVER_TOKEN"]:
        headers["Authorization"] = f"Bearer {current_app.config['SSF_RECEIVER_TOKEN']}"
    return requests.post(
        transmitter.receiver_url,
        data=token.encode(),
        headers=headers,
        timeout=current_app.config["SSF_TIMEOUT"],
        allow_redirects=False,
    )


def _event_type(claims: dict) -> str:
    """The SET's event type (its one ``events`` key), for the metrics."""
    events = claims.get("events")
    return next(iter(events), "") if isinstance(events, dict) else ""


def push_due_signals(transaction: Callable[[Callable[[], Any]], Any], limit: int) -> int:
    """Claim due events, push each, record each outcome; returns how many were attempted.

    ``transaction(step)`` runs ``step`` in a transaction of its own and commits it (the
    worker's), so the claim is committed before any event leaves and every outcome after."""
    transmitter = signals.Transmitter.from_config(current_app.config)
    if transmitter is None:
        return 0
    claimed = transaction(lambda: queue.claim_due(limit, kinds=(signals.KIND,)))
    for item in claimed:
        with logs.job("event", item.message_id):  # this event's lines carry its id
            _push_one(transaction, item, transmitter)
    return len(claimed)


def _push_one(
    transaction: Callable[[Callable[[], Any]], Any],
    item: queue.Claimed,
    transmitter: signals.Transmitter,
) -> None:
    """Push one claimed event, and record how it went."""
    event_type = _event_type(item.payload["claims"])
    try:
        response = _post(sign(item.payload["claims"]), transmitter)
    except requests.RequestException as exc:
        metrics.ssf_event("failed", event_type)
        why = f"{type(exc).__name__}: {exc}"
        log.warning("event %s not delivered (attempt %d): %s", item.message_id, item.attempts, why)
        transaction(partial(queue.retry_later, item, why))
        return
    if 200 <= response.status_code < 300:
        metrics.ssf_event("sent", event_type)
        transaction(partial(queue.mark_sent, item, "session-revoked"))
        log.info("event %s delivered", item.message_id)
        return
    metrics.ssf_event("failed", event_type)  # this attempt; given up or not (``queue``)
    if 400 <= response.status_code < 500 and response.status_code not in _TRY_LATER:
        why = _receiver_error(response)
        log.warning("event %s refused for good: %s", item.message_id, why)
        transaction(partial(queue.mark_failed, item, why))
    else:
        why = _receiver_error(response)
        log.warning("event %s not delivered (attempt %d): %s", item.message_id, item.attempts, why)
        transaction(partial(queue.retry_later, item, why))
