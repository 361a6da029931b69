"""Personal API tokens: made on /account/tokens, used as bearer tokens, ended like sessions."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from support.account_helpers import bearer, csrf_from, make_token, page_csrf, user_id

from portal.extensions import db
from portal.models import AuditEvent, Grant, PersonalToken, User, UserSession, utcnow
from portal.services.audit.record import Actions


def _token_row(app, secret_hint: str | None = None) -> PersonalToken:
    with app.app_context():
        rows = list(db.session.execute(select(PersonalToken)).scalars())
        db.session.expunge_all()
        return rows[-1]


def _actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def test_a_new_token_is_shown_once_stored_as_a_hash_and_lists_the_devices(app, client, auth):
    browser = auth.new_client("alice")
    secret = make_token(browser, name="my script")
    assert secret.startswith("dpt_") and len(secret) >= 4 + 43  # 32 bytes, URL-safe
    row = _token_row(app)
    with app.app_context():
        stored = [str(v) for v in db.session.execute(select(PersonalToken.__table__)).one()]
    assert secret not in stored and secret[4:] not in " ".join(stored)
    assert row.secret_hash != secret and row.scopes == ["devices:read"]
    page = browser.get("/account/tokens").get_data(as_text=True)
    assert "my script" in page and secret not in page  # never shown again

    answer = client.get("/devices", headers=bearer(secret))
    assert answer.status_code == 200
    names = [d["deviceName"] for d in answer.get_json()["devices"]]
    assert "API client: my script" in names
    rows = client.get("/auth/devices", headers=bearer(secret)).get_json()
    assert row.session_id in {r["id"] for r in rows} or str(row.session_id) in {
        r["id"] for r in rows
    }
    assert "API client: my script" in browser.get("/").get_data(as_text=True)
    admin = auth.bearer("admin")
    listed = client.get(f"/devices/users/{user_id(app, 'alice')}", headers=admin).get_json()
    assert str(row.session_id) in {r["id"] for r in listed}


def test_token_use_is_recorded_and_audited_once_per_new_address(app, client, auth):
    browser = auth.new_client("alice")
    secret = make_token(browser)
    for _ in range(2):
        assert (
            client.get(
                "/devices",
                headers={**bearer(secret), "User-Agent": "curl/8.5.0"},
                environ_base={"REMOTE_ADDR": "81.2.69.142"},
            ).status_code
            == 200
        )
    client.get("/devices", headers=bearer(secret), environ_base={"REMOTE_ADDR": "10.0.0.9"})
    actions = _actions(app)
    assert actions.count(Actions.PERSONAL_TOKEN_CREATED) == 1
    assert actions.count(Actions.PERSONAL_TOKEN_NEW_ADDRESS) == 2
    row = _token_row(app)
    assert row.last_used_ip == "10.0.0.9" and row.last_used_at is not None
    page = browser.get("/account/tokens").get_data(as_text=True)
    assert "10.0.0.9" in page


def test_scopes_limit_the_token_and_audit_read_needs_view_audit_log(app, client, auth):
    browser = auth.new_client("alice")
    read_only = make_token(browser, scopes=("devices:read",))
    answer = client.post("/sessions/revoke-all", headers=bearer(read_only))
    assert answer.status_code == 403
    assert "audit:read" not in browser.get("/account/tokens").get_data(as_text=True)
    refused = browser.post(
        "/account/tokens",
        data={
            "csrf_token": page_csrf(browser, "/account/tokens"),
            "name": "sneaky",
            "scopes": ["audit:read"],
            "days": "30",
        },
    )
    assert refused.status_code == 400
    with app.app_context():
        assert db.session.execute(select(PersonalToken)).scalars().all().__len__() == 1


def test_permissions_are_the_owners_current_ones(app, client, auth):
    admin_browser = auth.new_client("alice")
    target = auth.new_client("bob") and user_id(app, "bob")
    with app.app_context():
        alice = db.session.execute(select(User).where(User.subject == "alice")).scalar_one()
        db.session.add(Grant(user_id=alice.id, permission="viewUserDevices"))
        db.session.commit()
    secret = make_token(admin_browser, scopes=("devices:read", "devices:write"))
    assert client.get(f"/devices/users/{target}", headers=bearer(secret)).status_code == 200
    with app.app_context():
        grants = db.session.execute(select(Grant)).scalars().all()
        assert [grant.permission for grant in grants] == ["viewUserDevices"]
        for grant in grants:
            db.session.delete(grant)
        db.session.commit()
    # The grant is gone: so is what the token could do with it, on the very next request.
    assert client.get(f"/devices/users/{target}", headers=bearer(secret)).status_code == 403


def test_revoked_on_the_page_the_token_is_refused_on_its_next_request(app, client, auth):
    browser = auth.new_client("alice")
    secret = make_token(browser)
    assert client.get("/devices", headers=bearer(secret)).status_code == 200
    row = _token_row(app)
    ask = browser.get(f"/account/tokens/{row.id}/revoke")
    assert ask.status_code == 200
    # Without its CSRF token the POST changes nothing.
    assert browser.post(f"/account/tokens/{row.id}/revoke").status_code == 400
    assert client.get("/devices", headers=bearer(secret)).status_code == 200
    done = browser.post(
        f"/account/tokens/{row.id}/revoke", data={"csrf_token": csrf_from(ask.data)}
    )
    assert done.status_code == 302
    replay = client.get("/devices", headers=bearer(secret))
    assert replay.status_code == 401
    assert "invalid_token" in replay.headers["WWW-Authenticate"]
    assert Actions.PERSONAL_TOKEN_REVOKED in _actions(app)


def test_another_user_cannot_revoke_my_token(app, client, auth):
    alice = auth.new_client("alice")
    secret = make_token(alice)
    row = _token_row(app)
    bob = auth.new_client("bob")
    assert bob.get(f"/account/tokens/{row.id}/revoke").status_code == 404
    assert (
        bob.post(
            f"/account/tokens/{row.id}/revoke", data={"csrf_token": page_csrf(bob, "/")}
        ).status_code
        == 404
    )
    # And the token is as it was: it still works for its owner.
    assert client.get("/devices", headers=bearer(secret)).status_code == 200
    assert Actions.PERSONAL_TOKEN_REVOKED not in _actions(app)


def test_revoked_through_the_api_or_by_an_admin_the_token_is_refused(app, client, auth):
    browser = auth.new_client("alice")
    first, second, third = (make_token(browser, name=n) for n in ("a", "b", "c"))
    with app.app_context():
        sessions = {
            t.name: str(t.session_id) for t in db.session.execute(select(PersonalToken)).scalars()
        }
    writer = auth.bearer("alice")
    assert client.delete(f"/auth/devices/{sessions['a']}", headers=writer).status_code == 204
    assert client.get("/devices", headers=bearer(first)).status_code == 401
    assert client.post(f"/sessions/{sessions['b']}/revoke", headers=writer).status_code == 200
    assert client.get("/devices", headers=bearer(second)).status_code == 401
    target = user_id(app, "alice")
    admin = auth.bearer("admin")
    url = f"/devices/users/{target}/{sessions['c']}"
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get("/devices", headers=bearer(third)).status_code == 401


def test_a_removed_token_device_stays_removed(app, client, auth):
    browser = auth.new_client("alice")
    secret = make_token(browser, scopes=("devices:read", "devices:write"))
    with app.app_context():
        device_id = str(
            db.session.execute(select(UserSession.device_id).join(PersonalToken)).scalar_one()
        )
    answer = client.delete(f"/devices/{device_id}", headers=bearer(secret))
    assert answer.status_code == 200
    assert client.get("/devices", headers=bearer(secret)).status_code == 401
    listed = client.get("/devices", headers=auth.bearer("alice")).get_json()["devices"]
    assert device_id not in {d["id"] for d in listed}


def test_expired_wrong_and_orphaned_tokens_are_refused(app, client, auth):
    browser = auth.new_client("alice")
    secret = make_token(browser)
    assert client.get("/devices", headers=bearer(secret)).status_code == 200
    # The same prefix, another secret; the right secret with a character changed.
    for wrong in ("dpt_" + "A" * 43, secret[:-1] + ("A" if secret[-1] != "A" else "B"), "dpt_"):
        assert client.get("/devices", headers=bearer(wrong)).status_code == 401
    with app.app_context():
        row = db.session.execute(select(UserSession).join(PersonalToken)).scalar_one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert client.get("/devices", headers=bearer(secret)).status_code == 401

    bob = auth.new_client("bob")
    bobs = make_token(bob)
    with app.app_context():
        db.session.delete(
            db.session.execute(select(User).where(User.subject == "bob")).scalar_one()
        )
        db.session.commit()
    assert client.get("/devices", headers=bearer(bobs)).status_code == 401


def test_a_token_sees_only_its_owners_devices(app, client, auth):
    auth.new_client("bob")
    secret = make_token(auth.new_client("alice"))
    bobs = client.get("/devices", headers=auth.bearer("bob")).get_json()["devices"]
    assert len(bobs) == 2  # his browser, and the API client that asked
    for device in bobs:
        assert client.get(f"/devices/{device['id']}", headers=bearer(secret)).status_code == 404


def test_tokens_work_without_an_api_audience(app_config, idp, database_url):
    """``make run`` configures no API audience (its IdP's tokens are opaque): personal tokens
    still work, IdP tokens are refused."""
    from support.app_setup import Auth

    from portal import create_app

    app_config["API_AUDIENCE"] = None
    app = create_app(app_config)
    auth = Auth(app, idp)
    # A name of its own: this app's database is not wiped first, and a working token's name
    # is taken.
    secret = make_token(auth.new_client("alice"), name="without an audience")
    client = app.test_client()
    assert client.get("/devices", headers=bearer(secret)).status_code == 200
    assert client.get("/devices", headers=auth.bearer("alice")).status_code == 401
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_token_form_refuses_bad_lifetimes_and_missing_csrf(app, auth):
    browser = auth.new_client("alice")
    csrf = page_csrf(browser, "/account/tokens")
    for days in ("0", "366", "x"):
        data = {"csrf_token": csrf, "name": "n", "scopes": ["devices:read"], "days": days}
        assert browser.post("/account/tokens", data=data).status_code == 400
    data = {"name": "n", "scopes": ["devices:read"], "days": "3"}
    assert browser.post("/account/tokens", data=data).status_code == 400
    with app.app_context():
        assert db.session.execute(select(PersonalToken)).first() is None


def test_a_personal_tokens_request_reads_it_in_one_statement(app, client, auth):
    from support.queries import count_queries

    secret = make_token(auth.new_client("alice"))
    client.get("/devices", headers=bearer(secret))  # first use: its address is recorded
    with app.app_context():
        engine = db.engine
    with count_queries(engine) as statements:
        assert client.get("/devices", headers=bearer(secret)).status_code == 200
    # The token with its session, user, device and grants in one row; then the devices.
    assert len(statements) == 2


def test_a_revoke_through_one_instance_is_refused_by_another_at_once(app, app_config, client, auth):
    """Nothing about a personal token is cached: a second instance (another worker or host on
    the same database) refuses it on the very next request after the first revoked it."""
    from portal import create_app

    secret = make_token(auth.new_client("alice"), scopes=("devices:read", "devices:write"))
    other = create_app(app_config)
    other_client = other.test_client()
    assert other_client.get("/devices", headers=bearer(secret)).status_code == 200
    row = _token_row(app)
    assert (
        client.post(f"/sessions/{row.session_id}/revoke", headers=bearer(secret)).status_code == 200
    )
    assert other_client.get("/devices", headers=bearer(secret)).status_code == 401
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_heartbeat_never_brings_a_tokens_expiry_closer(app, client, auth):
    """A token made for 30 days still lasts 30 days after its session's heartbeat (which
    slides a browser session by one lifetime, a few hours)."""
    secret = make_token(auth.new_client("alice"), scopes=("devices:read", "devices:write"))
    sessions = client.get("/sessions", headers=bearer(secret)).get_json()["sessions"]
    with app.app_context():
        row = db.session.get(UserSession, _token_row(app).session_id)
        before = row.expires_at
    assert before > utcnow() + timedelta(days=29)
    assert str(row.id) in {s["id"] for s in sessions}  # the token's own session is beaten too
    for s in sessions:
        answer = client.post(f"/sessions/{s['id']}/heartbeat", headers=bearer(secret))
        assert answer.status_code == 200, answer.get_json()
    with app.app_context():
        assert db.session.get(UserSession, row.id).expires_at == before
    assert client.get("/devices", headers=bearer(secret)).status_code == 200


# Issue 32, item 5: post, redirect, get; and one name per working token.


def _post_token(browser, name: str):
    data = {
        "csrf_token": page_csrf(browser, "/account/tokens"),
        "name": name,
        "scopes": ["devices:read"],
        "days": "30",
    }
    return browser.post("/account/tokens", data=data)


def _count_tokens(app) -> int:
    with app.app_context():
        return len(db.session.execute(select(PersonalToken)).all())


def test_the_created_page_shows_the_secret_once_and_a_reload_makes_nothing(app, auth):
    browser = auth.new_client("alice")
    posted = _post_token(browser, "backup job")
    assert posted.status_code == 303 and posted.headers["Location"].endswith("/account/tokens")
    assert "dpt_" not in posted.get_data(as_text=True)
    # The cookie carries the secret sealed, never in clear.
    cookie = browser.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    shown = browser.get(posted.headers["Location"])
    secret = shown.get_data(as_text=True).split('id="token-secret">', 1)[1].split("<", 1)[0]
    assert secret.startswith("dpt_") and shown.headers["Cache-Control"] == "no-store"
    assert secret not in cookie.value and secret[4:] not in cookie.value
    reloaded = browser.get("/account/tokens")
    assert reloaded.status_code == 200
    assert secret not in reloaded.get_data(as_text=True)
    assert 'id="token-secret"' not in reloaded.get_data(as_text=True)
    assert _count_tokens(app) == 1
    assert _actions(app).count(Actions.PERSONAL_TOKEN_CREATED) == 1


def test_a_second_working_token_of_one_name_is_refused(app, auth):
    browser = auth.new_client("alice")
    make_token(browser, name="deploy")
    refused = _post_token(browser, "deploy")
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "You already have a token named" in page and "deploy" in page
    assert 'id="token-secret"' not in page
    assert _count_tokens(app) == 1
    # Another user may use the name, and so may the same user with another one.
    make_token(auth.new_client("bob"), name="deploy")
    make_token(browser, name="deploy 2")
    assert _count_tokens(app) == 3


def test_a_revoked_or_expired_tokens_name_may_be_used_again(app, auth):
    """Decided: the name belongs to a token while it works. Once revoked (or expired: it then
    ends as ``expired`` at the moment it ran out), a new token may take the name; the old one
    stays listed with how it ended."""
    browser = auth.new_client("alice")
    make_token(browser, name="nightly")
    first = _token_row(app)
    form = page_csrf(browser, f"/account/tokens/{first.id}/revoke")
    assert browser.post(
        f"/account/tokens/{first.id}/revoke", data={"csrf_token": form}
    ).status_code in (302, 303)
    make_token(browser, name="nightly")
    second = _token_row(app)
    with app.app_context():
        session = db.session.get(UserSession, second.session_id)
        ran_out = utcnow() - timedelta(hours=1)
        session.expires_at = session.absolute_expires_at = ran_out
        db.session.commit()
    make_token(browser, name="nightly")
    assert _count_tokens(app) == 3
    with app.app_context():
        expired = db.session.get(UserSession, second.session_id)
        assert expired.end_reason == "expired"
        assert abs((expired.ended_at - ran_out).total_seconds()) < 1
        open_names = db.session.execute(
            select(PersonalToken.name).where(PersonalToken.ended_at.is_(None))
        ).all()
    assert open_names == [("nightly",)]


def test_the_database_refuses_two_open_tokens_of_one_name(app, auth):
    from sqlalchemy.exc import IntegrityError

    from portal.services import tokens

    make_token(auth.new_client("alice"), name="twice")
    with app.app_context():
        alice = db.session.execute(select(User).where(User.subject == "alice")).scalar_one()
        try:
            tokens.create(alice, name="twice", scopes=["devices:read"], days=3)
        except IntegrityError:
            db.session.rollback()
        else:
            raise AssertionError("a second open token of one name was stored")
