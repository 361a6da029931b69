"""The events API for security tools: ``GET /audit/events``, the audit log oldest first.

Modelled on Okta's System Log API: ``since`` (ISO 8601) and ``limit`` (1 to 1000) choose the
first page; every answer carries ``Link: <...>; rel="next"`` with an opaque cursor, which a
client follows (now, or later to poll for new events) without ever missing or repeating one:
an event is handed out as soon as its transaction has committed (see
``services.audit.feed`` for how). Errors are in the token-row shape. Reading the stream
is not itself audited: a poller would otherwise never reach the end.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import current_app, request, url_for

from ..authz import VIEW_AUDIT_LOG
from ..services.audit import feed
from .auth import bearer
from .blueprints import token_rows
from .declarations import EVENTS_TAG, Header, documented, parsed_query
from .errors import failure
from .shapes.audit import Event, EventList, EventsQuery

_LINK = Header(
    'The next page: `<URL>; rel="next"` (always sent; an empty page means no newer committed '
    "event yet, poll it later).",
    example='<https://portal.example.com/audit/events?limit=100&cursor=c412>; rel="next"',
)


@token_rows.get("/audit/events")
@documented(
    "Audit events in commit order after a cursor (for security tools)",
    ok=EventList,
    errors=(400, 401, 403),
    error_texts={400: "Invalid since, limit or cursor"},
    query=EventsQuery,
    headers={"Link": _LINK},
    tag=EVENTS_TAG,
)
@failure("Failed to retrieve audit events")
@bearer("audit:read", permission=VIEW_AUDIT_LOG)
def list_audit_events(principal):
    """Audit events after the cursor (or from ``since``), oldest first, with a next link."""
    asked: EventsQuery = parsed_query()
    limit, since, after = asked.limit, asked.since, asked.cursor or (0, 0)
    events = feed.committed_events(after=after, since=since, limit=limit)
    geoip = current_app.config.get("GEOIP_DATABASE")
    body = EventList([Event.of(e, feed.location_of(e, geoip)) for e in events])
    last = feed.position_of(events[-1]) if events else after
    query = {"limit": limit, "cursor": feed.encode_cursor(last)}
    if since is not None:
        query["since"] = request.args["since"]
    response = body.answer()
    next_url = url_for("api_token_rows.list_audit_events", _external=True) + "?" + urlencode(query)
    response.headers["Link"] = f'<{next_url}>; rel="next"'
    return response
