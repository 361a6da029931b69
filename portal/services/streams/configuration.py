"""What a receiver may ask of its stream (SSF 1.0 section 8.1.1), checked, and the stream's
configuration as the transmitter answers it.

Receiver-supplied: ``delivery``, ``events_requested``, ``description``, and ``format``: how
the stream's events name their subject (``SUBJECT_FORMATS``; ``complex`` adds the IdP session
of a session-revoked event; the member of the SSF drafts before 1.0, which 1.0 leaves to
agreement). Transmitter-supplied:
``stream_id``, ``iss``, ``aud``, ``events_supported``, ``events_delivered``,
``min_verification_interval``; a request may repeat them, and they must then be what the
portal would say (section 8.1.1.3). Event types the portal does not know are kept as
requested and ignored (section 8.1.1); a request none of whose types the portal sends is
refused, since the stream would carry nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ...models.types import without_control_characters
from ..errors import Invalid

PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
DELIVERY_METHODS = (PUSH, POLL)

SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
ACCOUNT_DISABLED = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
ACCOUNT_ENABLED = "https://schemas.openid.net/secevent/risc/event-type/account-enabled"
VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification"
STREAM_UPDATED = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated"
# What the portal transmits; verification (and stream-updated) go to every stream regardless.
EVENTS_SUPPORTED = (SESSION_REVOKED, ACCOUNT_DISABLED, ACCOUNT_ENABLED)

# Seconds between two verification requests of one stream (SSF 1.0 section 8.1.1).
MIN_VERIFICATION_INTERVAL = 30
# A client's streams at most; a further create is refused (409), as section 8.1.1.1 allows.
STREAMS_PER_CLIENT = 10
# Where a poll stream's receiver fetches its events (RFC 8936), under the portal's issuer.
POLL_PATH = "/ssf/poll/"

# How a stream's events name their subject: RFC 9493's iss_sub (the default) or email, as the
# CAEP Interoperability Profile has them, or complex: the user (iss_sub) and, for a
# session-revoked event, the IdP session (opaque, the ID token's sid) as CAEP 1.0 shows it.
SUBJECT_FORMATS = ("iss_sub", "email", "complex")
DEFAULT_SUBJECT_FORMAT = "iss_sub"

DESCRIPTION_LIMIT = 1000
URL_LIMIT = 2048
HEADER_LIMIT = 4096
EVENT_TYPE_LIMIT = 255
EVENT_TYPES_LIMIT = 50
TRANSMITTER_SUPPLIED = (
    "iss",
    "aud",
    "events_supported",
    "events_delivered",
    "min_verification_interval",
)


@dataclass(frozen=True)
class Requested:
    """A stream's receiver-supplied values, checked."""

    delivery_method: str
    endpoint_url: str | None
    authorization_header: str | None
    events_requested: list[str]
    description: str | None
    subject_format: str = DEFAULT_SUBJECT_FORMAT


def delivered(events_requested: list[str]) -> list[str]:
    """``events_delivered``: the supported events the receiver asked for, in the portal's order."""
    return [e for e in EVENTS_SUPPORTED if e in events_requested]


def _events(value: Any) -> list[str]:
    if value is None:  # not asked: every event the portal sends (documented in docs/ssf.md)
        return list(EVENTS_SUPPORTED)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Invalid(
            "events_requested must be an array of event type URIs", field="events_requested"
        )
    if len(value) > EVENT_TYPES_LIMIT or any(len(v) > EVENT_TYPE_LIMIT for v in value):
        raise Invalid(
            f"events_requested holds at most {EVENT_TYPES_LIMIT} URIs of at most "
            f"{EVENT_TYPE_LIMIT} characters",
            field="events_requested",
        )
    events = list(dict.fromkeys(value))
    if not delivered(events):
        raise Invalid(
            "none of events_requested is an event type the portal sends; it sends "
            + ", ".join(EVENTS_SUPPORTED),
            field="events_requested",
        )
    return events


def _push_url(value: Any, plain_http: bool) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("a push stream needs delivery.endpoint_url", field="delivery")
    url = value.strip()
    parts = urlsplit(url)
    allowed = ("https", "http") if plain_http else ("https",)
    if len(url) > URL_LIMIT or parts.scheme not in allowed or not parts.hostname or parts.fragment:
        raise Invalid(
            "delivery.endpoint_url must be an https URL without a fragment"
            + (" (or http outside production)" if plain_http else ""),
            field="delivery",
        )
    return url


def _authorization_header(value: Any) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > HEADER_LIMIT
        or without_control_characters(value) != value
    ):
        raise Invalid(
            f"delivery.authorization_header must be one line of at most {HEADER_LIMIT} characters",
            field="delivery",
        )
    return value.strip()


def _delivery(
    value: Any, stream_id: str | None, issuer: str, plain_http: bool
) -> tuple[str, str | None, str | None]:
    """(method, the receiver's push URL or None, the authorization header or None). No
    ``delivery`` at all means poll (section 8.1.1.1)."""
    if value is None:
        return POLL, None, None
    if not isinstance(value, dict):
        raise Invalid("delivery must be an object with a method", field="delivery")
    method = value.get("method", POLL)
    if method not in DELIVERY_METHODS:
        raise Invalid(
            "delivery.method must be urn:ietf:rfc:8935 (push) or urn:ietf:rfc:8936 (poll)",
            field="delivery",
        )
    if method == PUSH:
        return (
            PUSH,
            _push_url(value.get("endpoint_url"), plain_http),
            _authorization_header(value.get("authorization_header")),
        )
    given = value.get("endpoint_url")
    if given is not None and (stream_id is None or given != poll_url(issuer, stream_id)):
        raise Invalid("the portal supplies a poll stream's endpoint_url", field="delivery")
    if value.get("authorization_header") is not None:
        raise Invalid("a poll stream takes no authorization_header", field="delivery")
    return POLL, None, None


def _subject_format(value: Any) -> str:
    if value is None:
        return DEFAULT_SUBJECT_FORMAT
    if value not in SUBJECT_FORMATS:
        raise Invalid("format must be one of " + ", ".join(SUBJECT_FORMATS), field="format")
    return value


def _description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid("description must be a string", field="description")
    return without_control_characters(value)[:DESCRIPTION_LIMIT] or None


def requested(
    body: Mapping[str, Any], *, stream_id: str | None, issuer: str, plain_http: bool
) -> Requested:
    """Every receiver-supplied value of a create or a replace (PUT): a missing one is its
    default (poll, every supported event, no description)."""
    method, url, header = _delivery(body.get("delivery"), stream_id, issuer, plain_http)
    events = _events(body.get("events_requested"))
    return Requested(
        method,
        url,
        header,
        events,
        _description(body.get("description")),
        _subject_format(body.get("format")),
    )


def patched(
    body: Mapping[str, Any], current: Requested, *, stream_id: str, issuer: str, plain_http: bool
) -> Requested:
    """An update (PATCH): the values present replace the current ones, the others stay."""
    method, url, header = (
        current.delivery_method,
        current.endpoint_url,
        current.authorization_header,
    )
    if "delivery" in body:
        method, url, header = _delivery(body["delivery"], stream_id, issuer, plain_http)
    events = current.events_requested
    if "events_requested" in body:
        events = _events(body["events_requested"])
    description = current.description
    if "description" in body:
        description = _description(body["description"])
    subject_format = current.subject_format
    if "format" in body:
        subject_format = _subject_format(body["format"])
    return Requested(method, url, header, events, description, subject_format)


def poll_url(issuer: str, stream_id: str) -> str:
    return issuer.rstrip("/") + POLL_PATH + stream_id


def check_transmitter_supplied(body: Mapping[str, Any], answer: Mapping[str, Any]) -> None:
    """Transmitter-supplied values a request repeats must be the portal's own (the answer
    before the change); ``aud`` may be a string for a one-element list."""
    for name in TRANSMITTER_SUPPLIED:
        if name not in body:
            continue
        given, expected = body[name], answer.get(name)
        if name == "aud" and isinstance(given, str):
            given = [given]
        if given != expected:
            raise Invalid(f"{name} is set by the portal and cannot be changed", field=name)


def configuration(row: Any, issuer: str) -> dict[str, Any]:
    """The stream's configuration as the management API answers it (section 8.1.1); the
    authorization header a push stream sends is a secret the answer never repeats."""
    delivery: dict[str, Any] = {"method": row.delivery_method}
    if row.delivery_method == POLL:
        delivery["endpoint_url"] = poll_url(issuer, row.stream_id)
    else:
        delivery["endpoint_url"] = row.endpoint_url
    answer: dict[str, Any] = {
        "stream_id": row.stream_id,
        "iss": issuer,
        "aud": list(row.audience),
        "delivery": delivery,
        "events_supported": list(EVENTS_SUPPORTED),
        "events_requested": list(row.events_requested),
        "events_delivered": delivered(list(row.events_requested)),
        "min_verification_interval": row.min_verification_interval,
        "format": row.subject_format,
    }
    if row.description:
        answer["description"] = row.description
    return answer
