"""The requests Microsoft Entra ID and Okta send a SCIM service, in the order they send them,
with the bodies their published documentation gives (only ids and names changed):

- Entra: "Tutorial: Develop and plan provisioning for a SCIM endpoint in Microsoft Entra ID",
  section "Request and response examples" (User operations: Create User, Get User, Get User by
  query, Update User [Multi-valued properties], Update User [Single-valued properties], Disable
  User, Delete User; Group operations: Create Group, Get Group by displayName, Update Group
  [Non-member attributes], Update Group [Add Members], Update Group [Remove Members], Delete
  Group), https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups,
  with the enterprise extension of the default attribute mappings
  (https://learn.microsoft.com/en-us/entra/identity/app-provisioning/customize-application-attributes)
  and the manager as Entra patches it, a bare id.
- Okta: "SCIM 2.0 protocol reference" and its test flow (the userName probe with
  ``startIndex=1&count=100``, create, get by id, replace the profile with PUT, deactivate with a
  value object; Push Groups: create, find by displayName, rename, add and remove members,
  delete), https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20.

Each sequence runs against the real app and database, one request after another as the IdP
would; a step's answer feeds the next, as the IdP reads ids from what the service returned.
"""

from __future__ import annotations

import uuid

import pytest
from support.account_helpers import user_id

from portal.extensions import db
from portal.models import User

TOKEN = "scim-test-token-0123456789abcdef0123456789"
SCIM = {"Authorization": f"Bearer {TOKEN}"}
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SCIM_TOKEN": TOKEN}


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    if status == 204:
        assert response.get_data() == b""
        return {}
    assert response.mimetype == "application/scim+json"
    return response.get_json()


def _patch(*operations: dict) -> dict:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def _row(app, scim_id: str) -> User:
    with app.app_context():
        user = db.session.get(User, uuid.UUID(scim_id))
        assert user is not None
        db.session.expunge(user)
        return user


def test_entra_provisioning_cycle_with_the_default_mappings(app, client):
    user_name = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.example"
    # The probe before a create: is the user there already?
    probe = _ok(
        client.get(
            "/scim/v2/Users", query_string={"filter": f'userName eq "{user_name}"'}, headers=SCIM
        )
    )
    assert probe["schemas"] == [LIST_SCHEMA] and probe["totalResults"] == 0

    # A manager first (Entra provisions the manager as a user of its own).
    manager = _ok(
        client.post(
            "/scim/v2/Users",
            json={
                "schemas": [USER_SCHEMA, ENTERPRISE],
                "externalId": "0b5c5d80-1c31-4c56-a3c2-1a0e5a1f0c11",
                "userName": "Manager_1@contoso.example",
                "active": True,
                "emails": [{"primary": True, "type": "work", "value": "Manager_1@contoso.example"}],
                "meta": {"resourceType": "User"},
                "name": {"formatted": "Mona Manager", "familyName": "Manager", "givenName": "Mona"},
                "roles": [],
            },
            headers=SCIM,
        ),
        201,
    )

    created = _ok(
        client.post(
            "/scim/v2/Users",
            json={
                "schemas": [USER_SCHEMA, ENTERPRISE],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": user_name,
                "active": True,
                "emails": [{"primary": True, "type": "work", "value": user_name}],
                "meta": {"resourceType": "User"},
                "name": {
                    "formatted": "givenName familyName",
                    "familyName": "familyName",
                    "givenName": "givenName",
                },
                "roles": [],
                "title": "Engineer",
                ENTERPRISE: {"employeeNumber": "100009", "department": "Human Resources US"},
            },
            headers=SCIM,
        ),
        201,
    )
    scim_id = created["id"]
    assert created["userName"] == user_name and created["active"] is True
    assert created[ENTERPRISE]["employeeNumber"] == "100009"
    assert created[ENTERPRISE]["department"] == "Human Resources US"
    assert created["name"]["givenName"] == "givenName"
    assert "password" not in created

    got = _ok(client.get(f"/scim/v2/Users/{scim_id}", headers=SCIM))
    assert got["id"] == scim_id and got["title"] == "Engineer"
    found = _ok(
        client.get(
            "/scim/v2/Users", query_string={"filter": f'userName eq "{user_name}"'}, headers=SCIM
        )
    )
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == scim_id

    # Update User [Multi-valued properties]: the work email and the family name.
    patched = _ok(
        client.patch(
            f"/scim/v2/Users/{scim_id}",
            json=_patch(
                {
                    "op": "Replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "updatedEmail@contoso.example",
                },
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            ),
            headers=SCIM,
        )
    )
    assert [e["value"] for e in patched["emails"]] == ["updatedEmail@contoso.example"]
    assert patched["name"]["familyName"] == "updatedFamilyName"
    assert _row(app, scim_id).email == "updatedemail@contoso.example"  # kept lower-cased to match

    # The manager, as Entra patches it: the manager's id as a bare string, with Entra's "Add".
    with_manager = _ok(
        client.patch(
            f"/scim/v2/Users/{scim_id}",
            json=_patch({"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager["id"]}),
            headers=SCIM,
        )
    )
    assert with_manager[ENTERPRISE]["manager"]["value"] == manager["id"]
    assert with_manager[ENTERPRISE]["employeeNumber"] == "100009"  # the rest of it stays

    # Update User [Single-valued properties]: a new userName.
    renamed = _ok(
        client.patch(
            f"/scim/v2/Users/{scim_id}",
            json=_patch({"op": "Replace", "path": "userName", "value": "5b50642d@contoso.example"}),
            headers=SCIM,
        )
    )
    assert renamed["userName"] == "5b50642d@contoso.example"

    # Disable User: Entra sends the boolean as the string "False" by default.
    disabled = _ok(
        client.patch(
            f"/scim/v2/Users/{scim_id}",
            json=_patch({"op": "Replace", "path": "active", "value": "False"}),
            headers=SCIM,
        )
    )
    assert disabled["active"] is False
    assert _row(app, scim_id).deactivated_at is not None

    _ok(client.delete(f"/scim/v2/Users/{scim_id}", headers=SCIM), 204)
    assert client.get(f"/scim/v2/Users/{scim_id}", headers=SCIM).status_code == 404


def test_entra_group_cycle_grants_and_takes_back_a_permission(app, client, auth):
    member = _ok(
        client.post(
            "/scim/v2/Users",
            json={
                "schemas": [USER_SCHEMA, ENTERPRISE],
                "externalId": "bob",  # the test IdP's subject: his first sign-in links here
                "userName": "bob@example.test",
                "active": True,
                "emails": [{"primary": True, "type": "work", "value": "bob@example.test"}],
                "name": {"formatted": "Bob Berg", "familyName": "Berg", "givenName": "Bob"},
            },
            headers=SCIM,
        ),
        201,
    )
    bob = auth.new_client("bob")  # the token says "staff": no admin
    assert bob.get("/admin/users").status_code == 403

    group = _ok(
        client.post(
            "/scim/v2/Groups",
            json={
                "schemas": [
                    GROUP_SCHEMA,
                    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
                ],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "helpdesk-staging",
                "meta": {"resourceType": "Group"},
            },
            headers=SCIM,
        ),
        201,
    )
    gid = group["id"]
    found = _ok(
        client.get(
            "/scim/v2/Groups",
            query_string={
                "excludedAttributes": "members",
                "filter": 'displayName eq "helpdesk-staging"',
            },
            headers=SCIM,
        )
    )
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == gid

    # Update Group [Non-member attributes]: the name the permissions are mapped to.
    renamed = client.patch(
        f"/scim/v2/Groups/{gid}",
        json=_patch({"op": "Replace", "path": "displayName", "value": "portal-admins"}),
        headers=SCIM,
    )
    assert renamed.status_code in (200, 204), renamed.get_data(as_text=True)
    # Update Group [Add Members]
    added = client.patch(
        f"/scim/v2/Groups/{gid}",
        json=_patch(
            {"op": "Add", "path": "members", "value": [{"$ref": None, "value": member["id"]}]}
        ),
        headers=SCIM,
    )
    assert added.status_code in (200, 204), added.get_data(as_text=True)
    assert bob.get("/admin/users").status_code == 200  # the next request, no new sign-in
    groups = _ok(client.get(f"/scim/v2/Users/{member['id']}", headers=SCIM))["groups"]
    assert [g["value"] for g in groups] == [gid]

    # Update Group [Remove Members]
    removed = client.patch(
        f"/scim/v2/Groups/{gid}",
        json=_patch(
            {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": member["id"]}]}
        ),
        headers=SCIM,
    )
    assert removed.status_code in (200, 204), removed.get_data(as_text=True)
    assert bob.get("/admin/users").status_code == 403

    _ok(client.delete(f"/scim/v2/Groups/{gid}", headers=SCIM), 204)
    assert client.get(f"/scim/v2/Groups/{gid}", headers=SCIM).status_code == 404
    assert str(user_id(app, "bob")) == member["id"]


def test_okta_scim_2_test_flow(app, client):
    user_name = "test.user@okta.local"
    probe = _ok(
        client.get(
            "/scim/v2/Users",
            query_string={"filter": f'userName eq "{user_name}"', "startIndex": 1, "count": 100},
            headers=SCIM,
        )
    )
    assert probe["totalResults"] == 0 and probe["startIndex"] == 1

    body = {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }
    created = _ok(client.post("/scim/v2/Users", json=body, headers=SCIM), 201)
    scim_id = created["id"]
    assert created["locale"] == "en-US" and created["displayName"] == "Test User"
    assert "password" not in created
    with app.app_context():
        stored = db.session.get(User, uuid.UUID(scim_id))
        assert stored is not None and "1mz050nq" not in repr(stored.__dict__)

    got = _ok(client.get(f"/scim/v2/Users/{scim_id}", headers=SCIM))
    assert got["userName"] == user_name
    found = _ok(
        client.get(
            "/scim/v2/Users",
            query_string={"filter": f'userName eq "{user_name}"', "startIndex": 1, "count": 100},
            headers=SCIM,
        )
    )
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == scim_id

    # A profile change is a PUT of the whole user.
    replaced = _ok(
        client.put(
            f"/scim/v2/Users/{scim_id}",
            json={
                **body,
                "id": scim_id,
                "name": {"givenName": "Another", "familyName": "User"},
                "displayName": "Another User",
            },
            headers=SCIM,
        )
    )
    assert replaced["name"] == {"givenName": "Another", "familyName": "User"}
    assert replaced["displayName"] == "Another User"

    # Deactivation: a replace without a path, its value an object.
    deactivated = _ok(
        client.patch(
            f"/scim/v2/Users/{scim_id}",
            json=_patch({"op": "replace", "value": {"active": False}}),
            headers=SCIM,
        )
    )
    assert deactivated["active"] is False
    assert _row(app, scim_id).deactivated_at is not None


def test_okta_push_groups(app, client):
    member = _ok(
        client.post(
            "/scim/v2/Users",
            json={
                "schemas": [USER_SCHEMA],
                "userName": "push.member@okta.local",
                "emails": [{"primary": True, "value": "push.member@okta.local", "type": "work"}],
                "active": True,
            },
            headers=SCIM,
        ),
        201,
    )
    created = _ok(
        client.post(
            "/scim/v2/Groups",
            json={"schemas": [GROUP_SCHEMA], "displayName": "Test SCIMv2", "members": []},
            headers=SCIM,
        ),
        201,
    )
    gid = created["id"]
    found = _ok(
        client.get(
            "/scim/v2/Groups",
            query_string={"filter": 'displayName eq "Test SCIMv2"', "startIndex": 1, "count": 100},
            headers=SCIM,
        )
    )
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == gid

    renamed = client.patch(
        f"/scim/v2/Groups/{gid}",
        json=_patch({"op": "replace", "value": {"id": gid, "displayName": "Test SCIMv2 Updated"}}),
        headers=SCIM,
    )
    assert renamed.status_code in (200, 204), renamed.get_data(as_text=True)
    added = client.patch(
        f"/scim/v2/Groups/{gid}",
        json=_patch(
            {
                "op": "add",
                "path": "members",
                "value": [{"value": member["id"], "display": "push.member@okta.local"}],
            }
        ),
        headers=SCIM,
    )
    assert added.status_code in (200, 204), added.get_data(as_text=True)
    group = _ok(client.get(f"/scim/v2/Groups/{gid}", headers=SCIM))
    assert group["displayName"] == "Test SCIMv2 Updated"
    assert [m["value"] for m in group["members"]] == [member["id"]]

    removed = client.patch(
        f"/scim/v2/Groups/{gid}",
        json=_patch({"op": "remove", "path": f'members[value eq "{member["id"]}"]'}),
        headers=SCIM,
    )
    assert removed.status_code in (200, 204), removed.get_data(as_text=True)
    assert _ok(client.get(f"/scim/v2/Groups/{gid}", headers=SCIM)).get("members", []) == []

    _ok(client.delete(f"/scim/v2/Groups/{gid}", headers=SCIM), 204)
    assert client.get(f"/scim/v2/Groups/{gid}", headers=SCIM).status_code == 404


def test_a_schema_named_but_empty_is_ignored_and_one_filled_is_refused(client):
    """Entra names Microsoft's own Group schema in every group it creates and puts nothing in
    it: that name is no reason to refuse the group. A schema the service does not serve whose
    attributes the body does carry is refused, in SCIM's error shape, and nothing is made."""
    microsoft = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
    made = client.post(
        "/scim/v2/Groups",
        json={"schemas": [GROUP_SCHEMA, microsoft], "displayName": "named-only"},
        headers=SCIM,
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    other = "urn:example:params:scim:schemas:extension:acme:2.0:User"
    refused = client.post(
        "/scim/v2/Users",
        json={
            "schemas": [USER_SCHEMA, other],
            "userName": "filled@example.test",
            other: {"badge": "42"},
        },
        headers=SCIM,
    )
    assert refused.status_code == 400, refused.get_data(as_text=True)
    assert refused.get_json()["scimType"] == "invalidSyntax"
    found = client.get(
        "/scim/v2/Users", query_string={"filter": 'userName eq "filled@example.test"'}, headers=SCIM
    )
    assert found.get_json()["totalResults"] == 0


def test_the_admin_user_page_shows_who_the_idp_says_they_are(client, auth):
    """What Entra's default mappings send (title, department, employee number, the manager by
    id) is on the admin's page of that person, beside the devices, the manager by name."""
    manager = _ok(
        client.post(
            "/scim/v2/Users",
            json={
                "schemas": [USER_SCHEMA],
                "userName": "mona@example.test",
                "displayName": "Mona Manager",
            },
            headers=SCIM,
        ),
        201,
    )
    person = _ok(
        client.post(
            "/scim/v2/Users",
            json={
                "schemas": [USER_SCHEMA, ENTERPRISE],
                "userName": "pat@example.test",
                "displayName": "Pat Person",
                "title": "Payroll Clerk",
                ENTERPRISE: {"employeeNumber": "100042", "department": "Finance"},
            },
            headers=SCIM,
        ),
        201,
    )
    _ok(
        client.patch(
            f"/scim/v2/Users/{person['id']}",
            json=_patch({"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager["id"]}),
            headers=SCIM,
        )
    )
    page = auth.new_client("admin").get(f"/admin/users/{person['id']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for key, shown in (
        ("title", "Payroll Clerk"),
        ("department", "Finance"),
        ("employee-number", "100042"),
        ("manager", "Mona Manager"),
    ):
        assert f'id="provisioned-{key}" class="provisioned">{shown}</dd>' in html, key


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ({"count": "abc"}, "count must be an integer"),
        ({"startIndex": "x"}, "startIndex must be an integer"),
    ],
)
def test_a_query_parameter_refused_is_said_in_words_not_pydantics(client, query, detail):
    response = client.get("/scim/v2/Users", query_string=query, headers=SCIM)
    assert response.status_code == 400
    body = response.get_json()
    assert body["scimType"] == "invalidValue" and body["detail"] == detail
