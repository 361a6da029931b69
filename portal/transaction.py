"""What the rest of the app tells the request's one transaction, and the one rollback after an
error.

The request's transaction ends once, in ``Portal.dispatch_request`` (``portal/__init__.py``).
A view that refuses yet must keep what it wrote says so here (``keep_refusal``), and every
family's error handlers (pages, the JSON API, SCIM) end a failed transaction with the one
``rollback_after_error``. It imports only Flask and the extensions, so the app package, auth
and the error handlers all import it downward.
"""

from __future__ import annotations

import logging

from flask import g

from .extensions import db

log = logging.getLogger(__name__)

_KEEP_REFUSAL = "_portal_keep_refusal"


def keep_refusal() -> None:
    """This request answers with an error, and what it wrote is the record of that refusal
    (a deactivated account's sign-in attempt): commit it all the same."""
    g.setdefault(_KEEP_REFUSAL, True)


def refusal_kept() -> bool:
    """Whether this request declared its refusal kept (``keep_refusal``); asked once, by the
    request's end, which takes the mark away."""
    return g.pop(_KEEP_REFUSAL, False)


def rollback_after_error() -> None:
    """End the failed transaction before an error is answered.

    A view's error was rolled back before it reached a handler (``Portal.dispatch_request``);
    one raised by a hook before the view (the bearer check, a page's loader) is rolled back
    here. With the database gone this may fail too, and must not turn the answer into a bare
    server error.
    """
    try:
        db.session.rollback()
    except Exception as exc:
        log.warning("rollback after an error failed too: %r", exc)
