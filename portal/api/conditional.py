"""Polled lists answered ``304 Not Modified``: their ETags, and ``If-None-Match``.

``GET /devices``, ``GET /sessions`` and ``GET /devices/users/{userId}`` are polled by scripts
and clients. Each answer carries an ETag made of what decides its body: the route, the user
whose list it is, the version of that user's device set and the list's horizon (the next
moment the list changes by itself; ``services.devices.versions``), and for ``GET /devices`` the
caller's device (listed first). Never a hash of the body: a poll whose tag still matches is
answered after the caller's checks with one small read, before the list is read at all.

The tags are weak (``W/"..."``): they stand for the list's content, not for its bytes, which
a deploy that changes a shape's spelling or a compressing proxy may change while the tag
stays; ``If-None-Match`` compares weakly anyway (RFC 9110, 13.1.2), and nothing here answers
``If-Match`` or ranges, where only strong tags count. ``If-None-Match: *`` matches (a list is
always there), and so does any tag of a list of them. ``Cache-Control: private, no-cache``
lets the caller keep the answer but not use it without asking again.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import wraps
from typing import TypedDict

from flask import Response, current_app, request

from ..models import utcnow
from ..services.devices import versions
from .auth import POLLED_LIST_ATTR
from .declarations import Answer, Header
from .shapes.envelope import DeviceList, SessionList

# Part of every tag: change it when a polled body's shape changes, so old tags stop matching.
FORMAT = "1"
CACHE_CONTROL = "private, no-cache"
_UNREAD = object()

_TAG_EXAMPLE = 'W/"Vq3xB1m0cS4v2h8QJt7kYw"'
_VALIDATORS = {
    "ETag": Header(
        "A weak tag of the list's state: the version of the user's device set (moved by every "
        "change the list shows), the next expiry in it, and who asks. Send it back in "
        "If-None-Match.",
        example=_TAG_EXAMPLE,
    ),
    "Cache-Control": Header("`private, no-cache`: keep the list, but ask again before using it."),
}


class PollDocs(TypedDict):
    """What a polled list's ``@documented`` adds: ``@documented(..., **POLL)``."""

    headers: Mapping[str, Header]
    request_headers: Mapping[str, Header]
    answers: Mapping[int, Answer]


POLL: PollDocs = {
    "headers": _VALIDATORS,
    "request_headers": {
        "If-None-Match": Header(
            "ETags of lists the caller holds (or `*`): when one names the list as it is now, the "
            "answer is 304 with no body. Compared weakly (RFC 9110).",
            example=_TAG_EXAMPLE,
        )
    },
    "answers": {
        304: Answer(
            "Not modified: the list is as the If-None-Match tag says (no body)",
            headers=_VALIDATORS,
        )
    },
}


def _horizon_of(body) -> datetime | None:
    """The earliest moment a body, as it was built, stops being true by itself: the first of
    its sessions to expire, or of its devices' trusts to run out (shown only while it holds)."""
    if isinstance(body, DeviceList):
        times = [d.trust_expires_at for d in body.devices]
    elif isinstance(body, SessionList):
        times = [s.expires_at for s in body.sessions]
    else:  # TokenRowList
        times = [r.expires_at for r in body.root]
    return min((t for t in times if t is not None), default=None)


class Poll:
    """One request for a polled list: its tag, the caller's ``If-None-Match``, the answer."""

    def __init__(
        self,
        kind: versions.Kind,
        user_id: uuid.UUID,
        version: int,
        *,
        caller: uuid.UUID | None = None,
        horizon=_UNREAD,
        now: datetime | None = None,
    ):
        self.kind = kind
        self.user_id = user_id
        self.version = version
        self.caller = caller
        self.horizon = horizon
        self.now = now or utcnow()

    @classmethod
    def of_caller(cls, kind: versions.Kind, principal, *, per_device: bool = False) -> Poll:
        """The caller's own list; its version came with the caller's row when it could."""
        caller = principal.device_id if per_device else None
        if principal.device_set_version is not None:
            known = principal.list_horizon
            horizon = known[1] if known is not None and known[0] == kind else _UNREAD
            return cls(
                kind,
                principal.user_id,
                principal.device_set_version,
                caller=caller,
                horizon=horizon,
            )
        now = utcnow()
        found = versions.state(kind, principal.user_id, now)
        if found is None:
            raise LookupError("the caller's user is gone")
        version, horizon = found
        return cls(kind, principal.user_id, version, caller=caller, horizon=horizon, now=now)

    @classmethod
    def of_user(cls, kind: versions.Kind, user_id: uuid.UUID) -> Poll | None:
        """Another user's list, in one read; None when there is no such user."""
        now = utcnow()
        found = versions.state(kind, user_id, now)
        if found is None:
            return None
        return cls(kind, user_id, found[0], horizon=found[1], now=now)

    def tag(self, horizon: datetime | None) -> str:
        parts = (
            FORMAT,
            request.endpoint or "",
            str(self.user_id),
            str(self.caller or ""),
            str(self.version),
            horizon.isoformat() if horizon is not None else "",
        )
        digest = hashlib.sha256("|".join(parts).encode()).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def unchanged(self) -> bool:
        """Whether the caller's ``If-None-Match`` names the list as it is now."""
        asked = request.if_none_match
        if not asked:
            return False
        if self.horizon is _UNREAD:
            self.horizon = versions.horizon(self.kind, self.user_id, self.now)
        return asked.contains_weak(self.tag(self.horizon))

    def _headers(self, response: Response, horizon: datetime | None) -> Response:
        response.set_etag(self.tag(horizon), weak=True)
        response.headers["Cache-Control"] = CACHE_CONTROL
        response.vary.add("Authorization")
        return response

    def not_modified(self) -> Response:
        """304: no body, the tag and the caching rule only."""
        return self._headers(current_app.response_class(status=304), self.horizon)

    def answer(self, body) -> Response:
        """The list, tagged as it was read (its version was read before it)."""
        return self._headers(body.answer(), _horizon_of(body))


def polled(kind: versions.Kind, *, per_device: bool = False) -> Callable:
    """A route listing the caller's own devices or sessions: 304 when ``If-None-Match`` names
    the list as it is, else the shape the view returns, tagged. Goes below the access rule,
    so an unknown or revoked token is still a 401, a missing scope a 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(principal, *args, **kwargs):
            poll = Poll.of_caller(kind, principal, per_device=per_device)
            if poll.unchanged():
                return poll.not_modified()
            return poll.answer(view(principal, *args, **kwargs))

        setattr(wrapped, POLLED_LIST_ATTR, kind)  # ``bearer`` reads the horizon with the caller
        return wrapped

    return decorator
