"""Sign-ins across users and their bulk jobs (``GET /sign-ins``, ``POST /sign-ins/revoke``,
``GET /jobs/{jobId}``; token-row errors): the sign-ins, the filters, the jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeAlias, TypeVar
from uuid import UUID

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool

from ...models.addresses import ADDRESS_OR_BLOCK_PATTERN
from ...services.incidents import search
from .audit import EventUser
from .base import RequestShape, Shape, ShapeList, Time
from .paging import opaque_cursor, page_limit


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
        """From a ``services.incidents.search.SignInRow``."""
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


_T = TypeVar("_T")
# A filter that may be left out but is never null. Pydantic validates a filter sent as the bare
# type (a null is refused, and the document shows no null); a filter left out is None, and
# that is what the type checker is told of the attribute.
if TYPE_CHECKING:
    Omittable: TypeAlias = _T | None
else:
    Omittable = Annotated[_T, "never null when sent, None when left out"]


def _optional(extra: dict | None = None):
    """A request field that may be left out but is never null (``Omittable``): its schema has
    no default."""

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

    ip: Omittable[str] = Field(
        None,
        pattern=ADDRESS_OR_BLOCK_PATTERN,
        examples=["203.0.113.0/24"],
        description="An IPv4 or IPv6 address, or a CIDR block",
        json_schema_extra=_optional(),
    )
    country: Omittable[str] = Field(
        None,
        pattern="^[A-Za-z]{2}$",
        examples=["GB"],
        description="ISO 3166 two-letter code",
        json_schema_extra=_optional(),
    )
    flag: Omittable[Literal["new_country", "impossible_travel", "reported"]] = Field(
        None, description="An investigation flag", json_schema_extra=_optional()
    )
    device_type: Omittable[Literal["desktop", "mobile", "tablet"]] = Field(
        None, alias="deviceType", description="The device's type", json_schema_extra=_optional()
    )
    browser: Omittable[str] = Field(
        None,
        pattern=_SOMETHING,
        max_length=320,
        description="The browser or system contains",
        json_schema_extra=_optional(),
    )
    active_only: StrictBool = Field(
        False, alias="activeOnly", description="Only sessions still active"
    )
    since: Omittable[str] = Field(
        None,
        examples=["2026-11-25T18:00:00Z"],
        pattern=_ISO_TIME,
        description="Signed in at or after (ISO 8601)",
        json_schema_extra=_optional({"anyOf": [{"format": "date-time"}, {"format": "date"}]}),
    )
    until: Omittable[str] = Field(
        None,
        examples=["2026-12-01"],
        pattern=_ISO_TIME,
        description="Signed in before (ISO 8601; a date means to its end)",
        json_schema_extra=_optional({"anyOf": [{"format": "date-time"}, {"format": "date"}]}),
    )
    user: Omittable[str] = Field(
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
        """The filters under ``services.incidents.search.parse_filter``'s names."""
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
    limit: Annotated[int, *page_limit("limit", search.MAX_LIMIT, "Sign-ins")] = 100
    cursor: Annotated[
        str | None, *opaque_cursor(search.decode_cursor, search.CURSOR_PATTERN, keep=True)
    ] = None


class JobStarted(Shape):
    """``POST /sign-ins/revoke``: the job that ends the matched sessions, and how many."""

    job_id: UUID = Field(alias="jobId")
    matched: int


# A job's status: its row's text (``cast`` tells the type checker what the shape checks).
JobStatus = Literal["queued", "running", "done", "failed"]


class JobState(Shape):
    """``GET /jobs/{jobId}``: where a bulk job is."""

    status: JobStatus
    done: int
    total: int
