"""Where an IP address is, from a MaxMind City database when one is configured."""

from __future__ import annotations

import ipaddress
import logging
import math
from dataclasses import dataclass
from functools import lru_cache

import geoip2.database
import geoip2.errors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Location:
    country_code: str | None = None
    country: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None


UNKNOWN = Location()


@lru_cache(maxsize=4)
def _reader(path: str) -> geoip2.database.Reader:
    return geoip2.database.Reader(path)


def locate(ip: str | None, database: str | None) -> Location:
    """Country, city and coordinates of ``ip``; unknown parts are None, never an error."""
    if not ip or not database:
        return UNKNOWN
    try:
        ipaddress.ip_address(ip)
        answer = _reader(database).city(ip)
    except (ValueError, geoip2.errors.AddressNotFoundError):
        return UNKNOWN
    except Exception:  # a broken database must not break sign-in
        log.exception("GeoIP lookup failed for %s", ip)
        return UNKNOWN
    return Location(
        country_code=answer.country.iso_code,
        country=answer.country.name,
        city=answer.city.name,
        latitude=answer.location.latitude,
        longitude=answer.location.longitude,
    )


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) between two points, in kilometres."""
    rlat1, rlat2 = math.radians(lat1), math.radians(lat2)
    dlat = rlat2 - rlat1
    dlon = math.radians(lon2 - lon1)
    a = math.sin(dlat / 2) ** 2 + math.cos(rlat1) * math.cos(rlat2) * math.sin(dlon / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))
