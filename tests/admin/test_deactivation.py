"""Deactivating an account: everything of it stops at once, sign-in is refused with a page, and
the admin pages say so; from the user page, the CLI and (see test_scim.py) SCIM."""

from __future__ import annotations

from sqlalchemy import select
from support.account_helpers import (
    audit_actions,
    bearer,
    make_token,
    page_csrf,
    sessions_of,
    user_id,
)

from portal.extensions import db
from portal.models import User


def _deactivate_on_the_page(app, admin, login: str):
    target = user_id(app, login)
    confirm = admin.get(f"/admin/users/{target}/deactivate")
    assert confirm.status_code == 200
    assert "Deactivate account" in confirm.get_data(as_text=True)
    return admin.post(
        f"/admin/users/{target}/deactivate",
        data={"csrf_token": page_csrf(admin, f"/admin/users/{target}")},
    )


def test_deactivating_stops_the_browser_the_idp_token_and_the_personal_token_at_once(
    app, client, auth
):
    alice = auth.new_client("alice")
    secret = make_token(alice)
    idp_token = auth.bearer("alice")
    assert client.get("/devices", headers=idp_token).status_code == 200  # cached from now on
    assert client.get("/devices", headers=bearer(secret)).status_code == 200
    assert alice.get("/").status_code == 200

    admin = auth.new_client("admin")
    done = _deactivate_on_the_page(app, admin, "alice")
    assert done.status_code == 302

    assert alice.get("/").status_code == 200 and b'id="devices"' not in alice.get("/").data
    assert alice.get("/account/tokens").status_code == 302  # to sign-in
    for headers in (idp_token, bearer(secret)):
        envelope = client.get("/devices", headers=headers)
        assert envelope.status_code == 401
        assert envelope.get_json() == {"success": False, "error": "The account is deactivated"}
        rows = client.get("/auth/devices", headers=headers)
        assert rows.status_code == 401
        assert rows.get_json()["error"]["message"] == "The account is deactivated"
    # A token the portal never saw before is refused too, and opens no session.
    before = len(sessions_of(app, "alice"))
    fresh = client.get("/devices", headers=auth.bearer("alice"))
    assert fresh.status_code == 401
    assert len(sessions_of(app, "alice")) == before
    assert all(s.ended_at is not None for s in sessions_of(app, "alice"))
    assert {s.end_reason for s in sessions_of(app, "alice")} == {"deactivated"}

    [event] = audit_actions(app, "deactivate_user")
    assert event.actor_label == "admin@example.test"
    assert event.detail["sessions_ended"] == 3 and event.detail["via"] == "page"


def test_a_deactivated_user_is_refused_sign_in_with_a_page_until_reactivated(app, auth):
    auth.new_client("bob")
    admin = auth.new_client("admin")
    _deactivate_on_the_page(app, admin, "bob")

    browser = app.test_client()
    refused = auth.sign_in(browser, "bob")
    assert refused.status_code == 403
    page = refused.get_data(as_text=True)
    assert "Your account is deactivated" in page
    assert browser.get("/").status_code == 200 and b'id="devices"' not in browser.get("/").data
    assert len(audit_actions(app, "sign_in_refused")) == 1

    target = user_id(app, "bob")
    assert admin.get(f"/admin/users/{target}/reactivate").status_code == 200
    again = admin.post(
        f"/admin/users/{target}/reactivate",
        data={"csrf_token": page_csrf(admin, f"/admin/users/{target}")},
    )
    assert again.status_code == 302
    assert len(audit_actions(app, "reactivate_user")) == 1
    ended = {s.id for s in sessions_of(app, "bob")}
    signed_in = auth.sign_in(app.test_client(), "bob")
    assert signed_in.status_code == 302  # signs in again ...
    assert all(s.ended_at is not None for s in sessions_of(app, "bob") if s.id in ended)


def test_admins_see_deactivated_in_search_and_on_the_user_page(app, auth):
    auth.new_client("bob")
    admin = auth.new_client("admin")
    target = user_id(app, "bob")
    assert b"Deactivated" not in admin.get("/admin/users?q=bob").data
    _deactivate_on_the_page(app, admin, "bob")
    listing = admin.get("/admin/users?q=bob").get_data(as_text=True)
    assert 'class="badge danger deactivated"' in listing
    page = admin.get(f"/admin/users/{target}").get_data(as_text=True)
    assert 'id="deactivated"' in page and 'id="reactivate"' in page
    assert 'id="deactivate"' not in page


def test_a_viewer_cannot_deactivate_and_an_admin_not_themself(app, auth):
    auth.new_client("bob")
    viewer = auth.new_client("viewer")
    target = user_id(app, "bob")
    assert viewer.get(f"/admin/users/{target}/deactivate").status_code == 403
    page = viewer.get(f"/admin/users/{target}").get_data(as_text=True)
    assert 'id="deactivate"' not in page
    admin = auth.new_client("admin")
    own = user_id(app, "admin")
    response = admin.post(
        f"/admin/users/{own}/deactivate",
        data={"csrf_token": page_csrf(admin, f"/admin/users/{own}")},
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(User, own).deactivated_at is None


def test_the_cli_deactivates_and_reactivates_by_email(app, auth, client):
    alice = auth.new_client("alice")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "deactivate", "ALICE@example.test"])
    assert result.exit_code == 0, result.output
    assert "deactivated alice@example.test: 1 session ended" in result.output
    assert b'id="devices"' not in alice.get("/").data
    again = runner.invoke(args=["users", "deactivate", "alice@example.test"])
    assert "already deactivated" in again.output
    assert client.get("/devices", headers=auth.bearer("alice")).status_code == 401

    result = runner.invoke(args=["users", "reactivate", "alice@example.test"])
    assert result.exit_code == 0 and "reactivated alice@example.test" in result.output
    assert client.get("/devices", headers=auth.bearer("alice")).status_code == 200
    events = audit_actions(app)
    mine = [e for e in events if e.action in ("deactivate_user", "reactivate_user")]
    assert [(e.action, e.via) for e in mine] == [
        ("deactivate_user", "cli"),
        ("reactivate_user", "cli"),
    ]
    missing = runner.invoke(args=["users", "deactivate", "nobody@example.test"])
    assert missing.exit_code != 0 and "no user" in missing.output
    with app.app_context():
        assert (
            db.session.execute(
                select(User.deactivated_at).where(User.subject == "alice")
            ).scalar_one()
            is None
        )
