"""Polling transmitters for Security Event Tokens (RFC 8936), for the worker.

Each round asks every transmitter with a poll URL for what it holds (``returnImmediately``, at
most the worker's batch size), checks each SET as a push is checked (``receiving``), applies
each good one in a transaction of its own (``operations.receive_security_event``), then
acknowledges them at once and reports the bad ones in ``setErrs`` (RFC 8935's codes). An
acknowledgement that could not be sent goes with the next poll; a SET applied twice (its
acknowledgement lost) is a replay, which changes nothing. A SET whose transmitter's keys cannot
be fetched now is neither acknowledged nor refused, so it comes again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import requests
from flask import current_app

from ..models import utcnow
from ..services import operations
from . import receiving, transmitters

log = logging.getLogger(__name__)

# Acknowledgements and errors not delivered yet, by poll URL (this process's own).
_unsent: dict[str, tuple[list[str], dict[str, dict]]] = {}


def _post(transmitter: transmitters.Transmitter, body: dict) -> requests.Response:
    headers = {"Accept": "application/json"}
    token = transmitters.access_token(transmitter)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    assert transmitter.poll_url is not None
    return requests.post(
        transmitter.poll_url,
        json=body,
        headers=headers,
        timeout=current_app.config["SSF_TIMEOUT"],
        allow_redirects=False,
    )


def _exchange(transmitter: transmitters.Transmitter, body: dict) -> dict | None:
    """One poll request; its answer, or None (logged) when there is none to read."""
    try:
        response = _post(transmitter, body)
        if response.status_code != 200:
            log.warning("poll of %s: HTTP %s", transmitter.poll_url, response.status_code)
            return None
        answer = response.json()
        return answer if isinstance(answer, dict) else None
    except (requests.RequestException, ValueError, transmitters.TransmitterUnavailable) as exc:
        log.warning("poll of %s failed: %s", transmitter.poll_url, exc)
        return None


def _apply(event: Any) -> str:
    config = current_app.config
    return operations.receive_security_event(
        event,
        now=utcnow(),
        max_age_seconds=config["SSF_RECEIVE_MAX_AGE"],
        groups_claim=config["OIDC_GROUPS_CLAIM"],
    )


def poll_transmitter(
    transmitter: transmitters.Transmitter,
    transaction: Callable[[Callable[[], Any]], Any],
    limit: int,
) -> int:
    """One poll of one transmitter; returns how many SETs it handed over."""
    assert transmitter.poll_url is not None
    acks, errs = _unsent.pop(transmitter.poll_url, ([], {}))
    body: dict[str, Any] = {"maxEvents": limit, "returnImmediately": True}
    if acks:
        body["ack"] = acks
    if errs:
        body["setErrs"] = errs
    answer = _exchange(transmitter, body)
    if answer is None:
        if acks or errs:
            _unsent[transmitter.poll_url] = (acks, errs)
        return 0
    found = answer.get("sets")
    sets: dict = found if isinstance(found, dict) else {}
    acks, errs = [], {}
    for jti, raw in sets.items():
        try:
            event = receiving.check_set(
                str(raw), transmitter, max_age=current_app.config["SSF_RECEIVE_MAX_AGE"]
            )
            if event.jti != jti:
                raise receiving.Refused("invalid_request", "The SET's jti is not its key")
        except receiving.Refused as refusal:
            if refusal.status < 500:
                log.warning("polled SET %s refused: %s", jti, refusal.err)
                errs[jti] = refusal.body()
            continue
        transaction(partial(_apply, event))
        acks.append(jti)
    if acks or errs:
        done = {"ack": acks, "setErrs": errs, "maxEvents": 0, "returnImmediately": True}
        if _exchange(transmitter, done) is None:
            _unsent[transmitter.poll_url] = (acks, errs)
    return len(sets)


def poll_due_events(transaction: Callable[[Callable[[], Any]], Any], limit: int) -> int:
    """Poll every transmitter that has a poll URL once; returns how many SETs came."""
    return sum(
        poll_transmitter(t, transaction, limit) for t in transmitters.configured() if t.poll_url
    )
