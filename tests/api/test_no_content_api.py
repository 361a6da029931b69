"""Every 204 answer ends with its headers: no body, no Content-Type, no Content-Length.

The routes come from the OpenAPI document (every operation it lists with a 204), and each is
called for real, so a new 204 route is checked too.
"""

from __future__ import annotations

import pytest
import requests
from support.account_helpers import current_session_of
from support.admin_helpers import active_session_ids, user_id_of
from support.agents import IPHONE

NO_CONTENT_OPERATIONS = [
    ("DELETE", "/auth/devices/{id}"),
    ("POST", "/auth/devices/revoke-all"),
    ("DELETE", "/devices/users/{userId}/{deviceId}"),
    ("POST", "/devices/users/{userId}/revoke-all"),
    ("DELETE", "/v1/auth/devices/{id}"),
    ("POST", "/v1/auth/devices/revoke-all"),
    ("DELETE", "/v1/auth/devices/users/{userId}/{deviceId}"),
    ("POST", "/v1/auth/devices/users/{userId}/revoke-all"),
]


def _url(app, auth, template: str) -> tuple[str, dict]:
    """The operation's URL for a real target (Alice's phone, or Bob's as an admin) and headers."""
    if "{userId}" in template:
        auth.new_client("bob", user_agent=IPHONE)
        [session_id] = active_session_ids(app, "bob")
        url = template.format(userId=user_id_of(app, "bob"), deviceId=session_id)
        return url, auth.bearer("manager")
    phone = auth.new_client("alice", user_agent=IPHONE)
    return template.format(id=current_session_of(phone, app).id), auth.bearer("alice")


def _assert_no_content(status: int, headers, body: bytes) -> None:
    assert status == 204, body[:300]
    assert body == b""
    assert "Content-Type" not in headers, headers
    assert "Content-Length" not in headers, headers


def test_the_list_covers_every_204_the_api_document_names(client):
    spec = client.get("/openapi.json").get_json()
    documented = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters" and "204" in operation["responses"]
    }
    assert documented == set(NO_CONTENT_OPERATIONS)


@pytest.mark.parametrize(("method", "template"), NO_CONTENT_OPERATIONS)
def test_a_204_answer_has_no_body_and_no_content_type(app, client, auth, method, template):
    url, headers = _url(app, auth, template)
    response = client.open(url, method=method, headers=headers)
    _assert_no_content(response.status_code, response.headers, response.data)


def test_a_204_over_real_http_has_no_body_and_no_content_type(app, auth, live_server):
    url, headers = _url(app, auth, "/auth/devices/{id}")
    response = requests.delete(live_server.url + url, headers=headers, timeout=10)
    _assert_no_content(response.status_code, response.headers, response.content)
