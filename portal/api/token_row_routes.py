"""TKT "auth/devices" routes: arrays of session rows with ``deviceInfo``."""

from __future__ import annotations

from . import token_rows  # noqa: F401
