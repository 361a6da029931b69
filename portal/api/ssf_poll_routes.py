"""Poll-based delivery of a stream's events (RFC 8936): ``POST /ssf/poll/<stream_id>``, the
``endpoint_url`` a poll stream's configuration names.

The caller is the stream's owner, checked as stream management checks it (the IdP's access
token, scope ``ssf.manage`` or the profile's ``ssf.manage.poll``); another client's stream is
not found. The request acknowledges (``ack``) and refuses (``setErrs``) SETs it took, and asks
for at most ``maxEvents`` more; with ``returnImmediately`` false and nothing to settle, the
portal holds the request up to ``PORTAL_SSF_POLL_WAIT`` seconds until an event is there,
looking outside any transaction (``streams.delivery.wait_for_events``). A poll that settles
something answers at once, so nothing it wrote waits with it. The SETs are signed as they
leave, by the transmitter's signer (``portal.ssf`` registers it: this layer never imports
it). A malformed request is a 400 in RFC 8935's shape (``err``, ``description``).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, request

from ..services import operations
from ..services.streams import delivery
from .auth import ClientCaller, client_bearer
from .blueprints import ssf
from .declarations import undocumented
from .errors import failure
from .shapes.base import Refused
from .shapes.ssf_poll import PollAnswer, PollRequest

POLL_SCOPES = ("ssf.manage", "ssf.manage.poll")
# Where ``portal.ssf`` puts the function that signs a SET's claims.
SIGNER = "ssf_signer"


def _invalid(description: str):
    """RFC 8935 section 2.3's error shape, which RFC 8936 answers in too."""
    return {"err": "invalid_request", "description": description}, 400


@ssf.post("/ssf/poll/<stream_id>")
@undocumented("Poll-based SET delivery: RFC 8936 is its document (docs/ssf.md)")
@failure("Failed to poll the stream")
@client_bearer(*POLL_SCOPES, enabled="SSF_STREAMS")
def poll(caller: ClientCaller, stream_id: str):
    """The stream's undelivered SETs, by ``jti`` (RFC 8936 section 2.2)."""
    try:
        asked = PollRequest.parse(request.get_json(silent=True))
    except Refused as refused:
        return _invalid(refused.message)
    refused_sets = asked.errors()
    if not asked.return_immediately and not asked.ack and not refused_sets and asked.wanted:
        delivery.wait_for_events(caller.client_id, stream_id, current_app.config["SSF_POLL_WAIT"])
    polled = operations.poll_stream(
        caller.actor,
        caller.client_id,
        stream_id,
        acknowledged=asked.ack,
        refused=refused_sets,
        wanted=asked.wanted,
    )
    sign: Callable[[dict], str] = current_app.extensions[SIGNER]
    sets = {jti: sign(claims) for jti, claims in polled.sets}
    answer = {"sets": sets, "moreAvailable": polled.more_available}
    return PollAnswer.model_validate(answer).answer()
