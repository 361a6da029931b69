"""Poll-based delivery's shapes (RFC 8936 section 2): the receiver's poll request, with its
acknowledgements and errors, and the answer carrying the SETs. Keys are the RFC's own
(camelCase)."""

from __future__ import annotations

from typing import Any, ClassVar

from flask import Response, current_app
from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr

from .base import RequestShape, Shape

# SETs handed out by one poll at most, whatever ``maxEvents`` asks (documented in docs/ssf.md).
POLL_MAX = 100
ACK_MAX = 1000


class SetError(RequestShape):
    """A SET the receiver could not take (RFC 8936 section 2.3, RFC 8935 section 2.3's codes)."""

    model_config = ConfigDict(extra="ignore")

    err: StrictStr = Field(max_length=100)
    description: StrictStr | None = Field(None, max_length=1000)


class PollRequest(RequestShape):
    """``POST /ssf/poll/<stream_id>``: how many SETs at most (0: acknowledge only), whether to
    answer at once or wait a bounded while for one, the ``jti`` of the SETs taken, and
    those refused. Members another version may add are ignored."""

    model_config = ConfigDict(extra="ignore")
    NOT_AN_OBJECT: ClassVar[str] = "The poll request must be a JSON object"

    max_events: StrictInt | None = Field(None, alias="maxEvents", ge=0)
    return_immediately: StrictBool = Field(False, alias="returnImmediately")
    ack: list[StrictStr] = Field(default_factory=list, max_length=ACK_MAX)
    set_errs: dict[str, SetError] = Field(default_factory=dict, alias="setErrs", max_length=ACK_MAX)

    @property
    def wanted(self) -> int:
        """SETs to hand out at most."""
        return POLL_MAX if self.max_events is None else min(self.max_events, POLL_MAX)

    def errors(self) -> dict[str, str]:
        """Each refused SET's error in words, by ``jti``."""
        return {
            jti: f"{said.err}: {said.description}" if said.description else said.err
            for jti, said in self.set_errs.items()
        }


class PollAnswer(Shape):
    """The SETs, by ``jti``, and whether more wait (RFC 8936 section 2.2)."""

    sets: dict[str, str]
    more_available: bool = Field(alias="moreAvailable")

    def answer(self, status: int = 200) -> Response:
        return current_app.response_class(
            self.model_dump_json(by_alias=True), status=status, mimetype="application/json"
        )

    def body(self) -> Any:
        return self.model_dump(mode="json", by_alias=True)
