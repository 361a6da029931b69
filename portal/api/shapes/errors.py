"""Each family's error body: envelope routes answer ``EnvelopeError``, token-row routes (the
audit events and sign-ins among them) ``TokenRowError``, Shared Signals stream management
``SsfError``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Shape


class EnvelopeError(Shape):
    """An envelope route's error."""

    success: Literal[False] = False
    error: str


class TokenRowErrorDetail(Shape):
    """What went wrong: a machine-readable code and a sentence."""

    code: str = Field(examples=["not_found"])
    message: str


class TokenRowError(Shape):
    """A token-row route's error."""

    error: TokenRowErrorDetail


class SsfError(Shape):
    """A Shared Signals stream management error: an OAuth-style code (RFC 6750 section 3.1's
    for the token) and a sentence."""

    error: str = Field(examples=["invalid_request"])
    error_description: str
