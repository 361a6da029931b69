"""A method a URL does not allow is a 405 that says which it does (``Allow``, RFC 9110 15.5.6),
on JSON routes in their family's shape and on pages alike."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient


@pytest.fixture
def client(app):
    """A plain client: the contract client would hold ``GET /devices/trust`` to the document's
    ``GET /devices/{id}``, whose id is a UUID and which has no 405 to give."""
    return FlaskClient(app)


def _allowed(response) -> set[str]:
    return {m.strip() for m in response.headers["Allow"].split(",")}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/devices", {"GET"}),
        ("PATCH", "/devices/00000000-0000-0000-0000-000000000000", {"GET", "DELETE"}),
        ("GET", "/sessions/revoke-all", {"POST"}),
        ("PUT", "/auth/devices", {"GET"}),
        ("GET", "/v1/auth/devices/revoke-all", {"POST"}),
        # A fixed word beside an id is its own resource, not an id: only its methods are allowed.
        ("GET", "/devices/trust", {"POST"}),
        ("DELETE", "/auth/devices/revoke-all", {"POST"}),
        ("DELETE", "/devices/users/00000000-0000-0000-0000-000000000000/revoke-all", {"POST"}),
    ],
)
def test_json_routes_answer_405_with_allow(client, method, path, allowed):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert allowed <= _allowed(response)
    assert method not in _allowed(response)
    assert response.is_json
    options = client.options(path)
    assert _allowed(options) == _allowed(response) | {"OPTIONS"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/livez", {"GET"}),
        ("DELETE", "/account/tokens", {"GET", "POST"}),
        ("GET", "/logout", {"POST"}),
        ("POST", "/openapi.json", {"GET"}),
    ],
)
def test_pages_answer_405_with_allow(client, method, path, allowed):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert allowed <= _allowed(response)
    assert method not in _allowed(response)
