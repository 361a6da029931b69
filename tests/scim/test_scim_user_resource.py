"""The User resource round-trips what /Schemas advertises (core and the enterprise extension),
SCIM users are unique by externalId and email, and errors follow RFC 7644 3.12."""

from __future__ import annotations

import uuid

import pytest
from support.account_helpers import audit_actions

from portal.extensions import db
from portal.models import User

TOKEN = "scim-test-token-0123456789abcdef0123456789"
SCIM = {"Authorization": f"Bearer {TOKEN}"}
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SCIM_TOKEN": TOKEN}


FULL = {
    "schemas": [USER_SCHEMA, ENTERPRISE],
    "userName": "ella@example.test",
    "externalId": "e-ella",
    "name": {"givenName": "Ella", "familyName": "Ek", "middleName": "M", "formatted": "Ella Ek"},
    "displayName": "Ella Ek",
    "nickName": "El",
    "profileUrl": "https://example.test/ella",
    "title": "Engineer",
    "userType": "Employee",
    "preferredLanguage": "sv-SE",
    "locale": "sv-SE",
    "timezone": "Europe/Stockholm",
    "active": True,
    "emails": [
        {"value": "ella@example.test", "type": "work", "primary": True, "display": "Ella"},
        {"value": "ella@home.example.test", "type": "home"},
    ],
    "phoneNumbers": [{"value": "+46 8 123", "type": "work"}],
    "ims": [{"value": "ella", "type": "xmpp"}],
    "photos": [{"value": "https://example.test/ella.png", "type": "photo"}],
    "addresses": [{"type": "work", "formatted": "1 Main St", "locality": "Umeå"}],
    "entitlements": [{"value": "vpn"}],
    "roles": [{"value": "dev"}],
    "x509Certificates": [{"value": "TUlJRQ=="}],
    ENTERPRISE: {
        "employeeNumber": "701984",
        "costCenter": "4130",
        "organization": "Example",
        "division": "R&D",
        "department": "Platform",
    },
}


def _post(client, body):
    response = client.post("/scim/v2/Users", json=body, headers=SCIM)
    assert response.status_code == 201, response.data
    return response.get_json()


def _get(client, scim_id, **query):
    response = client.get(f"/scim/v2/Users/{scim_id}", query_string=query, headers=SCIM)
    assert response.status_code == 200, response.data
    return response.get_json()


def _patch(client, scim_id, *operations):
    return client.patch(
        f"/scim/v2/Users/{scim_id}",
        json={"schemas": [PATCH_SCHEMA], "Operations": list(operations)},
        headers=SCIM,
    )


def _without_server_attributes(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


def test_every_attribute_is_returned_as_sent_and_the_password_never(app, client):
    created = _post(client, {**FULL, "password": "hunter2-never-kept"})
    assert _without_server_attributes(created) == FULL
    assert _without_server_attributes(_get(client, created["id"])) == FULL
    with app.app_context():
        user = db.session.get(User, uuid.UUID(created["id"]))
        assert "hunter2" not in str(user.scim_resource)
        assert user.email == "ella@example.test" and user.name == "Ella Ek"
    put = client.put(
        f"/scim/v2/Users/{created['id']}",
        json={**FULL, "title": "Lead", "password": "again"},
        headers=SCIM,
    )
    assert put.status_code == 200 and put.get_json()["title"] == "Lead"
    assert "password" not in put.get_json()


def test_attributes_and_excluded_attributes_choose_what_is_returned(client):
    created = _post(client, FULL)
    few = _get(
        client,
        created["id"],
        attributes="title,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    )
    assert few["title"] == "Engineer" and few[ENTERPRISE] == {"department": "Platform"}
    assert "emails" not in few and few["id"] == created["id"]
    rest = _get(client, created["id"], excludedAttributes="emails,addresses")
    assert "emails" not in rest and "addresses" not in rest and rest["nickName"] == "El"


def test_patch_with_value_filters_capitalised_ops_and_entras_manager(app, client):
    boss = _post(
        client,
        {"schemas": [USER_SCHEMA], "userName": "boss@example.test", "displayName": "Bo Boss"},
    )
    created = _post(client, FULL)
    answer = _patch(
        client,
        created["id"],
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "ella.ek@example.test"},
        {"op": "Replace", "path": 'addresses[type eq "work"].formatted', "value": "2 Side St"},
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": boss["id"]},
        {"op": "Add", "path": f"{ENTERPRISE}:department", "value": "Security"},
        {"op": "Remove", "path": "nickName"},
    )
    assert answer.status_code == 200, answer.data
    shown = _get(client, created["id"])
    assert shown["emails"][0] == {**FULL["emails"][0], "value": "ella.ek@example.test"}
    assert shown["addresses"][0]["formatted"] == "2 Side St"
    assert shown[ENTERPRISE]["manager"] == {"value": boss["id"], "displayName": "Bo Boss"}
    assert shown[ENTERPRISE]["department"] == "Security"
    assert "nickName" not in shown
    with app.app_context():
        assert db.session.get(User, uuid.UUID(created["id"])).email == "ella.ek@example.test"
    assert (
        _patch(client, created["id"], {"op": "Remove", "path": f"{ENTERPRISE}:manager"}).status_code
        == 200
    )
    assert "manager" not in _get(client, created["id"])[ENTERPRISE]


def test_patch_without_path_and_removals(client):
    created = _post(client, FULL)
    answer = _patch(
        client,
        created["id"],
        {"op": "add", "value": {"title": "CTO", f"{ENTERPRISE}:division": "Board"}},
    )
    assert answer.status_code == 200, answer.data
    shown = _get(client, created["id"])
    assert shown["title"] == "CTO" and shown[ENTERPRISE]["division"] == "Board"
    for path in ("emails", "name", "displayName", "active"):
        assert _patch(client, created["id"], {"op": "remove", "path": path}).status_code == 200
    shown = _get(client, created["id"])
    for path in ("emails", "name", "displayName", "active"):
        assert path not in shown, path


def test_a_failed_patch_of_three_operations_changes_nothing(app, client):
    created = _post(client, FULL)
    answer = _patch(
        client,
        created["id"],
        {"op": "replace", "path": "title", "value": "Changed"},
        {"op": "replace", "path": "active", "value": False},
        {"op": "replace", "path": "nickName", "value": 12},
    )
    assert answer.status_code == 400
    assert answer.get_json()["scimType"] == "invalidValue"
    assert answer.get_json()["detail"] == "nickName must be a string"
    shown = _get(client, created["id"])
    assert shown["title"] == "Engineer" and shown["active"] is True
    assert audit_actions(app, "deactivate_user") == []


def test_two_scim_users_never_share_an_external_id_or_an_email(client):
    first = _post(client, FULL)
    same_external = client.post(
        "/scim/v2/Users",
        json={"schemas": [USER_SCHEMA], "userName": "other@example.test", "externalId": "e-ella"},
        headers=SCIM,
    )
    assert same_external.status_code == 409 and same_external.get_json()["scimType"] == "uniqueness"
    assert "externalId" in same_external.get_json()["detail"]
    same_email = client.post(
        "/scim/v2/Users",
        json={
            "schemas": [USER_SCHEMA],
            "userName": "other2",
            "emails": [{"value": "ella@example.test", "primary": True}],
        },
        headers=SCIM,
    )
    assert same_email.status_code == 409 and same_email.get_json()["scimType"] == "uniqueness"
    other = _post(client, {"schemas": [USER_SCHEMA], "userName": "third@example.test"})
    taken = _patch(client, other["id"], {"op": "replace", "path": "externalId", "value": "e-ella"})
    assert taken.status_code == 409
    # Once the first is deleted over SCIM, its claims are free.
    assert client.delete(f"/scim/v2/Users/{first['id']}", headers=SCIM).status_code == 204
    assert (
        _patch(
            client, other["id"], {"op": "replace", "path": "externalId", "value": "e-ella"}
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("operation", "scim_type"),
    [
        ({"op": "explode", "path": "active"}, "invalidSyntax"),
        ({"op": "replace", "path": "nope", "value": 1}, "invalidPath"),
        ({"op": "replace", "path": 'emails[type eq "work"', "value": 1}, "invalidPath"),
        ({"op": "replace", "path": "id", "value": "x"}, "mutability"),
        ({"op": "replace", "path": "active", "value": "maybe"}, "invalidValue"),
    ],
)
def test_bad_patches_answer_with_the_rfc_keyword(client, operation, scim_type):
    created = _post(client, FULL)
    answer = _patch(client, created["id"], operation)
    assert answer.status_code == 400, answer.data
    body = answer.get_json()
    assert body["scimType"] == scim_type
    assert "Input should" not in body["detail"] and "pydantic" not in body["detail"]


def test_bad_bodies_are_invalid_syntax_or_invalid_value_in_words(client):
    def post(body):
        return client.post("/scim/v2/Users", json=body, headers=SCIM).get_json()

    assert (
        post({"schemas": [USER_SCHEMA], "userName": "x", "bogus": 1})["scimType"] == "invalidSyntax"
    )
    bad_email = post({"schemas": [USER_SCHEMA], "userName": "x", "emails": [{"value": "nope"}]})
    assert bad_email["scimType"] == "invalidValue"
    assert bad_email["detail"] == "emails[0].value is not an email address"
    no_ops = client.patch(
        f"/scim/v2/Users/{_post(client, FULL)['id']}",
        json={"schemas": [PATCH_SCHEMA]},
        headers=SCIM,
    )
    assert no_ops.status_code == 400 and no_ops.get_json()["scimType"] == "invalidSyntax"


def test_the_service_provider_config_tells_what_is_unsupported_and_means_it(client):
    config = client.get("/scim/v2/ServiceProviderConfig", headers=SCIM).get_json()
    assert config["sort"] == {"supported": False}
    assert config["etag"] == {"supported": False}
    assert config["changePassword"] == {"supported": False}
    assert config["bulk"]["supported"] is False
    assert config["filter"] == {"supported": True, "maxResults": 200}
    sorted_ = client.get("/scim/v2/Users", query_string={"sortBy": "userName"}, headers=SCIM)
    assert sorted_.status_code == 501 and sorted_.get_json()["status"] == "501"
    bulk = client.post(
        "/scim/v2/Bulk",
        json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": []},
        headers=SCIM,
    )
    assert bulk.status_code == 501


def test_answers_without_a_body_carry_no_content_type(client):
    created = _post(client, FULL)
    deleted = client.delete(f"/scim/v2/Users/{created['id']}", headers=SCIM)
    assert deleted.status_code == 204
    assert "Content-Type" not in deleted.headers and deleted.data == b""


def test_the_schemas_advertise_the_enterprise_extension_and_the_password_as_never_returned(client):
    types = client.get("/scim/v2/ResourceTypes/User", headers=SCIM).get_json()
    assert types["schemaExtensions"] == [{"schema": ENTERPRISE, "required": False}]
    user_schema = client.get(f"/scim/v2/Schemas/{USER_SCHEMA}", headers=SCIM).get_json()
    [password] = [a for a in user_schema["attributes"] if a["name"] == "password"]
    assert password["mutability"] == "writeOnly" and password["returned"] == "never"
    extension = client.get(f"/scim/v2/Schemas/{ENTERPRISE}", headers=SCIM).get_json()
    names = {a["name"] for a in extension["attributes"]}
    assert names == {
        "employeeNumber",
        "costCenter",
        "organization",
        "division",
        "department",
        "manager",
    }
