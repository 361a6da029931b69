"""The SCIM 2.0 service at /scim/v2: what Okta and Microsoft Entra provisioning send, against
the real database and the real identity provider."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select
from support.account_helpers import audit_actions, bearer, make_token, sessions_of, user_id

from portal.extensions import db
from portal.models import User

TOKEN = "scim-test-token-0123456789abcdef0123456789"
SCIM = {"Authorization": f"Bearer {TOKEN}"}
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SCIM_TOKEN": TOKEN}


def _user(user_name: str, **extra) -> dict:
    body = {"schemas": [USER_SCHEMA], "userName": user_name, "active": True}
    body.update(extra)
    return body


def _post(client, user_name: str, **extra):
    response = client.post("/scim/v2/Users", json=_user(user_name, **extra), headers=SCIM)
    assert response.status_code == 201, response.data
    return response.get_json()


def _patch(client, scim_id: str, *operations):
    return client.patch(
        f"/scim/v2/Users/{scim_id}",
        json={"schemas": [PATCH_SCHEMA], "Operations": list(operations)},
        headers=SCIM,
    )


def _search(client, query: str, **params):
    response = client.get("/scim/v2/Users", query_string={"filter": query, **params}, headers=SCIM)
    assert response.status_code == 200, response.data
    return response.get_json()


def _is_scim_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)  # a string, as RFC 7644 3.12 says
    if scim_type:
        assert body["scimType"] == scim_type
    assert "Traceback" not in response.get_data(as_text=True)
    return body


# -- the service and its token -----------------------------------------------------------------


def test_without_a_configured_token_there_is_no_scim_service(app_config, database_url, idp):
    from support.app_setup import make_config

    from portal import create_app

    bare = create_app(make_config(idp, database_url))
    client = bare.test_client()
    for headers in ({}, SCIM):
        response = client.get("/scim/v2/Users", headers=headers)
        assert response.status_code == 404
    assert client.get("/scim/v2/ServiceProviderConfig").status_code == 404


def test_a_wrong_or_missing_token_is_refused(client):
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
    ):
        response = client.get("/scim/v2/Users", headers=headers)
        _is_scim_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    refused = client.post("/scim/v2/Users", json=_user("x@example.test"), headers={})
    _is_scim_error(refused, 401)
    with client.application.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 0


def test_the_discovery_endpoints_describe_the_service(client):
    config = client.get("/scim/v2/ServiceProviderConfig", headers=SCIM).get_json()
    assert config["patch"] == {"supported": True}
    assert config["filter"]["supported"] is True and config["filter"]["maxResults"] == 200
    assert config["bulk"]["supported"] is False
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = client.get("/scim/v2/ResourceTypes", headers=SCIM).get_json()
    assert [t["endpoint"] for t in types["Resources"]] == ["/Users", "/Groups"]
    schemas = client.get("/scim/v2/Schemas", headers=SCIM).get_json()
    assert USER_SCHEMA in {s["id"] for s in schemas["Resources"]}
    one = client.get(f"/scim/v2/Schemas/{USER_SCHEMA}", headers=SCIM)
    assert one.status_code == 200 and one.get_json()["id"] == USER_SCHEMA


# -- provisioning and searching ----------------------------------------------------------------


def test_a_provisioned_user_is_created_found_and_audited_as_scim(app, client):
    created = _post(
        client,
        "Zed.Zimmer@Example.test",
        externalId="00uzed",
        name={"givenName": "Zed", "familyName": "Zimmer"},
        emails=[{"value": "zed@example.test", "primary": True, "type": "work"}],
    )
    assert created["userName"] == "Zed.Zimmer@Example.test"
    assert created["active"] is True and created["externalId"] == "00uzed"
    # Returned as sent (no displayName was sent); the portal names the person from the name.
    assert created["name"] == {"givenName": "Zed", "familyName": "Zimmer"}
    assert "displayName" not in created
    assert created["meta"]["location"].endswith(f"/scim/v2/Users/{created['id']}")
    fetched = client.get(f"/scim/v2/Users/{created['id']}", headers=SCIM)
    assert fetched.status_code == 200 and fetched.get_json()["id"] == created["id"]
    [event] = audit_actions(app, "scim_provision_user")
    assert event.actor_label == "SCIM" and event.via == "scim" and event.actor_id is None
    with app.app_context():
        user = db.session.get(User, event.target_user_id)
        assert user.subject is None and user.email == "zed@example.test"
        assert user.name == "Zed Zimmer"

    taken = client.post("/scim/v2/Users", json=_user("zed.zimmer@example.TEST"), headers=SCIM)
    _is_scim_error(taken, 409, "uniqueness")


def test_filters_match_username_in_any_case_externalid_email_and_both(client):
    ann = _post(client, "ann@example.test", externalId="e-ann")
    bea = _post(
        client, "Bea@Example.test", externalId="e-bea", emails=[{"value": "b.b@example.test"}]
    )

    def ids(query: str) -> list[str]:
        return [r["id"] for r in _search(client, query).get("Resources", [])]

    assert ids('userName eq "ANN@example.TEST"') == [ann["id"]]
    assert ids('userName eq "bea@example.test"') == [bea["id"]]
    assert ids('externalId eq "e-bea"') == [bea["id"]]
    assert ids('externalId eq "E-BEA"') == []  # externalId is case-exact
    assert ids('emails.value eq "b.b@example.test"') == [bea["id"]]
    assert ids('emails[value eq "B.B@example.test"]') == [bea["id"]]
    assert ids('userName eq "ann@example.test" and externalId eq "e-ann"') == [ann["id"]]
    assert ids('userName eq "ann@example.test" and externalId eq "e-bea"') == []
    assert ids('userName eq "nobody@example.test"') == []
    empty = _search(client, 'userName eq "nobody@example.test"')
    assert empty["totalResults"] == 0


def test_start_index_and_count_page_the_users(client):
    made = [_post(client, f"user{n}@example.test")["id"] for n in range(5)]
    everyone = client.get("/scim/v2/Users", headers=SCIM).get_json()
    assert everyone["totalResults"] == 5
    assert [r["id"] for r in everyone["Resources"]] == made
    page = client.get(
        "/scim/v2/Users", query_string={"startIndex": 2, "count": 2}, headers=SCIM
    ).get_json()
    assert page["totalResults"] == 5 and page["startIndex"] == 2 and page["itemsPerPage"] == 2
    assert [r["id"] for r in page["Resources"]] == made[1:3]
    last = client.get(
        "/scim/v2/Users", query_string={"startIndex": 5, "count": 10}, headers=SCIM
    ).get_json()
    assert [r["id"] for r in last["Resources"]] == made[4:]
    none = client.get("/scim/v2/Users", query_string={"count": 0}, headers=SCIM).get_json()
    assert none["totalResults"] == 5 and none.get("Resources", []) == []


def test_put_replaces_the_attributes_the_portal_keeps(app, client):
    created = _post(client, "carl@example.test", externalId="e-carl", displayName="Carl")
    replaced = client.put(
        f"/scim/v2/Users/{created['id']}",
        json=_user("carl.c@example.test", externalId="e-carl", displayName="Carl Carlsen"),
        headers=SCIM,
    )
    assert replaced.status_code == 200, replaced.data
    body = replaced.get_json()
    assert body["userName"] == "carl.c@example.test" and body["displayName"] == "Carl Carlsen"
    assert _search(client, 'userName eq "carl.c@example.test"')["totalResults"] == 1
    assert _search(client, 'userName eq "carl@example.test"')["totalResults"] == 0
    [event] = audit_actions(app, "scim_update_user")
    assert event.actor_label == "SCIM"
    # No emails were sent: the address is the userName's, so it changed with it.
    assert set(event.detail["changed"]) == {"userName", "name", "emails"}


def test_delete_deactivates_and_hides_the_user_from_scim(app, client, auth):
    alice = auth.new_client("alice")
    created = _post(client, "alice@example.test")  # adopts the user who signed in
    assert created["id"] == str(user_id(app, "alice"))
    deleted = client.delete(f"/scim/v2/Users/{created['id']}", headers=SCIM)
    assert deleted.status_code == 204
    _is_scim_error(client.get(f"/scim/v2/Users/{created['id']}", headers=SCIM), 404)
    assert _search(client, 'userName eq "alice@example.test"')["totalResults"] == 0
    _is_scim_error(client.delete(f"/scim/v2/Users/{created['id']}", headers=SCIM), 404)
    assert b'id="devices"' not in alice.get("/").data
    with app.app_context():
        user = db.session.get(User, user_id(app, "alice"))
        assert user.deactivated_at is not None and user.scim_deleted_at is not None
    assert [e.actor_label for e in audit_actions(app, "scim_delete_user")] == ["SCIM"]
    assert [e.actor_label for e in audit_actions(app, "deactivate_user")] == ["SCIM"]
    # Provisioned again under the same name: the same person, active again.
    again = _post(client, "alice@example.test")
    assert again["id"] == created["id"] and again["active"] is True


# -- deactivation as Okta and Entra send it ---------------------------------------------------


def _signed_in_everywhere(app, client, auth, login: str):
    """A browser, an IdP access token (already verified and cached) and a personal token."""
    browser = auth.new_client(login)
    secret = make_token(browser)
    idp_token = auth.bearer(login)
    assert client.get("/devices", headers=idp_token).status_code == 200
    assert client.get("/devices", headers=bearer(secret)).status_code == 200
    return browser, idp_token, bearer(secret)


def _all_stopped(app, client, browser, *token_headers) -> None:
    assert b'id="devices"' not in browser.get("/").data
    for headers in token_headers:
        answer = client.get("/devices", headers=headers)
        assert answer.status_code == 401
        assert answer.get_json()["error"] == "The account is deactivated"


def test_okta_deactivates_with_a_value_object_and_reactivates(app, client, auth):
    browser, idp_token, personal = _signed_in_everywhere(app, client, auth, "bob")
    scim_user = _post(client, "bob@example.test", externalId="00ubob")
    assert scim_user["id"] == str(user_id(app, "bob"))

    answer = _patch(client, scim_user["id"], {"op": "replace", "value": {"active": False}})
    assert answer.status_code == 200, answer.data
    assert answer.get_json()["id"] == scim_user["id"] and answer.get_json()["active"] is False
    _all_stopped(app, client, browser, idp_token, personal)
    assert all(s.end_reason == "deactivated" for s in sessions_of(app, "bob"))
    refused = auth.sign_in(app.test_client(), "bob")
    assert refused.status_code == 403 and b"Your account is deactivated" in refused.data
    fetched = client.get(f"/scim/v2/Users/{scim_user['id']}", headers=SCIM).get_json()
    assert fetched["active"] is False
    assert _search(client, "active eq false")["totalResults"] == 1
    [event] = audit_actions(app, "deactivate_user")
    assert event.actor_label == "SCIM" and event.via == "scim"
    assert event.detail["sessions_ended"] == 3

    answer = _patch(client, scim_user["id"], {"op": "replace", "value": {"active": True}})
    assert answer.status_code == 200
    assert auth.sign_in(app.test_client(), "bob").status_code == 302
    assert client.get("/devices", headers=personal).status_code == 401  # nothing old is back
    assert [e.actor_label for e in audit_actions(app, "reactivate_user")] == ["SCIM"]


def test_entra_deactivates_with_a_capitalised_op_and_a_string_value(app, client, auth):
    browser, idp_token, personal = _signed_in_everywhere(app, client, auth, "alice")
    scim_user = _post(client, "Alice@Example.test", externalId="9f1c-entra-object-id")
    answer = _patch(client, scim_user["id"], {"op": "Replace", "path": "active", "value": "False"})
    assert answer.status_code == 200, answer.data
    _all_stopped(app, client, browser, idp_token, personal)
    assert client.get("/devices", headers=auth.bearer("alice")).status_code == 401
    assert auth.sign_in(app.test_client(), "alice").status_code == 403

    answer = _patch(client, scim_user["id"], {"op": "Replace", "path": "active", "value": "True"})
    assert answer.status_code == 200
    assert client.get(f"/scim/v2/Users/{scim_user['id']}", headers=SCIM).get_json()["active"]
    assert auth.sign_in(app.test_client(), "alice").status_code == 302
    assert client.get("/devices", headers=personal).status_code == 401  # nothing old is back
    # Entra's other attribute updates arrive the same way.
    answer = _patch(
        client, scim_user["id"], {"op": "Replace", "path": "displayName", "value": "Alice A."}
    )
    assert answer.status_code == 200
    shown = client.get(f"/scim/v2/Users/{scim_user['id']}", headers=SCIM).get_json()
    assert shown["displayName"] == "Alice A."


# -- the first sign-in of a provisioned user -------------------------------------------------


def test_the_first_sign_in_links_to_the_user_provisioned_with_that_email(app, client, auth):
    created = _post(client, "NEWBIE@example.test", externalId="okta-00u-newbie")
    assert auth.sign_in(app.test_client(), "newbie").status_code == 302
    with app.app_context():
        users = list(db.session.execute(select(User).where(User.email == "newbie@example.test")))
        assert len(users) == 1
        [(user,)] = users
        assert str(user.id) == created["id"] and user.subject == "newbie"
    # A bearer token of the same person is that user too.
    assert client.get("/devices", headers=auth.bearer("newbie")).status_code == 200
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 1


def test_the_first_sign_in_links_by_a_subject_equal_to_the_external_id(app, client, auth):
    created = _post(client, "b.berg@corp.example.test", externalId="bob")
    assert auth.sign_in(app.test_client(), "bob").status_code == 302
    assert str(user_id(app, "bob")) == created["id"]


def test_a_user_provisioned_inactive_cannot_sign_in_when_first_seen(app, client, auth):
    created = _post(client, "newbie@example.test", active=False)
    assert created["active"] is False
    assert auth.sign_in(app.test_client(), "newbie").status_code == 403
    assert client.get("/devices", headers=auth.bearer("newbie")).status_code == 401
    assert str(user_id(app, "newbie")) == created["id"]


# -- bad input, always in SCIM's error shape --------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        'userName eq "unterminated',
        'name.givenName eq "Ann"',
        'userName co "ann"',
        'not (userName eq "ann")',
        "userName pr",
        "userName eq 12",
    ],
)
def test_filters_the_service_does_not_serve_are_invalid_filters(client, query):
    response = client.get("/scim/v2/Users", query_string={"filter": query}, headers=SCIM)
    _is_scim_error(response, 400, "invalidFilter")


def test_bad_bodies_and_ids_answer_in_the_scim_error_shape(client):
    def post(data, content_type="application/scim+json"):
        return client.post(
            "/scim/v2/Users", data=data, headers={**SCIM, "Content-Type": content_type}
        )

    _is_scim_error(post("{not json"), 400)
    _is_scim_error(post('{"schemas": ["' + USER_SCHEMA + '"]}'), 400)  # no userName
    _is_scim_error(post('{"schemas": ["' + USER_SCHEMA + '"], "userName": ""}'), 400)
    _is_scim_error(post('{"schemas": ["' + USER_SCHEMA + '"], "userName": "a\\u0000b"}'), 400)
    long_name = "x" * 400 + "@example.test"
    _is_scim_error(post('{"schemas": ["' + USER_SCHEMA + f'"], "userName": "{long_name}"}}'), 400)
    _is_scim_error(post("[1, 2]"), 400)
    _is_scim_error(post("userName=x", "application/x-www-form-urlencoded"), 415)
    _is_scim_error(client.get("/scim/v2/Users/not-a-uuid", headers=SCIM), 404)
    _is_scim_error(
        client.get("/scim/v2/Users/00000000-0000-0000-0000-000000000000", headers=SCIM), 404
    )
    _is_scim_error(client.get("/scim/v2/Devices", headers=SCIM), 404)  # no such resource type
    _is_scim_error(client.get("/scim/v2/Users", query_string={"count": "x"}, headers=SCIM), 400)
    created = _post(client, "dora@example.test")
    bad_patch = _patch(client, created["id"], {"op": "explode", "path": "active"})
    _is_scim_error(bad_patch, 400)
    bad_active = _patch(
        client, created["id"], {"op": "replace", "path": "active", "value": "maybe"}
    )
    _is_scim_error(bad_active, 400)
    assert client.get(f"/scim/v2/Users/{created['id']}", headers=SCIM).get_json()["active"]


def test_a_body_over_the_limit_is_refused_in_the_scim_error_shape(app, client):
    big = _user("big@example.test", displayName="x" * (app.config["MAX_BODY_BYTES"] + 10))
    _is_scim_error(client.post("/scim/v2/Users", json=big, headers=SCIM), 413)


def test_admins_see_a_provisioned_user_who_never_signed_in(app, client, auth):
    created = _post(client, "prov@example.test", externalId="ext-prov", displayName="Pia Prov")
    admin = auth.new_client("admin")
    listing = admin.get("/admin/users?q=prov").get_data(as_text=True)
    assert "Pia Prov" in listing
    page = admin.get(f"/admin/users/{created['id']}").get_data(as_text=True)
    assert "not signed in yet" in page and 'id="scim-user-name"' in page
    assert 'id="deactivate"' in page


def test_scim_routes_carry_an_access_rule_and_no_csrf(app, client):
    from portal.authz import ACCESS_RULE_ATTR

    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/scim/v2"):
            view = app.view_functions[rule.endpoint]
            assert getattr(view, ACCESS_RULE_ATTR) == "scim_bearer_token", rule.rule


# -- first sign-ins of a provisioned user that race each other -------------------------------


def test_six_browsers_of_a_provisioned_user_at_the_callback_at_once_make_no_second_user(
    app, client, live_server, idp
):
    from support.races import AT_ONCE, all_at_once

    created = _post(client, "newbie@example.test")
    browsers, callbacks = [], []
    for _ in range(AT_ONCE):
        http = requests.Session()
        start = http.get(live_server.url + "/login", allow_redirects=False, timeout=10)
        back = urlsplit(idp.login_through(requests.Session(), start.headers["Location"], "newbie"))
        browsers.append(http)
        callbacks.append(f"{live_server.url}{back.path}?{back.query}")

    statuses = all_at_once(
        [
            lambda h=h, u=u: h.get(u, allow_redirects=False, timeout=60).status_code
            for h, u in zip(browsers, callbacks, strict=True)
        ]
    )

    assert statuses == [302] * AT_ONCE, statuses
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 1
    assert str(user_id(app, "newbie")) == created["id"]
    assert len(sessions_of(app, "newbie")) == AT_ONCE


def test_a_provisioned_users_token_used_six_times_at_once_makes_no_second_user(
    app, client, live_server, auth
):
    from support.races import AT_ONCE, all_at_once

    created = _post(client, "someone@corp.example.test", externalId="newbie")
    headers = auth.bearer("newbie")

    def call():
        return requests.get(live_server.url + "/devices", headers=headers, timeout=60).status_code

    assert all_at_once([call] * AT_ONCE) == [200] * AT_ONCE
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 1
    assert str(user_id(app, "newbie")) == created["id"]


def test_a_short_scim_token_stops_start_up(app_config):
    from portal import create_app
    from portal.config import ConfigError

    with pytest.raises(ConfigError, match="PORTAL_SCIM_TOKEN"):
        create_app({**app_config, "SCIM_TOKEN": "short"})
    assert create_app({**app_config, "SCIM_TOKEN": ""}).config["SCIM_TOKEN"] is None


def test_six_deactivations_at_once_end_the_sessions_and_are_audited_once(
    app, client, live_server, auth
):
    from support.races import AT_ONCE, all_at_once

    auth.new_client("bob")
    created = _post(client, "bob@example.test")
    body = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
    }

    def patch():
        return requests.patch(
            f"{live_server.url}/scim/v2/Users/{created['id']}", json=body, headers=SCIM, timeout=60
        ).status_code

    assert all_at_once([patch] * AT_ONCE) == [200] * AT_ONCE
    assert len(audit_actions(app, "deactivate_user")) == 1
    assert all(s.ended_at is not None for s in sessions_of(app, "bob"))
