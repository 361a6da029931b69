"""What a search of every user's sign-ins asks for (``SignInFilter``), parsed from what a
form, a query string, a JSON body or a stored job said; ``InvalidFilter`` names the first value
that cannot be applied. The search itself is ``sign_ins``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ...models.addresses import ADDRESS_OR_BLOCK_PATTERN, block_range
from ..devices.flags import Flag
from ..errors import Invalid

DEVICE_TYPES = ("desktop", "mobile", "tablet")
# The flags a search can ask for: the two stored on each sign-in, and a reported device.
FLAGS = {
    "new_country": Flag.NEW_COUNTRY,
    "impossible_travel": Flag.IMPOSSIBLE_TRAVEL,
    "reported": Flag.REPORTED_SUSPICIOUS,
}
_TEXT_LIMIT = 320
_SPACES = " \t\n\r\x0b\x0c"  # what a pattern's \s is everywhere (str.strip takes more)
_ADDRESS_OR_BLOCK = re.compile(ADDRESS_OR_BLOCK_PATTERN)
# The earliest and latest times a timestamp holds (with a day to spare either side).
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


class InvalidFilter(Invalid):
    """A filter that cannot be applied; the message says which and why."""

    default_code = "invalid_filter"


@dataclass(frozen=True)
class SignInFilter:
    """What to search for; every field empty means every sign-in."""

    ip: str = ""
    country: str = ""
    flag: str = ""
    device_type: str = ""
    browser: str = ""  # the browser or the operating system contains this
    active: bool = False
    since: datetime | None = None
    until: datetime | None = None
    user: str = ""  # the user's email contains this

    def as_dict(self) -> dict[str, Any]:
        """The filters that are set, as plain values (for the audit log, links and jobs)."""
        out: dict[str, Any] = {}
        for name, value in vars(self).items():
            if value in ("", None, False):
                continue
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out

    @property
    def any(self) -> bool:
        return bool(self.as_dict())

    @property
    def narrows(self) -> bool:
        """Whether a filter other than "active only" is set (a bulk sign-out needs one)."""
        return any(k != "active" for k in self.as_dict())


def _time(name: str, value: Any, *, end: bool) -> datetime | None:
    """An ISO 8601 time or date (a date ``until`` means to the end of that day), in UTC.
    Times past what a timestamp holds are taken as the earliest or latest one."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        when = value
    else:
        text_value = str(value).strip()
        try:
            if len(text_value) == 10:
                day = date.fromisoformat(text_value)
                when = datetime(day.year, day.month, day.day, tzinfo=UTC)
                if end:
                    when = when + timedelta(days=1) if day < date(9999, 12, 30) else LATEST
            else:
                if text_value.endswith(("Z", "z")):
                    text_value = text_value[:-1] + "+00:00"
                when = datetime.fromisoformat(text_value)
        except ValueError:
            raise InvalidFilter(
                f"{name} must be an ISO 8601 date or time, e.g. 2026-11-25 or 2026-11-25T18:00:00Z"
            ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when.replace(tzinfo=None) <= EARLIEST.replace(tzinfo=None):
        return EARLIEST
    if when.replace(tzinfo=None) >= LATEST.replace(tzinfo=None):
        return LATEST
    return when.astimezone(UTC)


def _flag_value(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "true", "on", "yes")


def parse_filter(
    *,
    ip: Any = None,
    country: Any = None,
    flag: Any = None,
    device_type: Any = None,
    browser: Any = None,
    active: Any = None,
    since: Any = None,
    until: Any = None,
    user: Any = None,
) -> SignInFilter:
    """A filter from what a form, a query string or a JSON body said; ``InvalidFilter``
    names the first value that cannot be applied."""

    def text_of(name: str, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise InvalidFilter(f"{name} must be text")
        value = value.strip(_SPACES)
        if len(value) > _TEXT_LIMIT:
            raise InvalidFilter(f"{name} must be at most {_TEXT_LIMIT} characters")
        return value

    ip_text = text_of("ip", ip)
    if ip_text:
        try:
            if not _ADDRESS_OR_BLOCK.match(ip_text):
                raise ValueError(ip_text)
            block_range(ip_text)
        except ValueError:
            raise InvalidFilter(
                "ip must be an IPv4 or IPv6 address or CIDR block, e.g. 203.0.113.0/24"
            ) from None
    code = text_of("country", country).upper()
    if code and (len(code) != 2 or not code.isalpha()):
        raise InvalidFilter("country must be a two-letter ISO 3166 code, e.g. GB")
    flag_text = text_of("flag", flag).lower()
    if flag_text and flag_text not in FLAGS:
        raise InvalidFilter(f"flag must be one of {', '.join(FLAGS)}")
    kind = text_of("device type", device_type).lower()
    if kind and kind not in DEVICE_TYPES:
        raise InvalidFilter(f"device type must be one of {', '.join(DEVICE_TYPES)}")
    start, end = _time("since", since, end=False), _time("until", until, end=True)
    return SignInFilter(
        ip=ip_text,
        country=code,
        flag=flag_text,
        device_type=kind,
        browser=text_of("browser", browser),
        active=_flag_value(active),
        since=start,
        until=end,
        user=text_of("user", user),
    )


def filter_from_dict(values: dict[str, Any]) -> SignInFilter:
    """``parse_filter`` of a stored ``as_dict`` (a job's filters)."""
    return parse_filter(**values)
