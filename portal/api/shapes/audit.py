"""The audit events feed (``GET /audit/events``, token-row errors): events as security tools
read them, and the query that pages through them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast, get_args
from uuid import UUID

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema

from ...services.audit import feed
from ...services.audit.log import AuditEventRow
from .base import RequestShape, Shape, ShapeList, Time, refuse
from .paging import opaque_cursor, page_limit

Via = Literal["page", "api", "cli", "idp", "scim"]


class EventUser(Shape):
    """A person an event names (its actor or its target), as they were known then."""

    id: UUID | None
    email: str | None


class Event(Shape):
    """One audit event, as security tools read them (Okta's System Log is the model)."""

    id: int = Field(examples=[1042])
    time: Time
    action: str = Field(examples=["revoke_session"])
    actor: EventUser | None
    target: EventUser | None
    device: UUID | None
    session: UUID | None
    ip: str | None
    location: str | None = Field(examples=["London, GB"])
    via: Via | None
    details: dict[str, Any]

    @classmethod
    def of(cls, event: AuditEventRow, location: str | None) -> Event:
        """From the audit log's one row (``services.audit.log.AuditEventRow``)."""
        actor, details = None, dict(event.detail or {})
        if event.actor_id is not None:
            actor = EventUser(id=event.actor_id, email=event.actor.email if event.actor else None)
        elif event.actor_label:  # the CLI's account, the identity provider, a deleted user
            details.setdefault("actor_label", event.actor_label)
        target = None
        if event.target_user_id is not None:
            email = event.target_user.email if event.target_user is not None else None
            target = EventUser(id=event.target_user_id, email=email)
        return cls(
            id=event.id,
            time=event.occurred_at,
            action=event.action,
            actor=actor,
            target=target,
            device=event.device_id,
            session=event.session_id,
            ip=event.ip_address,
            location=location,
            via=_via(event),
            details=details,
        )


def _via(event: AuditEventRow) -> Via | None:
    """How the event was asked for: its column, else what older events said of it."""
    if event.via:
        return cast(Via, event.via)  # the column's text: the shape's validation checks it
    said = (event.detail or {}).get("via")
    if said in get_args(Via):
        return said
    if event.actor_id is None and event.actor_label:
        return "idp" if event.actor_label == "identity provider" else "cli"
    return None


class EventList(ShapeList):
    """Audit events, oldest first."""

    root: list[Event]


def _since(text: Any) -> datetime:
    """An ISO 8601 time (UTC when it names no offset), from 1970 to 9998."""
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except (TypeError, ValueError, AttributeError):
        raise refuse(
            "invalid_since", "since must be an ISO 8601 time, e.g. 2026-11-25T18:00:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if not datetime(1970, 1, 1, tzinfo=UTC) <= when <= datetime(9998, 12, 31, tzinfo=UTC):
        raise refuse("invalid_since", "since must be a time from 1970 to 9998")
    return when.astimezone(UTC)


class EventsQuery(RequestShape):
    """``GET /audit/events``: where the first page starts (``since``), its size, and the
    cursor of the next page. Other query parameters are ignored."""

    model_config = ConfigDict(extra="ignore")

    since: Annotated[
        datetime | None,
        BeforeValidator(_since),
        WithJsonSchema({"type": "string", "format": "date-time"}, mode="validation"),
    ] = Field(
        None,
        description="The first page starts at events from this time on (ISO 8601).",
        examples=["2026-11-25T18:00:00Z"],
    )
    limit: Annotated[int, *page_limit("limit", feed.MAX_LIMIT, "Events")] = 100
    cursor: Annotated[
        tuple[int, int] | None, *opaque_cursor(feed.decode_cursor, feed.CURSOR_PATTERN, keep=False)
    ] = None
