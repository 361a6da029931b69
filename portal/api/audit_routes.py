"""The events API for security tools: ``GET /audit/events``, the audit log oldest first.

Modelled on Okta's System Log API: ``since`` (ISO 8601) and ``limit`` (1 to 1000) choose the
first page; every answer carries ``Link: <...>; rel="next"`` with an opaque cursor, which a
client follows (now, or later to poll for new events) without ever missing or repeating one:
an event is handed out as soon as its transaction has committed (see
``services.audit_events`` for how). Errors are in the token-row shape. Reading the stream
is not itself audited: a poller would otherwise never reach the end.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import current_app, request, url_for

from ..authz import VIEW_AUDIT_LOG
from ..services import audit_events
from . import shapes, token_rows
from .auth import bearer
from .errors import ApiError, failure

DEFAULT_LIMIT = 100


def _limit() -> int:
    text = request.args.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= audit_events.MAX_LIMIT:
        raise ApiError(
            400, f"limit must be a whole number from 1 to {audit_events.MAX_LIMIT}", "invalid_limit"
        )
    return int(text)


def _since() -> datetime | None:
    text = request.args.get("since")
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ApiError(
            400, "since must be an ISO 8601 time, e.g. 2026-11-25T18:00:00Z", "invalid_since"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if not datetime(1970, 1, 1, tzinfo=UTC) <= when <= datetime(9998, 12, 31, tzinfo=UTC):
        raise ApiError(400, "since must be a time from 1970 to 9998", "invalid_since")
    return when.astimezone(UTC)


def _after() -> tuple[int, int]:
    cursor = request.args.get("cursor")
    if cursor is None:
        return (0, 0)
    return audit_events.decode_cursor(cursor)  # BadCursor, a domain error, answers 400


@token_rows.get("/audit/events")
@failure("Failed to retrieve audit events")
@bearer("audit:read", permission=VIEW_AUDIT_LOG)
def list_audit_events(principal):
    """Audit events after the cursor (or from ``since``), oldest first, with a next link."""
    limit, since, after = _limit(), _since(), _after()
    events = audit_events.committed_events(after=after, since=since, limit=limit)
    geoip = current_app.config.get("GEOIP_DATABASE")
    body = shapes.EventList(
        [shapes.Event.of(e, audit_events.location_of(e, geoip)) for e in events]
    )
    last = audit_events.position_of(events[-1]) if events else after
    query = {"limit": limit, "cursor": audit_events.encode_cursor(last)}
    if since is not None:
        query["since"] = request.args["since"]
    response = body.answer()
    next_url = url_for("api_token_rows.list_audit_events", _external=True) + "?" + urlencode(query)
    response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response
