"""English names of the current ISO 3166-1 alpha-2 country codes, from the ``pycountry``
package (Debian's iso-codes data, maintained and pinned in requirements.txt), so every page
names a country the same way and offers no retired or reserved code (DD, SU, YU, CS, AN, UK...):
the users list keeps only a code, a session the GeoIP database's name."""

from __future__ import annotations

from typing import Any

import pycountry


def _name(country: Any) -> str:
    """The short name people use ("Bolivia", "South Korea") where ISO's is a long form."""
    return str(getattr(country, "common_name", None) or country.name)


COUNTRY_NAMES: dict[str, str] = {c.alpha_2: _name(c) for c in pycountry.countries}
