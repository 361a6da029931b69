"""Flags that help an admin investigate a user's sign-ins and devices.

* **new country**: a sign-in from a country that none of the user's sign-ins in the previous
  30 days came from (only when there *were* sign-ins in those 30 days to compare with, so a
  user's very first sign-in is not flagged).
* **impossible travel**: a sign-in whose distance from the user's previous located sign-in,
  over the time between them, means travelling faster than 1,000 km/h (GeoIP coordinates).
* **untrusted** / **trust expired**: a device that is not trusted, or whose trust has lapsed.
* **reported as not them**: a device its owner reported with *This wasn't me* (the sign-ins
  on it were not theirs).

Every session counts as a sign-in (browser sign-ins and the first use of a bearer token alike):
a token used from a new place is as interesting to an investigator as a browser.
"""

from __future__ import annotations

import enum
import functools
import operator
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from ...models import utcnow
from ..common import exact_time
from .places import distance_km
from .reads import DeviceRow

NEW_COUNTRY_LOOKBACK = timedelta(days=30)
MAX_TRAVEL_SPEED_KMH = 1000.0


class Flag(enum.StrEnum):
    NEW_COUNTRY = "new_country"
    IMPOSSIBLE_TRAVEL = "impossible_travel"
    UNTRUSTED = "untrusted"
    TRUST_EXPIRED = "trust_expired"
    REPORTED_SUSPICIOUS = "reported_suspicious"


FLAG_LABELS = {
    Flag.NEW_COUNTRY: "New country",
    Flag.IMPOSSIBLE_TRAVEL: "Impossible travel",
    Flag.UNTRUSTED: "Untrusted device",
    Flag.TRUST_EXPIRED: "Trust expired",
    Flag.REPORTED_SUSPICIOUS: "Reported as not them",
}


class SignInLike(Protocol):
    """What the flags need from a sign-in: a ``UserSession`` or a row with these columns."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def country_code(self) -> str | None: ...
    @property
    def city(self) -> str | None: ...
    @property
    def latitude(self) -> float | None: ...
    @property
    def longitude(self) -> float | None: ...


@dataclass(frozen=True)
class Finding:
    """One flag raised on one sign-in or device, with a sentence saying why (and, for an
    event such as a report, when it happened)."""

    flag: Flag
    reason: str
    at: datetime | None = None

    @property
    def label(self) -> str:
        return FLAG_LABELS[self.flag]


def _place(s: SignInLike) -> str:
    if s.city and s.country_code:
        return f"{s.city}, {s.country_code}"
    return s.country_code or "unknown place"


def _duration(gap: timedelta) -> str:
    """ "40 min", "3 h 5 min", "2 days 4 h": how long between two sign-ins, in words."""
    minutes = max(1, round(gap.total_seconds() / 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes and not days else []
    return " ".join(parts)


def travel_speed_kmh(earlier: SignInLike, later: SignInLike) -> tuple[float, float] | None:
    """(distance km, speed km/h) between two located sign-ins; None if either has no position."""
    lat1, lon1, lat2, lon2 = earlier.latitude, earlier.longitude, later.latitude, later.longitude
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return None
    km = distance_km(lat1, lon1, lat2, lon2)
    hours = (later.created_at - earlier.created_at).total_seconds() / 3600
    if hours <= 0:
        return km, (float("inf") if km > 0 else 0.0)
    return km, km / hours


def sign_in_findings(sign_ins: Iterable[SignInLike]) -> dict[uuid.UUID, list[Finding]]:
    """Flags for each of one user's sign-ins (any order in, computed oldest first).

    Linear in the number of sign-ins: a sliding 30-day window of countries for "new country",
    and the previous located sign-in for "impossible travel".
    """
    ordered: Sequence[SignInLike] = sorted(sign_ins, key=lambda s: s.created_at)
    findings: dict[uuid.UUID, list[Finding]] = {}
    window: deque[SignInLike] = deque()
    countries: Counter[str] = Counter()
    previous_located: SignInLike | None = None
    for s in ordered:
        # Drop sign-ins older than 30 days before this one from the window.
        while window and window[0].created_at < s.created_at - NEW_COUNTRY_LOOKBACK:
            old = window.popleft()
            if old.country_code:
                countries[old.country_code] -= 1
                if not countries[old.country_code]:
                    del countries[old.country_code]
        if s.country_code and countries and s.country_code not in countries:
            seen = ", ".join(sorted(countries))
            findings.setdefault(s.id, []).append(
                Finding(
                    Flag.NEW_COUNTRY,
                    f"First sign-in from {s.country_code} in 30 days (seen before: {seen})",
                )
            )
        if previous_located is not None:
            measured = travel_speed_kmh(previous_located, s)
            if measured and measured[1] > MAX_TRAVEL_SPEED_KMH:
                km, speed = measured
                gap = s.created_at - previous_located.created_at
                pace = (
                    "at the same moment"
                    if speed == float("inf")
                    else f"in {_duration(gap)} (≈ {speed:,.0f} km/h)"
                )
                findings.setdefault(s.id, []).append(
                    Finding(
                        Flag.IMPOSSIBLE_TRAVEL,
                        f"{_place(previous_located)} → {_place(s)}: {km:,.0f} km {pace}",
                    )
                )
        if s.latitude is not None and s.longitude is not None:
            previous_located = s
        window.append(s)
        if s.country_code:
            countries[s.country_code] += 1
    return findings


# A sign-in's own flags are stored on its session when it opens (a bit each), so the users list
# counts them instead of replaying every listed user's history on every look.
SIGN_IN_FLAG_BITS = {Flag.NEW_COUNTRY: 1, Flag.IMPOSSIBLE_TRAVEL: 2}


def flags_in(bits: int) -> list[Flag]:
    """The flags a sign-in's stored bits stand for (the reverse of ``flag_bits``)."""
    return [flag for flag, bit in SIGN_IN_FLAG_BITS.items() if bits & bit]


def flag_bits(findings: Iterable[Finding]) -> int:
    """The stored form of a sign-in's findings (its sign-in flags, one bit each)."""
    bits = (SIGN_IN_FLAG_BITS.get(f.flag, 0) for f in findings)
    return functools.reduce(operator.or_, bits, 0)


def new_sign_in_flags(new: SignInLike, earlier: Iterable[SignInLike]) -> int:
    """The flag bits of a sign-in that is opening now, given the user's sign-ins of the
    ``NEW_COUNTRY_LOOKBACK`` before it: all "new country" needs, and enough for "impossible
    travel" too (no two sign-ins 30 days apart are 1,000 km/h apart on Earth)."""
    found = sign_in_findings([*earlier, new])  # sorted stably: ``new`` stays last on a tie
    return flag_bits(found.get(new.id, []))


def device_findings(device: DeviceRow, now: datetime | None = None) -> list[Finding]:
    """Reported as not them, and untrusted or trust-expired, for one device."""
    now = now or utcnow()
    found = []
    if device.reported_suspicious_at is not None:
        when = device.reported_suspicious_at
        found.append(
            Finding(
                Flag.REPORTED_SUSPICIOUS,
                f"Reported by the user as not them on {exact_time(when)}",
                at=when,
            )
        )
    if device.trusted_now(now):
        return found
    if device.is_trusted:
        found.append(Finding(Flag.TRUST_EXPIRED, "Trust lapsed; the device counts as untrusted"))
    else:
        found.append(Finding(Flag.UNTRUSTED, "The device has never been trusted or was untrusted"))
    return found
