"""SCIM Groups at /scim/v2/Groups: the requests Okta's "Push Groups" and Microsoft Entra's group
provisioning make, bad input, and permissions given and taken back on the member's next
request, on another portal process too.

The request bodies are written from the vendors' published documentation:
- Okta, SCIM 2.0 guide, "SCIM Group operations" (create, retrieve, update the name, update
  the membership with ``members[value eq "..."]`` removals, delete):
  https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20
- Microsoft Entra, "Tutorial: Develop and plan provisioning for a SCIM endpoint", the group
  operations ("Create Group", "Get Group", "Get Group by displayName", "Update Group
  [Non-member attributes]", "Update Group [Add Members]", "Update Group [Remove Members]",
  "Delete Group"), with Entra's capitalised ops:
  https://learn.microsoft.com/en-us/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from support.account_helpers import audit_actions, http_sign_in, user_id

TOKEN = "scim-test-token-0123456789abcdef0123456789"
SCIM = {"Authorization": f"Bearer {TOKEN}"}
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SCIM_TOKEN": TOKEN}


def _user(client, user_name: str, **extra) -> dict:
    body = {"schemas": [USER_SCHEMA], "userName": user_name, "active": True, **extra}
    response = client.post("/scim/v2/Users", json=body, headers=SCIM)
    assert response.status_code == 201, response.data
    return response.get_json()


def _group(client, display_name: str, members=(), **extra) -> dict:
    body = {"schemas": [GROUP_SCHEMA], "displayName": display_name, "members": list(members)}
    response = client.post("/scim/v2/Groups", json={**body, **extra}, headers=SCIM)
    assert response.status_code == 201, response.data
    return response.get_json()


def _patch(client, group_id: str, *operations):
    return client.patch(
        f"/scim/v2/Groups/{group_id}",
        json={"schemas": [PATCH_SCHEMA], "Operations": list(operations)},
        headers=SCIM,
    )


def _members(client, group_id: str) -> set[str]:
    found = client.get(f"/scim/v2/Groups/{group_id}", headers=SCIM)
    assert found.status_code == 200, found.data
    return {m["value"] for m in found.get_json().get("members") or []}


def _is_scim_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    if scim_type:
        assert body["scimType"] == scim_type
    assert "Traceback" not in response.get_data(as_text=True)
    return body


# -- discovery ---------------------------------------------------------------------------------


def test_the_group_resource_type_and_schema_are_advertised(client):
    types = client.get("/scim/v2/ResourceTypes", headers=SCIM).get_json()["Resources"]
    group = next(t for t in types if t["name"] == "Group")
    assert group["endpoint"] == "/Groups" and group["schema"] == GROUP_SCHEMA
    schema = client.get(f"/scim/v2/Schemas/{GROUP_SCHEMA}", headers=SCIM)
    assert schema.status_code == 200
    assert {a["name"] for a in schema.get_json()["attributes"]} >= {"displayName", "members"}
    user_schema = client.get(f"/scim/v2/Schemas/{USER_SCHEMA}", headers=SCIM).get_json()
    [groups] = [a for a in user_schema["attributes"] if a["name"] == "groups"]
    assert groups["mutability"] == "readOnly"


# -- Okta: Push Groups -------------------------------------------------------------------------


def test_okta_push_groups(app, client):
    ann = _user(client, "ann@example.test", externalId="00uann")
    ben = _user(client, "ben@example.test", externalId="00uben")

    # Create Groups: POST /Groups with an empty member list.
    created = _group(client, "Test SCIMv2", members=[])
    assert created["displayName"] == "Test SCIMv2" and not created.get("members")
    assert created["meta"]["resourceType"] == "Group"
    assert created["meta"]["location"].endswith(f"/scim/v2/Groups/{created['id']}")
    group_id = created["id"]

    # Retrieve Groups: by id, and the list Okta pages through.
    got = client.get(f"/scim/v2/Groups/{group_id}", headers=SCIM)
    assert got.status_code == 200 and got.get_json()["displayName"] == "Test SCIMv2"
    listed = client.get(
        "/scim/v2/Groups", query_string={"startIndex": 1, "count": 100}, headers=SCIM
    ).get_json()
    assert listed["totalResults"] == 1 and listed["Resources"][0]["id"] == group_id
    found = client.get(
        "/scim/v2/Groups", query_string={"filter": 'displayName eq "test scimv2"'}, headers=SCIM
    ).get_json()
    assert [g["id"] for g in found["Resources"]] == [group_id]

    # Update a specific Group name: a replace without a path, the value naming id and name.
    renamed = _patch(
        client,
        group_id,
        {"op": "replace", "value": {"id": group_id, "displayName": "portal-admins"}},
    )
    assert renamed.status_code == 200, renamed.data
    assert renamed.get_json()["displayName"] == "portal-admins"

    # Update specific Group membership: add with a list of values, remove by a filter.
    added = _patch(
        client,
        group_id,
        {
            "op": "add",
            "path": "members",
            "value": [
                {"value": ann["id"], "display": "ann@example.test"},
                {"value": ben["id"], "display": "ben@example.test"},
            ],
        },
    )
    assert added.status_code == 200, added.data
    assert _members(client, group_id) == {ann["id"], ben["id"]}
    shown = client.get(f"/scim/v2/Groups/{group_id}", headers=SCIM).get_json()
    assert {m["display"] for m in shown["members"]} == {"ann@example.test", "ben@example.test"}
    assert {m["type"] for m in shown["members"]} == {"User"}
    removed = _patch(client, group_id, {"op": "remove", "path": f'members[value eq "{ann["id"]}"]'})
    assert removed.status_code == 200, removed.data
    assert _members(client, group_id) == {ben["id"]}

    # Okta's PUT of the whole group (older integrations) replaces the members.
    put = client.put(
        f"/scim/v2/Groups/{group_id}",
        json={
            "schemas": [GROUP_SCHEMA],
            "id": group_id,
            "displayName": "portal-admins",
            "members": [{"value": ann["id"], "display": "ann@example.test"}],
        },
        headers=SCIM,
    )
    assert put.status_code == 200, put.data
    assert _members(client, group_id) == {ann["id"]}

    # A User's groups: read-only, as SCIM put them.
    shown = client.get(f"/scim/v2/Users/{ann['id']}", headers=SCIM).get_json()
    assert [(g["value"], g["display"]) for g in shown["groups"]] == [(group_id, "portal-admins")]
    assert "groups" not in client.get(f"/scim/v2/Users/{ben['id']}", headers=SCIM).get_json()

    # Delete a specific Group.
    assert client.delete(f"/scim/v2/Groups/{group_id}", headers=SCIM).status_code == 204
    _is_scim_error(client.get(f"/scim/v2/Groups/{group_id}", headers=SCIM), 404)
    assert "groups" not in client.get(f"/scim/v2/Users/{ann['id']}", headers=SCIM).get_json()
    _group(client, "portal-admins")  # the name is free again

    # Every change audited as SCIM, one event per member who joined or left.
    assert [e.detail["group"] for e in audit_actions(app, "scim_create_group")] == [
        "Test SCIMv2",
        "portal-admins",
    ]
    [rename] = audit_actions(app, "scim_update_group")
    assert rename.detail["renamed_from"] == "Test SCIMv2" and rename.actor_label == "SCIM"
    joined = [
        (str(e.target_user_id), e.detail["group"])
        for e in audit_actions(app, "scim_add_group_member")
    ]
    assert sorted(joined) == sorted(
        [(ann["id"], "portal-admins"), (ben["id"], "portal-admins"), (ann["id"], "portal-admins")]
    )
    left = [str(e.target_user_id) for e in audit_actions(app, "scim_remove_group_member")]
    assert sorted(left) == sorted([ann["id"], ben["id"], ann["id"]])
    assert len(audit_actions(app, "scim_delete_group")) == 1


# -- Entra: group provisioning -----------------------------------------------------------------


def test_entra_group_provisioning(app, client):
    ann = _user(client, "ann@example.test", externalId="e-ann")
    ben = _user(client, "ben@example.test", externalId="e-ben")

    # Create Group (Entra sends no members at creation, and a meta.resourceType).
    created = client.post(
        "/scim/v2/Groups",
        json={
            "schemas": [GROUP_SCHEMA],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName",
            "meta": {"resourceType": "Group"},
        },
        headers=SCIM,
    )
    assert created.status_code == 201, created.data
    group_id = created.get_json()["id"]
    assert created.get_json()["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"

    # Get Group, and Get Group by displayName, without the members.
    got = client.get(
        f"/scim/v2/Groups/{group_id}",
        query_string={"excludedAttributes": "members"},
        headers=SCIM,
    )
    assert got.status_code == 200 and "members" not in got.get_json()
    by_name = client.get(
        "/scim/v2/Groups",
        query_string={"excludedAttributes": "members", "filter": 'displayName eq "displayName"'},
        headers=SCIM,
    ).get_json()
    assert [g["id"] for g in by_name["Resources"]] == [group_id]

    # Update Group [Non-member attributes]: Entra capitalises the op.
    answer = _patch(
        client,
        group_id,
        {"op": "Replace", "path": "displayName", "value": "security"},
    )
    assert answer.status_code == 200, answer.data

    # Update Group [Add Members]: a named op and a $ref of null.
    answer = _patch(
        client,
        group_id,
        {
            "op": "Add",
            "path": "members",
            "value": [{"$ref": None, "value": ann["id"]}, {"$ref": None, "value": ben["id"]}],
        },
    )
    assert answer.status_code == 200, answer.data
    assert _members(client, group_id) == {ann["id"], ben["id"]}
    # Entra checks a membership with a filter on members.
    member_of = client.get(
        "/scim/v2/Groups",
        query_string={
            "filter": f'id eq "{group_id}" and members[value eq "{ann["id"]}"]',
            "excludedAttributes": "members",
        },
        headers=SCIM,
    ).get_json()
    assert member_of["totalResults"] == 1

    # Update Group [Remove Members]: a remove on "members" whose value lists who leaves.
    answer = _patch(
        client,
        group_id,
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": ann["id"]}]},
    )
    assert answer.status_code == 200, answer.data
    assert _members(client, group_id) == {ben["id"]}
    gone = client.get(
        "/scim/v2/Groups",
        query_string={"filter": f'id eq "{group_id}" and members[value eq "{ann["id"]}"]'},
        headers=SCIM,
    ).get_json()
    assert gone["totalResults"] == 0
    # Removing somebody who is no member (Entra retries) changes nothing and succeeds.
    again = _patch(
        client,
        group_id,
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": ann["id"]}]},
    )
    assert again.status_code == 200, again.data
    assert _members(client, group_id) == {ben["id"]}

    # Replace the members with one request, then Delete Group.
    answer = _patch(
        client, group_id, {"op": "Replace", "path": "members", "value": [{"value": ann["id"]}]}
    )
    assert answer.status_code == 200, answer.data
    assert _members(client, group_id) == {ann["id"]}
    assert client.delete(f"/scim/v2/Groups/{group_id}", headers=SCIM).status_code == 204
    assert client.get("/scim/v2/Groups", headers=SCIM).get_json()["totalResults"] == 0
    assert {e.actor_label for e in audit_actions(app, "scim_remove_group_member")} == {"SCIM"}


# -- bad input ---------------------------------------------------------------------------------


def test_bad_groups_answer_in_the_scim_error_shape_and_change_nothing(app, client):
    ann = _user(client, "ann@example.test")
    group = _group(client, "helpdesk", members=[{"value": ann["id"]}])

    def post(body):
        return client.post("/scim/v2/Groups", json=body, headers=SCIM)

    _is_scim_error(post({"schemas": [GROUP_SCHEMA]}), 400)  # no displayName
    _is_scim_error(post({"schemas": [GROUP_SCHEMA], "displayName": ""}), 400)
    _is_scim_error(post({"schemas": [GROUP_SCHEMA], "displayName": "a\u0000b"}), 400)
    _is_scim_error(post({"schemas": [GROUP_SCHEMA], "displayName": "x" * 300}), 400)
    _is_scim_error(post({"schemas": [GROUP_SCHEMA], "displayName": "HelpDesk"}), 409, "uniqueness")
    unknown_member = {
        "schemas": [GROUP_SCHEMA],
        "displayName": "ops",
        "members": [{"value": "nobody"}],
    }
    body = _is_scim_error(post(unknown_member), 400, "invalidValue")
    assert "nobody" in body["detail"]
    a_group_as_member = {**unknown_member, "members": [{"value": group["id"]}]}
    _is_scim_error(post(a_group_as_member), 400, "invalidValue")
    _is_scim_error(client.get("/scim/v2/Groups/not-a-uuid", headers=SCIM), 404)
    _is_scim_error(
        client.get("/scim/v2/Groups/00000000-0000-0000-0000-000000000000", headers=SCIM), 404
    )
    for query in (
        'displayName co "help"',
        'members.display eq "ann"',
        "displayName pr",
        "displayName eq 3",
    ):
        answer = client.get("/scim/v2/Groups", query_string={"filter": query}, headers=SCIM)
        _is_scim_error(answer, 400, "invalidFilter")
    # A search at the root, over Users and Groups at once, is not supported: 501.
    root = client.post("/scim/v2/.search", json={"schemas": [SEARCH_SCHEMA]}, headers=SCIM)
    _is_scim_error(root, 501)
    # A PATCH whose last operation fails changes nothing of the first two.
    bad = _patch(
        client,
        group["id"],
        {"op": "replace", "path": "displayName", "value": "renamed"},
        {"op": "remove", "path": f'members[value eq "{ann["id"]}"]'},
        {
            "op": "add",
            "path": "members",
            "value": [{"value": "00000000-0000-0000-0000-000000000000"}],
        },
    )
    _is_scim_error(bad, 400, "invalidValue")
    _is_scim_error(_patch(client, group["id"], {"op": "explode", "path": "members"}), 400)
    _is_scim_error(_patch(client, group["id"], {"op": "remove", "path": "members[value eq"}), 400)
    shown = client.get(f"/scim/v2/Groups/{group['id']}", headers=SCIM).get_json()
    assert shown["displayName"] == "helpdesk" and _members(client, group["id"]) == {ann["id"]}
    # A User's groups are read-only: a PATCH of them is refused or ignored, never applied.
    answer = client.patch(
        f"/scim/v2/Users/{ann['id']}",
        json={
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "add", "path": "groups", "value": [{"value": group["id"]}]}],
        },
        headers=SCIM,
    )
    assert answer.status_code in (200, 400), answer.data
    assert _members(client, group["id"]) == {ann["id"]}
    assert audit_actions(app, "scim_update_group") == []
    assert len(audit_actions(app, "scim_add_group_member")) == 1


# -- permissions from SCIM's groups ------------------------------------------------------------


def _admin_answers(app, browser, token: dict) -> tuple[int, int]:
    page = browser.get("/admin/audit").status_code
    api = app.test_client().get("/sign-ins", headers=token).status_code
    return page, api


def test_removing_a_manager_from_portal_admins_takes_the_rights_on_the_next_request(
    app, client, auth
):
    # The manager's ID token says "security" (no audit log); SCIM provisions them and puts
    # them in portal-admins.
    manager = _user(client, "manager@example.test", externalId="manager")
    admins = _group(client, "portal-admins", members=[{"value": manager["id"]}])
    browser = auth.new_client("manager")
    token = auth.bearer("manager")
    assert _admin_answers(app, browser, token) == (200, 200)
    # A second request through the cached token and the once-a-minute path alike.
    assert _admin_answers(app, browser, token) == (200, 200)

    answer = _patch(
        client, admins["id"], {"op": "remove", "path": f'members[value eq "{manager["id"]}"]'}
    )
    assert answer.status_code == 200, answer.data
    # No new sign-in: the very next page and API call are refused.
    assert _admin_answers(app, browser, token) == (403, 403)
    # SCIM's groups are the truth for them: the token's "security" does not count either.
    assert browser.get(f"/admin/users/{manager['id']}").status_code == 403
    # A new sign-in changes nothing: the ID token's groups do not come back.
    again = auth.new_client("manager")
    assert again.get("/admin/audit").status_code == 403
    [event] = audit_actions(app, "scim_remove_group_member")
    assert str(event.target_user_id) == manager["id"] and event.detail["group"] == "portal-admins"

    # Put back: the rights return on the next request, just as fast.
    answer = _patch(
        client, admins["id"], {"op": "add", "path": "members", "value": [{"value": manager["id"]}]}
    )
    assert answer.status_code == 200
    assert _admin_answers(app, browser, token) == (200, 200)
    # Deleting the group takes them away again.
    assert client.delete(f"/scim/v2/Groups/{admins['id']}", headers=SCIM).status_code == 204
    assert _admin_answers(app, browser, token) == (403, 403)


def test_users_scim_did_not_provision_keep_their_tokens_groups(app, client, auth):
    _group(client, "portal-admins")  # groups are pushed, Ada is not provisioned
    browser = auth.new_client("admin")
    assert browser.get("/admin/audit").status_code == 200
    assert app.test_client().get("/sign-ins", headers=auth.bearer("admin")).status_code == 200


def test_until_groups_are_pushed_a_provisioned_user_keeps_their_tokens_groups(app, client, auth):
    _user(client, "admin@example.test", externalId="admin")
    browser = auth.new_client("admin")
    assert browser.get("/admin/audit").status_code == 200
    _group(client, "helpdesk")  # the first group pushed: SCIM now decides, and Ada is in none
    assert browser.get("/admin/audit").status_code == 403


def test_the_admin_user_page_shows_the_groups_scim_gave(app, client, auth):
    ann = _user(client, "alice@example.test", externalId="alice")
    _group(client, "helpdesk", members=[{"value": ann["id"]}])
    _group(client, "Finance Team", members=[{"value": ann["id"]}])
    auth.new_client("alice")
    admin = auth.new_client("admin")
    page = admin.get(f"/admin/users/{user_id(app, 'alice')}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="scim-groups"' in text
    assert "Finance Team" in text and "helpdesk" in text


# -- another portal process --------------------------------------------------------------------


def _env_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@pytest.fixture
def second_process(app, app_config, live_port, tmp_path):
    """A second portal, a gunicorn process of ``wsgi:app`` on the same database, at the port
    the test IdP sends its browsers back to."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({f"PORTAL_{k}": _env_value(v) for k, v in app_config.items()})
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "1",
                "--bind",
                f"127.0.0.1:{live_port}",
                "wsgi:app",
            ],
            cwd=str(ROOT),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{live_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/livez", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the second portal did not start:\n" + log.read_text())
            time.sleep(0.2)

        class Server:
            pass

        server = Server()
        server.url = url  # type: ignore[attr-defined]
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_removal_over_scim_is_seen_by_another_portal_process(
    app, client, auth, idp, second_process
):
    manager = _user(client, "manager@example.test", externalId="manager")
    admins = _group(client, "portal-admins", members=[{"value": manager["id"]}])
    browser = http_sign_in(second_process, idp, "manager")
    token = auth.bearer("manager")
    base = second_process.url
    assert browser.get(f"{base}/admin/audit", timeout=10).status_code == 200
    assert requests.get(f"{base}/sign-ins", headers=token, timeout=10).status_code == 200

    # The IdP takes the manager out of portal-admins through this process ...
    answer = _patch(
        client, admins["id"], {"op": "remove", "path": f'members[value eq "{manager["id"]}"]'}
    )
    assert answer.status_code == 200, answer.data
    # ... and the other process refuses the very next page and API call.
    assert browser.get(f"{base}/admin/audit", timeout=10).status_code == 403
    assert requests.get(f"{base}/sign-ins", headers=token, timeout=10).status_code == 403
