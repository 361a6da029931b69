"""The OpenAPI 3.1 document of the JSON routes, served at /openapi.json.

Nothing about an operation is written in this package: ``document.build_spec`` walks the URL
map, takes every rule of an ``ApiBlueprint`` and builds its operation (``operations``) from what
the route declares (``declarations.documented``: summary, success and error answers, request
models, headers, links), its URL rule (the path parameters, typed by their converters:
``schemas``), its ``bearer`` rule (scope and permission), its blueprint (the error family) and
its ``errors.failure`` (the 500's message). Component schemas are the JSON Schema of the models
in ``shapes``: the ones the bodies are dumped from and the requests parsed with. What is written
in this package is what belongs to the document as a whole: its words for each error status
(``operations``), the examples of each shape (``examples``), the security schemes.

Tests check the document is valid, that every JSON route declares its operation, and that the
routes parse with the declared models; the test-suite's client validates every JSON answer it
receives against the document.
"""

from __future__ import annotations

from flask import jsonify, request

from ...authz import public
from ..blueprints import envelope
from ..declarations import undocumented
from .document import build_spec, json_routes

__all__ = ["build_spec", "json_routes"]  # what the tests and other callers use


@envelope.get("/openapi.json")
@undocumented("the document itself: public, it describes and reveals no data")
@public
def openapi_document():
    """The OpenAPI document (public: it describes, it reveals no data)."""
    return jsonify(build_spec(request.host_url.rstrip("/")))
