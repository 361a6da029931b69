"""The documented JSON routes, in two blueprints: each blueprint is one body family; and
Shared Signals stream management (``ssf_routes``), a third, which follows SSF 1.0 and is not in
the OpenAPI document.

A route's family (envelope or token rows) is declared once, by the blueprint it is on: its
errors, 500s included, answer in that family's shape (``errors``, ``shapes``), and the OpenAPI
document reads the family from there too. Each route declares its own 500 message with
``errors.failure``.
"""

from __future__ import annotations

from werkzeug.routing import BaseConverter

from ..extensions import csrf
from . import (  # noqa: F401  (their routes)
    admin_routes,
    audit_routes,
    envelope_routes,
    openapi,
    sign_in_routes,
    ssf_poll_routes,
    ssf_routes,
    token_row_routes,
)
from .blueprints import envelope, ssf, token_rows


class IdSegment(BaseConverter):
    """A path segment standing for an id: anything but the fixed words beside it.

    ``/devices/trust`` and ``/auth/devices/revoke-all`` are resources of their own, not the
    device (or session) with id ``trust``: so ``GET /devices/trust`` is a 405 that allows
    POST (and ``Allow`` lists only the methods a resource has), not a lookup of that id.
    """

    regex = r"(?!(?:trust|revoke-all)$)[^/]+"
    part_isolating = True
    # Every id of the JSON routes is a UUID; the route itself answers any other (404, or 400
    # on the token-row routes), so the type is documented here rather than enforced.
    openapi_schema = {"type": "string", "format": "uuid"}


def init_app(app) -> None:
    csrf.exempt(envelope)
    csrf.exempt(token_rows)
    csrf.exempt(ssf)
    # The JSON routes' <id> segments (their rules keep the plain <name> spelling) are IdSegment;
    # rules are compiled as they are added, so the pages' converters stay as they were.
    default = app.url_map.converters["default"]
    app.url_map.converters["default"] = IdSegment
    try:
        app.register_blueprint(envelope)
        app.register_blueprint(token_rows)
        app.register_blueprint(ssf)
    finally:
        app.url_map.converters["default"] = default
