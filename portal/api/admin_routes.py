"""TKT admin routes: another user's sessions (``/devices/users/...``)."""

from __future__ import annotations

from . import token_rows  # noqa: F401
