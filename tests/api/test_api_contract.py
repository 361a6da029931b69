"""The contract check itself: the test client holds documented answers to /openapi.json.

Every other API test relies on it to catch a body that drifts from the document, so these prove
it checks (rather than skips) documented operations, refuses what the document does not allow,
and leaves alone only what the document does not list.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from support.api_contract import AnswerBreaksTheDocument, ContractClient, check_answer
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from portal.api.shapes.envelope import Device, DeviceList

WHEN = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)


def _answer(app, method: str, path: str, status: int, body=None):
    """An answer of ``status`` with ``body`` (JSON) to ``method path``, as a client receives it."""
    data = "" if body is None else json.dumps(body)
    response = app.response_class(data, status=status, mimetype="application/json")
    response.request = Request(EnvironBuilder(path=path, method=method).get_environ())
    return response


def _device() -> dict:
    return Device(
        id=uuid.uuid4(),
        device_name="Safari on iPhone",
        device_type="MOBILE",
        os="iOS 17.1",
        browser="Safari",
        ip_address="81.2.69.142",
        country="United Kingdom",
        city="London",
        is_trusted=True,
        trust_level="HIGH",
        last_seen=WHEN,
        created_at=WHEN,
        trust_expires_at=WHEN,
    ).body()


def test_the_app_fixture_clients_check_answers(app, client, auth):
    assert isinstance(client, ContractClient)
    assert isinstance(auth.new_client("alice"), ContractClient)


def test_documented_answers_pass(app):
    check_answer(app, _answer(app, "GET", "/devices", 200, {"success": True, "devices": []}))
    check_answer(app, _answer(app, "GET", "/devices", 200, DeviceList(devices=[]).body()))
    body = {"success": True, "devices": [_device()]}
    check_answer(app, _answer(app, "GET", "/devices", 200, body))
    check_answer(app, _answer(app, "DELETE", f"/auth/devices/{uuid.uuid4()}", 204))
    error = {"error": {"code": "not_found", "message": "User not found"}}
    check_answer(app, _answer(app, "GET", f"/v1/auth/devices/users/{uuid.uuid4()}", 404, error))


@pytest.mark.parametrize(
    "drift",
    [
        pytest.param(lambda d: d.pop("trustExpiresAt"), id="a documented key is missing"),
        pytest.param(lambda d: d.update(trustedUntil=d["lastSeen"]), id="an undocumented key"),
        pytest.param(lambda d: d.update(lastSeen="25/11/2026"), id="a time that is not ISO"),
        pytest.param(lambda d: d.update(deviceType="desktop"), id="a value outside the enum"),
        pytest.param(lambda d: d.update(deviceName=None), id="null where a string is due"),
    ],
)
def test_a_body_that_drifts_from_the_document_fails(app, drift):
    device = _device()
    drift(device)
    with pytest.raises(AnswerBreaksTheDocument):
        check_answer(
            app, _answer(app, "GET", "/devices", 200, {"success": True, "devices": [device]})
        )


def test_an_answer_in_the_other_familys_shape_or_an_undocumented_status_fails(app):
    envelope_error = {"success": False, "error": "Device not found"}
    with pytest.raises(AnswerBreaksTheDocument):
        check_answer(app, _answer(app, "GET", "/auth/devices", 401, envelope_error))
    with pytest.raises(AnswerBreaksTheDocument):
        check_answer(app, _answer(app, "GET", "/devices", 418, envelope_error))


def test_what_the_document_does_not_list_is_not_checked(app):
    check_answer(app, _answer(app, "GET", "/nowhere", 200, {"anything": True}))
    check_answer(app, _answer(app, "PUT", "/devices", 405, {"anything": True}))
