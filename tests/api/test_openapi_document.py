"""/openapi.json as a client (or a fuzzer) reads it: where to call, with which tokens, what each
answer looks like (an example for every one, each valid against its own schema), and which
operation can act on an id a list answered."""

from __future__ import annotations

import json
import re

import pytest
from support.api_contract import check_answer
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

METHODS = ("get", "post", "delete", "put", "patch")


def _operations(spec) -> list[tuple[str, str, dict]]:
    """Every operation of the document, known ones among them (so no loop runs empty)."""
    found = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    assert {("/devices", "get"), ("/devices/{id}", "delete"), ("/auth/devices", "get")} <= {
        (path, method) for path, method, _ in found
    }
    return found


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


def test_servers_name_the_origin_the_document_was_asked_from(client):
    assert client.get("/openapi.json").get_json()["servers"] == [{"url": "http://localhost"}]
    asked = client.get("/openapi.json", base_url="https://portal.example.test:8443")
    assert asked.get_json()["servers"] == [{"url": "https://portal.example.test:8443"}]


def test_every_operation_takes_an_idp_token_or_a_personal_token(spec):
    schemes = spec["components"]["securitySchemes"]
    assert set(schemes) == {"bearer", "personalToken"}
    ids = set()
    for path, method, operation in _operations(spec):
        assert {next(iter(s)) for s in operation["security"]} == set(schemes), (path, method)
        assert operation["operationId"] not in ids
        ids.add(operation["operationId"])


def test_every_answer_with_a_body_has_an_example_that_its_schema_accepts(app, spec):
    checked = 0
    for path, method, operation in _operations(spec):
        concrete = re.sub(r"\{[^}]+\}", "5f0c6d1e-8a4b-4c3e-9d2a-1b7e6f5a4c3d", path)
        assert operation["responses"], (path, method)
        for status, response in operation["responses"].items():
            if "content" not in response:
                assert status in ("204", "304"), (path, method, status)
                continue
            checked += 1
            example = response["content"]["application/json"].get("example")
            assert example is not None, (path, method, status)
            answer = app.response_class(
                json.dumps(example), status=int(status), mimetype="application/json"
            )
            answer.request = Request(
                EnvironBuilder(path=concrete, method=method.upper()).get_environ()
            )
            check_answer(app, answer)
    assert checked > len(spec["paths"])  # a success and an error, at least, for most paths


def test_the_polled_lists_document_their_etag_if_none_match_and_304(spec):
    polled = {
        ("/devices", "get"),
        ("/sessions", "get"),
        ("/devices/users/{userId}", "get"),
        ("/v1/auth/devices/users/{userId}", "get"),
    }
    for path, method, operation in _operations(spec):
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        documented = "304" in operation["responses"]
        assert documented == ((path, method) in polled), (path, method)
        assert ("If-None-Match" in names) == documented, (path, method)
        if documented:
            for status in ("200", "304"):
                headers = operation["responses"][status]["headers"]
                assert {"ETag", "Cache-Control"} <= set(headers), (path, status)


def test_lists_link_to_the_operations_that_act_on_their_ids(spec):
    ids = {operation["operationId"] for _, _, operation in _operations(spec)}
    links = {
        (path, name): link
        for path, method, operation in _operations(spec)
        for name, link in operation["responses"].get("200", {}).get("links", {}).items()
    }
    assert ("/devices", "GetDevice") in links
    assert ("/devices", "RemoveDevice") in links
    assert ("/sessions", "RevokeSession") in links
    assert ("/auth/devices", "RevokeMyDevice") in links
    assert ("/devices/users/{userId}", "RevokeUserDevice") in links
    for link in links.values():
        assert link["operationId"] in ids


def test_device_detail_is_one_schema_that_takes_the_real_answer(spec, client, auth):
    detail = spec["components"]["schemas"]["DeviceDetail"]
    assert "allOf" not in detail and detail["additionalProperties"] is False
    assert {"userAgent", "deviceFingerprint", "sessions", "deviceName"} <= set(detail["properties"])
    headers = auth.bearer("alice")
    device = client.get("/devices", headers=headers).get_json()["devices"][0]
    # The contract client validates the real body against the document.
    assert client.get(f"/devices/{device['id']}", headers=headers).status_code == 200


def test_the_docs_page_loads_the_vendored_viewer_and_is_in_the_navigation(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="nav-api-docs"' in html
    for asset in ("/static/vendor/swagger-ui/swagger-ui-bundle.js", "/static/js/api-docs.js"):
        assert asset in html
        assert client.get(asset).status_code == 200
    assert "http" not in html.split("swagger-ui")[1].split(">")[0]  # no CDN
    licence = client.get("/static/vendor/swagger-ui/LICENSE")
    assert licence.status_code == 200 and b"Apache License" in licence.data
