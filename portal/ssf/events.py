"""``POST /ssf/events``: a transmitter pushes a Security Event Token to the portal (RFC 8935).

The push carries the bearer token the portal gave that transmitter (which also says which
transmitter it is), and the SET as ``application/secevent+jwt``. A SET that passes every check
(``receiving``) is applied by one operation and answered 202, a replayed one too (it changes
nothing); a refused one is answered in RFC 8935's shape, ``{"err", "description"}``, and the
request rolls back, so it changes nothing either. Not found (404) while no transmitter is
configured.
"""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, request

from ..authz import access_rule
from ..models import utcnow
from ..services import operations
from . import receiving, transmitters

log = logging.getLogger(__name__)

SET_MEDIA_TYPE = "application/secevent+jwt"


class _ReceiverBlueprint(Blueprint):
    cookieless = True  # transmitters carry a bearer token, never the browser's cookie


bp = _ReceiverBlueprint("ssf_receiver", __name__)


def _answer(status: int, body: dict | None = None, **headers: str):
    response = current_app.response_class(
        current_app.json.dumps(body) if body is not None else b"",
        status=status,
        mimetype="application/json" if body is not None else None,
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(headers)
    return response


def _refused(refusal: receiving.Refused):
    log.warning("SET refused: %s (%s)", refusal.err, refusal.description)
    headers = {"Retry-After": "30"} if refusal.status == 503 else {}
    return _answer(refusal.status, refusal.body(), **headers)


def _pushing_transmitter() -> transmitters.Transmitter | receiving.Refused:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    found = (
        transmitters.by_push_token(presented.strip())
        if scheme.lower() == "bearer" and presented.strip()
        else None
    )
    if found is None:
        return receiving.Refused(
            "authentication_failed", "The bearer token is missing or not a transmitter's", 401
        )
    return found


@bp.post("/ssf/events")
@access_rule("ssf_transmitter_token")
def receive_event():
    """One SET pushed by a transmitter (RFC 8935): 202 when taken (or taken before)."""
    if not transmitters.configured():
        abort(404)
    transmitter = _pushing_transmitter()
    if isinstance(transmitter, receiving.Refused):
        response = _refused(transmitter)
        response.headers["WWW-Authenticate"] = 'Bearer realm="ssf", error="invalid_token"'
        return response
    if request.mimetype != SET_MEDIA_TYPE:
        return _refused(
            receiving.Refused("invalid_request", f"The body must be {SET_MEDIA_TYPE}", 400)
        )
    config = current_app.config
    try:
        event = receiving.check_set(
            request.get_data(as_text=True), transmitter, max_age=config["SSF_RECEIVE_MAX_AGE"]
        )
    except receiving.Refused as refusal:
        return _refused(refusal)
    operations.receive_security_event(
        event,
        now=utcnow(),
        max_age_seconds=config["SSF_RECEIVE_MAX_AGE"],
        groups_claim=config["OIDC_GROUPS_CLAIM"],
    )
    return _answer(202)
