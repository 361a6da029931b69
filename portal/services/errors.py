"""Domain errors: what an operation or a read says when it cannot do what was asked.

An operation raises one of four kinds, with a message a person reads; it never knows who
asked or how. One mapping per answer family turns the kind into an answer: the pages
(``portal.errors``: a 404/403/409/400 page, or a flash and a redirect back for a form that
declared where back is), each JSON family's documented error body (``portal.api``), and
SCIM's error shape (``portal.scim``). The request rolls back whatever the operation had
changed before it raised (``Portal.dispatch_request``), so no view rolls back.
"""

from __future__ import annotations


class DomainError(Exception):
    """Something the caller asked for cannot be done; ``message`` says why, in words.

    ``code`` is the machine-readable word the token-row JSON family puts beside the message
    (``invalid_filter``...); without one the family's word for the status is used.
    """

    status = 400
    default_message = "The request cannot be done"
    default_code: str | None = None

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        super().__init__(self.message)


class NotFound(DomainError):
    """No such thing among those the caller may see: another user's is not found either, so
    an answer never tells whether it exists."""

    status = 404
    default_message = "Not found"


class Forbidden(DomainError):
    """The caller is who they say, and may not do this."""

    status = 403
    default_message = "You may not do this"


class Conflict(DomainError):
    """The request is well formed, but the state of things refuses it (a name already taken,
    the device the caller is holding)."""

    status = 409
    default_message = "This conflicts with the current state"


class Invalid(DomainError, ValueError):
    """A value the caller gave is not acceptable; ``field`` names it when one field is wrong."""

    status = 400
    default_message = "The request is not valid"

    def __init__(
        self, message: str | None = None, *, field: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.field = field


class TooManyRequests(DomainError):
    """Asked again too soon (a stream's verification within its ``min_verification_interval``)."""

    status = 429
    default_message = "Too many requests; try again later"
