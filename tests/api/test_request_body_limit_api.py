"""Request bodies over PORTAL_MAX_BODY_BYTES (64 KiB by default) answer 413 before any view runs.

Each route answers in its documented shape: envelope JSON, token-row JSON, or a friendly page.
The check does not depend on the view reading the body: ``POST /auth/devices/revoke-all`` never
reads it, and a 2 MB body there used to be accepted.
"""

from __future__ import annotations

import io
import json

import pytest
import requests
from support.account_helpers import audit_actions, current_session_of, device, page_csrf
from support.admin_helpers import user_id_of
from support.agents import IPHONE

from portal import create_app
from portal.config import ConfigError

LIMIT = 64 * 1024
TWO_MB = b"x" * (2 * 1024 * 1024)
TOO_LARGE = f"The request body is larger than {LIMIT} bytes."


@pytest.fixture
def phone(app, auth):
    """Alice's phone, signed in: (browser, device id)."""
    browser = auth.new_client("alice", user_agent=IPHONE)
    return browser, current_session_of(browser, app).device_id


def _signed_in(browser) -> bool:
    return b'id="devices"' in browser.get("/").data


def _chunked(client, path: str, body: bytes, headers: dict):
    """POST ``body`` as a server hands on a chunked request: no Content-Length, a terminated
    input stream (what the development server and gunicorn set for ``Transfer-Encoding``)."""
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        headers={**headers, "Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def _trust_body(app, device_id, size: int) -> bytes:
    """A valid ``POST /devices/trust`` body for the device, padded to exactly ``size`` bytes."""
    body = {"fingerprint": device(app, device_id).fingerprint, "pad": ""}
    body["pad"] = "x" * (size - len(json.dumps(body)))
    encoded = json.dumps(body).encode()
    assert len(encoded) == size
    return encoded


# -- The setting ------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("PORTAL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PORTAL_ENV", "development")
    return monkeypatch


def test_the_limit_is_64_kib_unless_portal_max_body_bytes_says_otherwise(clean_env):
    assert create_app().config["MAX_BODY_BYTES"] == LIMIT
    clean_env.setenv("PORTAL_MAX_BODY_BYTES", "1024")
    app = create_app()
    assert app.config["MAX_BODY_BYTES"] == 1024
    assert app.config["MAX_CONTENT_LENGTH"] == 1024  # Flask's own limit agrees


@pytest.mark.parametrize("value", ["lots", "0", "-1", "true", "[]"])
def test_a_malformed_portal_max_body_bytes_stops_start_up(clean_env, value):
    clean_env.setenv("PORTAL_MAX_BODY_BYTES", value)
    with pytest.raises(ConfigError, match="PORTAL_MAX_BODY_BYTES"):
        create_app()


# -- Token-row routes -------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/auth/devices/revoke-all", "/v1/auth/devices/revoke-all"])
def test_a_2_mb_body_to_token_row_revoke_all_is_413_and_ends_nothing(
    app, client, auth, phone, path
):
    response = client.post(path, data=TWO_MB, headers=auth.bearer("alice"))
    assert response.status_code == 413
    assert response.get_json() == {"error": {"code": "payload_too_large", "message": TOO_LARGE}}
    assert _signed_in(phone[0])
    assert audit_actions(app, "revoke_all_sessions") == []


def test_a_2_mb_body_to_an_admin_route_is_a_token_row_413(app, client, auth, phone):
    url = f"/devices/users/{user_id_of(app, 'alice')}/revoke-all"
    response = client.post(url, data=TWO_MB, headers=auth.bearer("manager"))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert _signed_in(phone[0])


def test_the_body_is_refused_before_the_token_is_looked_at(client):
    response = client.post("/auth/devices/revoke-all", data=TWO_MB)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


def test_a_2_mb_body_to_an_unknown_v1_path_is_a_token_row_413(client):
    response = client.post("/v1/auth/devices/no/such/route", data=TWO_MB)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"


# -- Envelope routes --------------------------------------------------------------------------


def test_a_2_mb_body_to_an_envelope_route_is_413_in_the_envelope_shape(app, client, auth, phone):
    response = client.post("/sessions/revoke-all", data=TWO_MB, headers=auth.bearer("alice"))
    assert response.status_code == 413
    assert response.get_json() == {"success": False, "error": TOO_LARGE}
    assert _signed_in(phone[0])
    assert audit_actions(app, "revoke_all_sessions") == []


def test_a_2_mb_json_body_to_trust_is_413_not_400(app, client, auth, phone):
    body = _trust_body(app, phone[1], len(TWO_MB))
    response = client.post(
        "/devices/trust", data=body, content_type="application/json", headers=auth.bearer()
    )
    assert response.status_code == 413
    assert response.get_json() == {"success": False, "error": TOO_LARGE}
    assert not device(app, phone[1]).is_trusted


def test_a_body_of_exactly_the_limit_is_accepted(app, client, auth, phone):
    body = _trust_body(app, phone[1], LIMIT)
    response = client.post(
        "/devices/trust", data=body, content_type="application/json", headers=auth.bearer()
    )
    assert response.status_code == 200, response.data[:300]
    assert device(app, phone[1]).is_trusted


# -- Chunked bodies (no Content-Length) -------------------------------------------------------


def test_a_chunked_body_over_the_limit_is_413_even_where_the_view_never_reads_it(
    app, client, auth, phone
):
    response = _chunked(client, "/auth/devices/revoke-all", TWO_MB, auth.bearer("alice"))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert _signed_in(phone[0])


def test_a_chunked_body_within_the_limit_still_reaches_the_view(app, client, auth, phone):
    body = _trust_body(app, phone[1], LIMIT)
    response = _chunked(client, "/devices/trust", body, auth.bearer("alice"))
    assert response.status_code == 200, response.data[:300]
    assert device(app, phone[1]).is_trusted


def test_a_chunked_body_over_real_http(app, auth, phone, live_server):
    """Through a real server, which de-chunks the body and marks the stream terminated."""

    def chunks(body: bytes, size: int = 8192):
        for start in range(0, len(body), size):
            yield body[start : start + size]

    headers = {**auth.bearer("alice"), "Content-Type": "application/json"}
    url = live_server.url
    refused = requests.post(url + "/auth/devices/revoke-all", data=chunks(TWO_MB), headers=headers)
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "payload_too_large"
    assert _signed_in(phone[0])

    body = _trust_body(app, phone[1], LIMIT)
    accepted = requests.post(url + "/devices/trust", data=chunks(body), headers=headers)
    assert accepted.status_code == 200, accepted.text[:300]


# -- Pages ------------------------------------------------------------------------------------


def test_a_2_mb_form_to_a_page_is_a_friendly_413_page(app, auth, phone):
    browser, _ = phone
    form = {"csrf_token": page_csrf(browser), "pad": TWO_MB.decode()}
    response = browser.post("/account/sign-out-everywhere", data=form)
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert b"Something went wrong" in response.data and b"Error 413" in response.data
    assert b"Traceback" not in response.data
    assert _signed_in(browser)
