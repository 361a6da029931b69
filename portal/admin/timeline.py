"""Investigation at a glance, from the user's history already loaded for the page (no query of
its own): a sign-in timeline of the last 30 days, drawn as server-side SVG, and where the
sign-ins came from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..models import utcnow
from ..models.types import place_name
from ..services.users.history import UserHistory
from ..timefmt import exact

WINDOW = timedelta(days=30)
WIDTH = 1000  # the SVG's own units; it scales to the page's width
LABELS = 190  # room on the left for the device names
LANE = 26
TOP = 8
# Colours for the devices' bars: distinct, and each at least 3:1 against white and dark cards.
PALETTE = ["#1565c0", "#2e7d32", "#6a1b9a", "#00838f", "#ad1457", "#5d4037", "#455a64", "#9e5a00"]


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    label: str
    flagged: bool


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Lane:
    name: str
    colour: str
    y: float
    bars: list[Bar]


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    lanes: list[Lane]
    markers: list[Marker]
    ticks: list[Tick]
    height: float
    start: datetime
    end: datetime
    sessions: int
    flagged: int


def _x(when: datetime, start: datetime) -> float:
    share = (when - start) / WINDOW
    return round(LABELS + max(0.0, min(1.0, share)) * (WIDTH - LABELS - 10), 1)


def sign_in_timeline(history: UserHistory, now: datetime | None = None) -> Timeline:
    """Each device a lane, each session of the last 30 days a bar from sign-in to its end (or
    now), flagged sign-ins marked with their evidence."""
    now = now or utcnow()
    start = now - WINDOW
    lanes: list[Lane] = []
    markers: list[Marker] = []
    count = flagged = 0
    for entry in history.devices:
        shown = [
            s
            for s in entry.sessions
            if s.created_at <= now and (s.ended_at or min(s.expires_at, now)) >= start
        ]
        if not shown:
            continue
        y = TOP + len(lanes) * LANE
        colour = PALETTE[len(lanes) % len(PALETTE)]
        bars = []
        for s in sorted(shown, key=lambda s: s.created_at):
            until = s.ended_at or min(s.expires_at, now)
            x0, x1 = _x(max(s.created_at, start), start), _x(until, start)
            findings = history.session_findings.get(s.id, [])
            where = s.location or "unknown place"
            when = exact(s.created_at)
            label = f"{entry.device.label}: signed in {when} from {where}"
            bars.append(Bar(x0, max(5.0, x1 - x0), label, bool(findings)))
            count += 1
            if findings and s.created_at >= start:
                flagged += 1
                words = "; ".join(f"{f.label}: {f.reason}" for f in findings)
                markers.append(Marker(x0, y, f"{label}. {words}"))
        lanes.append(Lane(entry.device.label, colour, y, bars))
    ticks = [
        Tick(_x(now - timedelta(days=d), start), f"{(now - timedelta(days=d)):%d %b}")
        for d in (30, 23, 16, 9, 2)
    ]
    height = TOP + max(1, len(lanes)) * LANE + 24
    return Timeline(lanes, markers, ticks, height, start, now, count, flagged)


@dataclass(frozen=True)
class Place:
    name: str
    sign_ins: int
    devices: int
    first: datetime
    last: datetime
    flagged: int


def places(history: UserHistory) -> list[Place]:
    """Where the user signed in from: each country or city, with first and last sign-in, how
    many sign-ins and devices, and how many of them were flagged; most recent first."""
    found: dict[str, dict] = {}
    for entry in history.devices:
        for s in entry.sessions:
            name = place_name(s.city, s.country_code, s.country) or "Unknown"
            row = found.setdefault(
                name,
                {"n": 0, "devices": set(), "first": s.created_at, "last": s.created_at, "f": 0},
            )
            row["n"] += 1
            row["devices"].add(entry.device.id)
            row["first"] = min(row["first"], s.created_at)
            row["last"] = max(row["last"], s.created_at)
            row["f"] += bool(history.session_findings.get(s.id))
    rows = [
        Place(name, r["n"], len(r["devices"]), r["first"], r["last"], r["f"])
        for name, r in found.items()
    ]
    return sorted(rows, key=lambda p: p.last, reverse=True)
