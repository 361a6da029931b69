"""Who may open which admin page and call which admin route: the permission matrix.

IdP accounts: alice (no permission), viewer (viewUserDevices), manager (viewUserDevices +
manageUserDevices), admin (all three). The target of every action is bob, signed in once.
"""

from __future__ import annotations

import pytest
from support.admin_helpers import active_session_ids, csrf_token, user_id_of

from portal.authz import ACCESS_RULE_ATTR

NOBODY, VIEWER, MANAGER, ADMIN = "alice", "viewer", "manager", "admin"

# (method, path template, who gets through) — everyone else gets 403.
PAGES = [
    ("GET", "/admin/users", {VIEWER, MANAGER, ADMIN}),
    ("GET", "/admin/users/{user}", {VIEWER, MANAGER, ADMIN}),
    ("GET", "/admin/users/{user}/devices.csv", {VIEWER, MANAGER, ADMIN}),
    ("GET", "/admin/users/{user}/sessions/{session}/revoke", {MANAGER, ADMIN}),
    ("POST", "/admin/users/{user}/sessions/{session}/revoke", {MANAGER, ADMIN}),
    ("GET", "/admin/users/{user}/devices/{device}/revoke", {MANAGER, ADMIN}),
    ("POST", "/admin/users/{user}/devices/{device}/revoke", {MANAGER, ADMIN}),
    ("GET", "/admin/users/{user}/revoke-all", {MANAGER, ADMIN}),
    ("POST", "/admin/users/{user}/revoke-all", {MANAGER, ADMIN}),
    ("GET", "/admin/audit", {ADMIN}),
    ("GET", "/admin/audit.csv", {ADMIN}),
]


@pytest.fixture
def bob(app, auth):
    """Bob, signed in on one browser: his user id, session id and device id."""
    auth.new_client("bob")
    from portal.extensions import db
    from portal.models import UserSession

    [sid] = active_session_ids(app, "bob")
    with app.app_context():
        device_id = db.session.get(UserSession, sid).device_id
    return {"user": user_id_of(app, "bob"), "session": sid, "device": device_id}


@pytest.mark.parametrize("login", [NOBODY, VIEWER, MANAGER, ADMIN])
@pytest.mark.parametrize(
    ("method", "path", "allowed"), PAGES, ids=[f"{m} {p}" for m, p, _ in PAGES]
)
def test_admin_pages_permission_matrix(app, auth, bob, login, method, path, allowed):
    client = auth.new_client(login)
    url = path.format(**bob)
    if method == "POST":
        response = client.post(url, data={"csrf_token": csrf_token(client)})
    else:
        response = client.get(url)
    if login in allowed:
        assert response.status_code in (200, 302), response.data[:300]
        if response.status_code == 302:
            assert "/login" not in response.headers["Location"]
    else:
        assert response.status_code == 403
        assert b"don't have access" in response.data
    still_active = bob["session"] in active_session_ids(app, "bob")
    assert still_active == (method == "GET" or login not in allowed)


def test_without_manage_the_viewer_gets_403_on_revoke_and_nothing_ends(app, auth, bob):
    client = auth.new_client(VIEWER)
    token = csrf_token(client)
    for url in (
        f"/admin/users/{bob['user']}/sessions/{bob['session']}/revoke",
        f"/admin/users/{bob['user']}/devices/{bob['device']}/revoke",
        f"/admin/users/{bob['user']}/revoke-all",
    ):
        assert client.post(url, data={"csrf_token": token}).status_code == 403
    assert active_session_ids(app, "bob") == [bob["session"]]


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/users", "/admin/audit", "/admin/users/{user}/revoke-all"]
)
def test_signed_out_visitor_is_sent_to_sign_in(client, bob, path):
    response = client.get(path.format(**bob))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("login", "expected"),
    [
        (NOBODY, 403),
        (VIEWER, "/admin/users"),
        (MANAGER, "/admin/users"),
        (ADMIN, "/admin/users"),
    ],
)
def test_admin_index_leads_to_what_the_user_may_use(auth, login, expected):
    response = auth.new_client(login).get("/admin/")
    if expected == 403:
        assert response.status_code == 403
    else:
        assert response.status_code == 302 and response.headers["Location"] == expected


def test_admin_index_for_an_audit_only_user_leads_to_the_audit_log(app, auth):
    app.config["GROUP_PERMISSIONS"] = {"staff": ["viewAuditLog"]}
    response = auth.new_client("alice").get("/admin/")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/audit"


@pytest.mark.parametrize(
    ("login", "shown"), [(NOBODY, False), (VIEWER, True), (MANAGER, True), (ADMIN, True)]
)
def test_admin_link_in_navigation_only_for_permission_holders(auth, login, shown):
    page = auth.new_client(login).get("/").get_data(as_text=True)
    assert ('href="/admin/"' in page) is shown


def test_a_local_grant_opens_the_admin_pages_at_the_next_request(app, auth):
    from portal.extensions import db
    from portal.services.users import identity

    client = auth.new_client(NOBODY)
    assert client.get("/admin/users").status_code == 403
    with app.app_context():
        identity.grant(identity.find_user_by_email("alice@example.test"), "viewUserDevices")
        db.session.commit()
    assert client.get("/admin/users").status_code == 200


def test_every_admin_route_names_its_permission(app):
    """Deny by default: each admin page and admin JSON route carries a permission rule."""
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(("/admin", "/devices/users"))
    ]
    assert {"/admin/", "/admin/users", "/admin/audit", "/devices/users/<user_id>"} <= {
        rule.rule for rule in rules
    }
    for rule in rules:
        view = app.view_functions[rule.endpoint]
        access = getattr(view, ACCESS_RULE_ATTR, None)
        assert access, f"{rule.rule} has no access rule"
        if rule.endpoint != "admin.index":
            assert "permission:" in access, f"{rule.rule} is guarded only by {access}"
