"""Every documented JSON shape, declared once as a Pydantic model.

A response body is a model dumped to JSON (``body``, ``answer``), and ``/openapi.json`` takes its
component schemas from the same models' JSON Schema (``openapi.py``), so the bodies and the
document cannot tell different stories. Routes answer with these models rather than spell a
documented key themselves.

*Envelope* shapes come from the Flashback "device-session-management" document; *token-row*
shapes from the TKT "auth/devices" document. Keys keep the order the documents give them: the
order fields are declared in is the order they are sent in (``app.json.sort_keys`` is off).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, Self, get_args
from uuid import UUID

from flask import Response, current_app
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    StrictBool,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from ..models.addresses import ADDRESS_OR_BLOCK_PATTERN
from ..models.device import shown_trust_level, trust_holds
from ..models.types import place_of
from ..services.audit import feed
from ..services.audit.log import AuditEventRow
from ..services.devices.reads import DeviceRow, SessionRow
from ..services.incidents import search
from ..timefmt import iso_z

# ISO 8601 in UTC with a Z, to the second: 2026-11-25T18:00:00Z.
Time = Annotated[
    datetime,
    PlainSerializer(iso_z, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-11-25T18:00:00Z"]}),
]
TrustLevel = Literal["HIGH", "MEDIUM", "LOW", "UNKNOWN"]


class _Answers:
    """What every shape does: become a JSON-ready body, or a whole answer."""

    def body(self) -> Any:
        """The JSON-ready body (times as ISO 8601 Z strings, ids as strings)."""
        return self.model_dump(mode="json", by_alias=True)

    def answer(self, status: int = 200) -> Response:
        """The body serialised by Pydantic itself (in Rust), not dumped to Python and then
        encoded again by Flask: the list is walked once, not twice."""
        return current_app.response_class(
            self.model_dump_json(by_alias=True), status=status, mimetype="application/json"
        )


class Shape(_Answers, BaseModel):
    """A documented body: built from snake_case names, sent with the documents' camelCase keys."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        # Every key is always sent (null when empty): the document marks them all required.
        json_schema_serialization_defaults_required=True,
    )


class ShapeList(_Answers, RootModel):
    """A bare JSON array of shapes (the TKT lists)."""

    model_config = ConfigDict(frozen=True)


# --- Flashback (envelope) shapes --------------------------------------------------------------


class Device(Shape):
    """A device, as ``GET /devices`` lists it."""

    id: UUID
    device_name: str = Field(alias="deviceName")
    device_type: Literal["DESKTOP", "MOBILE", "TABLET"] = Field(alias="deviceType")
    os: str | None
    browser: str | None
    ip_address: str | None = Field(alias="ipAddress")
    country: str | None
    city: str | None
    is_trusted: bool = Field(alias="isTrusted")
    trust_level: TrustLevel = Field(alias="trustLevel")
    last_seen: Time = Field(alias="lastSeen")
    created_at: Time = Field(alias="createdAt")
    trust_expires_at: Time | None = Field(alias="trustExpiresAt")

    @classmethod
    def of(cls, device: DeviceRow, **more: Any) -> Device:
        """From a device's row (``services.device_reads``)."""
        trusted = trust_holds(device.is_trusted, device.trust_expires_at)
        return cls(
            id=device.id,
            device_name=device.name,
            device_type=device.device_type,
            os=" ".join(p for p in (device.os_name, device.os_version) if p) or None,
            browser=device.browser,
            ip_address=device.ip_address,
            country=device.country,
            city=device.city,
            is_trusted=trusted,
            trust_level=shown_trust_level(device.trust_level, trusted),
            last_seen=device.last_seen_at,
            created_at=device.first_seen_at,
            trust_expires_at=device.trust_expires_at if trusted else None,
            **more,
        )


class DeviceSession(Shape):
    """A session inside a device detail."""

    id: UUID
    ip_address: str | None = Field(alias="ipAddress")
    location: str | None
    started_at: Time = Field(alias="startedAt")
    last_activity: Time = Field(alias="lastActivity")
    expires_at: Time = Field(alias="expiresAt")
    login_method: Literal["oidc", "bearer"] = Field(alias="loginMethod")

    @classmethod
    def of(cls, session: SessionRow, **more: Any) -> DeviceSession:
        """From a session's row (``services.device_reads``)."""
        return cls(
            id=session.id,
            ip_address=session.ip_address,
            location=place_of(session),
            started_at=session.created_at,
            last_activity=session.last_used_at,
            expires_at=session.expires_at,
            login_method=session.login_method,
            **more,
        )


class DeviceDetail(Device):
    """A device with its active sessions, as ``GET /devices/{id}`` answers it."""

    user_agent: str | None = Field(alias="userAgent")
    device_fingerprint: str = Field(alias="deviceFingerprint")
    sessions: list[DeviceSession]

    @classmethod
    def of(cls, device: DeviceRow) -> DeviceDetail:
        """From a device's row read with its sessions."""
        return super().of(
            device,
            user_agent=device.user_agent,
            device_fingerprint=device.fingerprint,
            sessions=[DeviceSession.of(s) for s in device.active],
        )


class Session(Shape):
    """A session, as ``GET /sessions`` lists it: a device's session with the device's name."""

    # DeviceSession's fields with deviceName after the id, in the document's order.
    id: UUID
    device_name: str = Field(alias="deviceName")
    ip_address: str | None = Field(alias="ipAddress")
    location: str | None
    started_at: Time = Field(alias="startedAt")
    last_activity: Time = Field(alias="lastActivity")
    expires_at: Time = Field(alias="expiresAt")
    login_method: Literal["oidc", "bearer"] = Field(alias="loginMethod")

    @classmethod
    def of(cls, session: SessionRow) -> Session:
        """From a session's row, read with its device."""
        facts = {name: value for name, value in DeviceSession.of(session) if name != "id"}
        return cls(id=session.id, device_name=session.device.name, **facts)


class DeviceList(Shape):
    """``GET /devices``: the caller's devices."""

    success: Literal[True] = True
    devices: list[Device]


class DeviceAnswer(Shape):
    """``GET /devices/{id}``: one device with its active sessions."""

    success: Literal[True] = True
    device: DeviceDetail


class SessionList(Shape):
    """``GET /sessions``: the caller's active sessions."""

    success: Literal[True] = True
    sessions: list[Session]


class SecurityEvent(Shape):
    """One entry of the caller's recent security activity (``GET /account/security-events``)."""

    type: Literal["flagged_sign_in", "alert_sent", "reported", "confirmed", "signed_out_by_admin"]
    time: Time
    device_id: UUID = Field(alias="deviceId")
    device_name: str = Field(alias="deviceName")
    location: str | None
    ip_address: str | None = Field(alias="ipAddress")
    detail: str | None

    @classmethod
    def of(cls, event: Any) -> SecurityEvent:
        return cls(
            type=event.kind,
            time=event.at,
            device_id=event.device_id,
            device_name=event.device_name,
            location=event.location,
            ip_address=event.ip_address,
            detail=event.detail,
        )


class SecurityEventList(Shape):
    """``GET /account/security-events``: the caller's last 14 days, newest first."""

    success: Literal[True] = True
    events: list[SecurityEvent]


class EnvelopeMessage(Shape):
    """A change that went through."""

    success: Literal[True] = True
    message: str


class TrustAnswer(EnvelopeMessage):
    """``POST /devices/trust``: trusted, until when."""

    trust_expires_at: Time = Field(alias="trustExpiresAt")


class HeartbeatAnswer(EnvelopeMessage):
    """``POST /sessions/{id}/heartbeat``: the session's new expiry."""

    new_expiry: Time = Field(alias="newExpiry")


class Refused(ValueError):
    """A request its model does not accept: the 400's words, and its code (token-row errors)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def refuse(code: str, message: str) -> PydanticCustomError:
    """A validator's error that is the 400 itself: ``RequestShape.refusal`` words it as given."""
    return PydanticCustomError(code, message, {"refusal": True})


class RequestShape(Shape):
    """A documented request (a JSON body, or a query string): the route parses it with
    ``parse`` (through ``declarations.parsed_body``/``parsed_query``), and the document shows
    this model's JSON Schema, so both say the same. Only the documented (camelCase) names are
    read."""

    model_config = ConfigDict(validate_by_name=False)

    NOT_AN_OBJECT: ClassVar[str] = "Request body must be a JSON object"
    # A request as a client sends it: the document's example (which it must accept).
    EXAMPLE: ClassVar[dict[str, Any] | None] = None
    # The code of a 400 the model words itself (token-row errors carry it).
    INVALID_CODE: ClassVar[str | None] = None

    @classmethod
    def parse(cls, data: Any) -> Self:
        """The request, or ``Refused`` saying what is wrong with it (its first problem)."""
        if not isinstance(data, dict):
            raise Refused(cls.NOT_AN_OBJECT)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise cls.refusal(exc.errors()[0]) from None

    @classmethod
    def refusal(cls, error: Any) -> Refused:
        """The 400 for one of pydantic's errors: a validator's own words (``refuse``) as they
        are, else ``<where>: <pydantic's words>``."""
        if (error.get("ctx") or {}).get("refusal"):
            return Refused(error["msg"], error["type"])
        where = ".".join(str(p) for p in error.get("loc", ())) or "body"
        return Refused(f"{where}: {error.get('msg')}", cls.INVALID_CODE)


TrustChoice = Literal["HIGH", "MEDIUM", "LOW"]


class TrustRequest(RequestShape):
    """``POST /devices/trust`` request body (trustLevel defaults to HIGH). The fingerprint is
    a SHA-256 hex digest in either case (``deviceFingerprint`` sends it in lowercase)."""

    model_config = ConfigDict(extra="ignore")  # a request: other keys are ignored

    fingerprint: Annotated[str, AfterValidator(str.lower)] = Field(pattern="^[0-9a-fA-F]{64}$")
    trust_level: TrustChoice = Field("HIGH", alias="trustLevel")

    EXAMPLE: ClassVar[dict[str, Any] | None] = {
        "fingerprint": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "trustLevel": "HIGH",
    }

    @classmethod
    def refusal(cls, error: Any) -> Refused:
        """The words the route has always used for each field."""
        where = (error.get("loc") or ("",))[0]
        if where == "fingerprint":
            if error["type"] == "missing" or error.get("input") in (None, ""):
                return Refused("fingerprint is required")
            return Refused("fingerprint must be a SHA-256 hex digest (64 hex characters)")
        if where == "trustLevel":
            return Refused(f"trustLevel must be one of {', '.join(get_args(TrustChoice))}")
        return super().refusal(error)


class EnvelopeError(Shape):
    """An envelope route's error."""

    success: Literal[False] = False
    error: str


# --- TKT (token-row) shapes -------------------------------------------------------------------


class DeviceInfo(Shape):
    """A token row's device."""

    device_id: UUID = Field(alias="deviceId")
    device_type: Literal["desktop", "mobile", "tablet"] = Field(alias="deviceType")
    device_name: str = Field(alias="deviceName")
    device_model: str | None = Field(alias="deviceModel")
    os_name: str | None = Field(alias="osName")
    os_version: str | None = Field(alias="osVersion")
    app_version: str | None = Field(alias="appVersion")
    ip_address: str | None = Field(alias="ipAddress")
    user_agent: str | None = Field(alias="userAgent")
    last_location: str | None = Field(alias="lastLocation", examples=["London, GB"])


class TokenRow(Shape):
    """One active session (a refresh token and its access token) with its device."""

    id: UUID
    device_info: DeviceInfo = Field(alias="deviceInfo")
    last_used_at: Time = Field(alias="lastUsedAt")
    created_at: Time = Field(alias="createdAt")
    expires_at: Time = Field(alias="expiresAt")

    @classmethod
    def of(cls, session: SessionRow) -> TokenRow:
        """From a session's row, read with its device."""
        device = session.device
        info = DeviceInfo(
            device_id=device.id,
            device_type=(device.device_type or "DESKTOP").lower(),
            device_name=device.name,
            device_model=device.model,
            os_name=device.os_name,
            os_version=device.os_version,
            app_version=device.app_version,
            ip_address=session.ip_address or device.ip_address,
            user_agent=device.user_agent,
            last_location=place_of(session) or place_of(device),
        )
        return cls(
            id=session.id,
            device_info=info,
            last_used_at=session.last_used_at,
            created_at=session.created_at,
            expires_at=session.expires_at,
        )


class TokenRowList(ShapeList):
    """Active sessions as token rows, newest first."""

    root: list[TokenRow]

    @classmethod
    def of(cls, rows: Iterable[SessionRow]) -> TokenRowList:
        """From session rows read with their devices (``devices.reads.session_rows``)."""
        return cls([TokenRow.of(row) for row in rows])


class TokenRowErrorDetail(Shape):
    """What went wrong: a machine-readable code and a sentence."""

    code: str = Field(examples=["not_found"])
    message: str


class TokenRowError(Shape):
    """A token-row route's error."""

    error: TokenRowErrorDetail


# --- Events API (GET /audit/events, token-row errors) -------------------------------------------

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
        """From the audit log's one row (``services.audit_log.AuditEventRow``)."""
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


def _via(event: AuditEventRow) -> str | None:
    """How the event was asked for: its column, else what older events said of it."""
    if event.via:
        return event.via
    said = (event.detail or {}).get("via")
    if said in get_args(Via):
        return said
    if event.actor_id is None and event.actor_label:
        return "idp" if event.actor_label == "identity provider" else "cli"
    return None


class EventList(ShapeList):
    """Audit events, oldest first."""

    root: list[Event]


# --- Sign-ins across users and bulk jobs (token-row errors) ---------------------------------------


class SignIn(Shape):
    """One sign-in (a session) of any user, as ``GET /sign-ins`` lists it."""

    id: UUID
    user: EventUser
    signed_in_at: Time = Field(alias="signedInAt")
    device_id: UUID = Field(alias="deviceId")
    device_name: str = Field(alias="deviceName")
    device_type: Literal["desktop", "mobile", "tablet"] | None = Field(alias="deviceType")
    browser: str | None
    os: str | None
    ip_address: str | None = Field(alias="ipAddress")
    location: str | None = Field(examples=["London, GB"])
    login_method: Literal["oidc", "bearer"] = Field(alias="loginMethod")
    status: str = Field(examples=["active", "expired", "Revoked by an admin"])
    active: bool
    ended_at: Time | None = Field(alias="endedAt")
    flags: list[Literal["new_country", "impossible_travel", "reported"]]

    @classmethod
    def of(cls, row: Any) -> SignIn:
        """From a ``services.sign_ins.SignInRow``."""
        return cls(
            id=row.id,
            user=EventUser(id=row.user_id, email=row.email),
            signed_in_at=row.created_at,
            device_id=row.device_id,
            device_name=row.device_name,
            device_type=row.device_type,
            browser=row.browser,
            os=row.os_name,
            ip_address=row.ip_address,
            location=row.place,
            login_method=row.login_method,
            status=row.status,
            active=row.active,
            ended_at=row.ended_at,
            flags=list(row.flags),
        )


class SignInList(ShapeList):
    """Sign-ins of every user, newest first (one page; the ``Link`` header has the next)."""

    root: list[SignIn]


def _optional(extra: dict | None = None):
    """A request field that may be left out but is never null: its schema has no default."""

    def edit(schema: dict) -> None:
        schema.pop("default", None)
        schema.update(extra or {})

    return edit


_SOMETHING = "\\S"  # not empty, not only spaces: a filter given is a filter that narrows
# A date, or a date and time with its offset (RFC 3339).
_ISO_TIME = (
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    "(?:[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.][0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2}))?$"
)
_NARROWING = ("ip", "country", "flag", "deviceType", "browser", "since", "until", "user")


class SignInQuery(RequestShape):
    """The sign-in filters: ``GET /sign-ins`` takes them as query parameters, ``POST
    /sign-ins/revoke`` as a JSON object. Unknown keys are refused: a misspelt filter must
    never widen a sign-out to everyone. As a body, at least one filter that narrows is
    required (the schema's ``anyOf``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"anyOf": [{"required": [name]} for name in _NARROWING]},
    )

    NOT_AN_OBJECT: ClassVar[str] = "Request body must be a JSON object of filters"
    EXAMPLE: ClassVar[dict[str, Any] | None] = {
        "country": "GB",
        "since": "2026-11-25T18:00:00Z",
        "activeOnly": True,
    }
    INVALID_CODE: ClassVar[str | None] = "invalid_filter"

    ip: str = Field(
        None,
        pattern=ADDRESS_OR_BLOCK_PATTERN,
        examples=["203.0.113.0/24"],
        description="An IPv4 or IPv6 address, or a CIDR block",
        json_schema_extra=_optional(),
    )
    country: str = Field(
        None,
        pattern="^[A-Za-z]{2}$",
        examples=["GB"],
        description="ISO 3166 two-letter code",
        json_schema_extra=_optional(),
    )
    flag: Literal["new_country", "impossible_travel", "reported"] = Field(
        None, description="An investigation flag", json_schema_extra=_optional()
    )
    device_type: Literal["desktop", "mobile", "tablet"] = Field(
        None, alias="deviceType", description="The device's type", json_schema_extra=_optional()
    )
    browser: str = Field(
        None,
        pattern=_SOMETHING,
        max_length=320,
        description="The browser or system contains",
        json_schema_extra=_optional(),
    )
    active_only: StrictBool = Field(
        False, alias="activeOnly", description="Only sessions still active"
    )
    since: str = Field(
        None,
        examples=["2026-11-25T18:00:00Z"],
        pattern=_ISO_TIME,
        description="Signed in at or after (ISO 8601)",
        json_schema_extra=_optional({"anyOf": [{"format": "date-time"}, {"format": "date"}]}),
    )
    until: str = Field(
        None,
        examples=["2026-12-01"],
        pattern=_ISO_TIME,
        description="Signed in before (ISO 8601; a date means to its end)",
        json_schema_extra=_optional({"anyOf": [{"format": "date-time"}, {"format": "date"}]}),
    )
    user: str = Field(
        None,
        pattern=_SOMETHING,
        max_length=320,
        description="The user's email contains",
        json_schema_extra=_optional(),
    )

    QUERY_PARAMETERS: ClassVar[tuple[str, ...]] = (
        "ip",
        "country",
        "flag",
        "deviceType",
        "browser",
        "activeOnly",
        "since",
        "until",
        "user",
    )

    def filter_values(self) -> dict[str, Any]:
        """The filters under ``services.sign_ins.parse_filter``'s names."""
        return {
            "ip": self.ip,
            "country": self.country,
            "flag": self.flag,
            "device_type": self.device_type,
            "browser": self.browser,
            "active": self.active_only,
            "since": self.since,
            "until": self.until,
            "user": self.user,
        }


def _whole_number(name: str, largest: int) -> Callable[[Any], int]:
    """A query parameter that must be a whole number from 1 to ``largest``."""

    def check(text: Any) -> int:
        try:
            number = int(text) if isinstance(text, str) and text.isdigit() else 0
        except ValueError:  # a digit to str.isdigit that int() does not read ("²")
            number = 0
        if not 1 <= number <= largest:
            raise refuse(f"invalid_{name}", f"{name} must be a whole number from 1 to {largest}")
        return number

    return check


def _cursor(decode: Callable[[str], Any], keep: bool) -> Callable[[Any], Any]:
    """A cursor this API handed out: decoded (or, with ``keep``, checked and kept as given)."""

    def check(text: Any) -> Any:
        try:
            decoded = decode(text)
        except (feed.BadCursor, search.BadCursor, TypeError):
            raise refuse(
                "invalid_cursor", "cursor is not one this API handed out (follow the Link header)"
            ) from None
        return text if keep else decoded

    return check


def _limit(name: str, largest: int, what: str) -> Any:
    return Annotated[
        int,
        BeforeValidator(_whole_number(name, largest)),
        WithJsonSchema(
            {"type": "integer", "minimum": 1, "maximum": largest},
            mode="validation",
        ),
        Field(description=f"{what} per page (default 100)."),
    ]


def _opaque_cursor(decode: Callable[[str], Any], pattern: str, keep: bool) -> Any:
    return Annotated[
        (str if keep else tuple[int, int]) | None,
        BeforeValidator(_cursor(decode, keep)),
        WithJsonSchema({"type": "string", "pattern": pattern}, mode="validation"),
        Field(description="Opaque: pass back what the previous answer's Link header gave."),
    ]


def _query_bool(value: Any) -> Any:
    """``true`` and ``false`` in a query string are the booleans; anything else stays as it is
    (and is refused)."""
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


class SignInSearch(SignInQuery):
    """``GET /sign-ins``: the filters as query parameters, with the page's size and cursor.
    Other query parameters are ignored (a query string is not a filter object)."""

    model_config = ConfigDict(extra="ignore")

    active_only: Annotated[StrictBool, BeforeValidator(_query_bool)] = Field(
        False, alias="activeOnly", description="Only sessions still active"
    )
    limit: _limit("limit", search.MAX_LIMIT, "Sign-ins") = 100
    cursor: _opaque_cursor(search.decode_cursor, search.CURSOR_PATTERN, keep=True) = None


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
    limit: _limit("limit", feed.MAX_LIMIT, "Events") = 100
    cursor: _opaque_cursor(feed.decode_cursor, feed.CURSOR_PATTERN, keep=False) = None


class JobStarted(Shape):
    """``POST /sign-ins/revoke``: the job that ends the matched sessions, and how many."""

    job_id: UUID = Field(alias="jobId")
    matched: int


class JobState(Shape):
    """``GET /jobs/{jobId}``: where a bulk job is."""

    status: Literal["queued", "running", "done", "failed"]
    done: int
    total: int
