"""Every answer of a documented JSON operation a test receives is checked against /openapi.json.

``ContractClient`` is the test client of every app the ``app`` fixture makes: after each request
to a path and method the document lists, it validates the answer (status, content type, body)
with openapi-core, and the test fails with the document's own complaint when they disagree. So
the document cannot drift from what the routes send. Requests the document does not list (pages,
unknown URLs, methods a URL does not allow) are not checked.

The document is taken from the app's own ``/openapi.json`` view (called directly, so no rate
limit, hook or database query counts it) once per app, and parsed once per distinct document.
"""

from __future__ import annotations

import json
import weakref

from flask.testing import FlaskClient
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import PathError

_BY_APP: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BY_DOCUMENT: dict[str, OpenAPI] = {}


class _AnsweredRequest(WerkzeugOpenAPIRequest):
    """The request an answer was for; its body was read by the app and is not needed here."""

    @property
    def body(self) -> bytes | None:
        return None


class AnswerBreaksTheDocument(AssertionError):
    """A documented operation answered something /openapi.json does not allow."""


def api_document(app) -> OpenAPI:
    """The app's /openapi.json, parsed for validation (cached)."""
    if app not in _BY_APP:
        endpoint, _ = app.url_map.bind("localhost").match("/openapi.json")
        with app.test_request_context("/openapi.json"):
            document = app.view_functions[endpoint]().get_json()
        # Bodies are what is checked: match the request's path whatever server the app names.
        document["servers"] = [{"url": "/"}]
        text = json.dumps(document, sort_keys=True)
        if text not in _BY_DOCUMENT:
            _BY_DOCUMENT[text] = OpenAPI.from_dict(document)
        _BY_APP[app] = _BY_DOCUMENT[text]
    return _BY_APP[app]


def check_answer(app, response) -> None:
    """Raise AnswerBreaksTheDocument when a documented operation's answer breaks the document."""
    request = response.request
    if request is None or request.method in ("HEAD", "OPTIONS"):
        return
    spec = api_document(app)
    openapi_request = _AnsweredRequest(request)
    try:
        spec.validate_response(openapi_request, WerkzeugOpenAPIResponse(response))
    except PathError:
        return  # not a documented path and method: nothing to hold it to
    except Exception as error:
        body = response.get_data(as_text=True)[:500]
        raise AnswerBreaksTheDocument(
            f"{request.method} {request.path} answered {response.status_code} {body!r}, "
            f"which /openapi.json does not allow: {_reason(error)}"
        ) from error


def _reason(error: Exception) -> str:
    details = [str(error)]
    for cause in getattr(error, "schema_errors", None) or []:
        details.append(str(getattr(cause, "message", cause)))
    return "; ".join(details)


class ContractClient(FlaskClient):
    """A test client that holds every documented JSON answer to /openapi.json."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        check_answer(self.application, response)
        return response
