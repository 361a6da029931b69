"""What ``flask --app wsgi ssf subscribe`` does (the command itself is ``portal.cli``'s, the
one place a command commits): create the portal's stream at a transmitter that has a
``configuration_endpoint`` (SSF 1.0 section 8.1.1), pushing to the portal's ``/ssf/events``
with its receive token as the ``authorization_header`` (or, with ``--poll``, a poll stream),
for the events the portal acts on; then ask for a verification event (section 8.1.4) and wait
until the portal received it (a poll stream: polling it here, as the worker will).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from typing import Any

import click
import requests
from flask import current_app

from ..extensions import db
from ..services.received import events, replay
from . import poll as poll_module
from . import transmitters

PUSH_DELIVERY = "urn:ietf:rfc:8935"
POLL_DELIVERY = "urn:ietf:rfc:8936"


def _chosen(issuer: str | None, poll: bool = False) -> transmitters.Transmitter:
    usable = [t for t in transmitters.configured() if t.token or poll]
    for t in usable:
        if issuer is None or t.issuer == issuer.rstrip("/"):
            return t
    raise click.ClickException(
        (
            "no transmitter is configured"
            if poll
            else "no transmitter with a push token is configured"
        )
        + (f" for {issuer}" if issuer else "")
        + " (PORTAL_SSF_RECEIVE_TOKEN, PORTAL_SSF_RECEIVE_TRANSMITTERS)"
    )


def _call(method: str, url: str, token: str, body: dict) -> requests.Response:
    try:
        return requests.request(
            method,
            url,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=current_app.config["SSF_TIMEOUT"],
        )
    except requests.RequestException as exc:
        raise click.ClickException(f"{url}: {exc}") from None


def _endpoint(transmitter: transmitters.Transmitter, given: str | None) -> str:
    if given:
        return given
    origin = current_app.config.get("SSF_ISSUER") or transmitter.audience
    if not origin.startswith(("https://", "http://")):
        raise click.ClickException("say where the transmitter pushes to: --endpoint-url")
    return origin.rstrip("/") + "/ssf/events"


def subscribe(
    issuer: str | None,
    endpoint_url: str | None,
    poll: bool,
    timeout: float,
    transaction: Callable[[Callable[[], Any]], Any],
) -> None:
    """Create the portal's push (or poll) stream at the transmitter, and verify it."""
    transmitter = _chosen(issuer, poll)
    try:
        metadata = transmitters.metadata(transmitter.issuer, refresh=True)
        token = transmitters.access_token(transmitter)
    except transmitters.TransmitterUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    configuration = metadata.get("configuration_endpoint")
    if not configuration:
        raise click.ClickException(
            f"{transmitter.issuer} publishes no configuration_endpoint: create the stream in its "
            "own console (push to /ssf/events with the receive token)"
        )
    if not token:
        raise click.ClickException(
            "no OAuth client to manage streams with (PORTAL_SSF_RECEIVE_CLIENT_ID and _SECRET)"
        )
    supported = metadata.get("events_supported")
    wanted = [e for e in events.REQUESTED if not supported or e in supported]
    delivery = (
        {"method": POLL_DELIVERY}
        if poll
        else {
            "method": PUSH_DELIVERY,
            "endpoint_url": _endpoint(transmitter, endpoint_url),
            "authorization_header": f"Bearer {transmitter.token}",
        }
    )
    created = _call(
        "POST",
        configuration,
        token,
        {"delivery": delivery, "events_requested": wanted, "description": "Device Portal"},
    )
    if created.status_code not in (200, 201):
        raise click.ClickException(
            f"creating the stream: HTTP {created.status_code} {created.text[:300]}"
        )
    stream = created.json()
    click.echo(f"stream {stream.get('stream_id')} created at {transmitter.issuer}")
    click.echo("events delivered: " + ", ".join(stream.get("events_delivered") or wanted))
    if poll:
        polled = (stream.get("delivery") or {}).get("endpoint_url")
        if not isinstance(polled, str) or not polled.startswith(("https://", "http://")):
            raise click.ClickException("the transmitter gave no poll endpoint_url")
        click.echo(f"poll endpoint: {polled} (set it as PORTAL_SSF_RECEIVE_POLL_URL)")
        transmitter = dataclasses.replace(transmitter, poll_url=polled)
    _verify(
        transmitter,
        metadata,
        token,
        stream.get("stream_id"),
        timeout,
        transaction if poll else None,
    )


def _verify(
    transmitter: transmitters.Transmitter,
    metadata: dict,
    token: str,
    stream_id: str | None,
    timeout: float,
    polling: Callable[[Callable[[], Any]], Any] | None,
) -> None:
    """Ask for a verification event, and wait until the portal has received it; ``polling``
    (the command's transaction runner) for a poll stream, which is then polled here."""
    verification = metadata.get("verification_endpoint")
    if not verification:
        click.echo("the transmitter has no verification_endpoint: not verified")
        return
    state = secrets.token_urlsafe(16)
    asked = _call("POST", verification, token, {"stream_id": stream_id, "state": state})
    if asked.status_code not in (200, 202, 204):
        raise click.ClickException(f"asking for verification: HTTP {asked.status_code}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if polling is not None:  # a poll stream: poll it here, each SET in a transaction
            poll_module.poll_transmitter(transmitter, polling, 20)
        db.session.remove()  # a fresh read each time
        if replay.verified(transmitter.issuer, state):
            click.echo("verified: the portal received the verification event")
            return
        time.sleep(0.25)
    raise click.ClickException(
        f"no verification event within {timeout:g} seconds: check that the transmitter can "
        "reach the endpoint and that the portal serves it"
    )
