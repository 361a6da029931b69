"""The portal as a Shared Signals receiver: what each event a transmitter pushes to
``POST /ssf/events`` (RFC 8935) does, on the next request of every affected browser and token.

The transmitter is a small one of the tests' own (``support.ssf_transmitter``): its keys are
served over HTTP and its SETs signed with joserfc; browsers and tokens come from the real IdP.
"""

from __future__ import annotations

import time

from support.account_helpers import audit_actions, sessions_of
from support.alert_helpers import outbox_rows
from support.http_browser import HttpBrowser
from support.ssf_transmitter import (
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    CREDENTIAL_CHANGE,
    SESSION_REVOKED,
    TOKEN_CLAIMS_CHANGE,
    email,
    iss_sub,
    push,
)

from portal.extensions import db
from portal.models import ReceivedSet, User


def signed_in(browser) -> bool:
    page = browser.get("/")
    assert page.status_code == 200
    return b'id="devices"' in page.data


def open_sessions(app, login: str) -> set:
    return {s.id for s in sessions_of(app, login) if s.ended_at is None}


def received(app) -> list:
    return audit_actions(app, "ssf_event_received")


def test_session_revoked_for_a_user_ends_every_browser_and_token_of_theirs_at_the_next_request(
    receiving, app, auth, idp
):
    laptop, phone, bob = auth.new_client("alice"), auth.new_client("alice"), auth.new_client("bob")
    token = auth.bearer("alice")
    api = app.test_client()
    assert api.get("/devices", headers=token).status_code == 200  # verified and cached

    answer = push(
        app.test_client(), receiving.set_of(SESSION_REVOKED, iss_sub(idp.issuer, "alice"))
    )

    assert answer.status_code == 202 and answer.data == b""
    assert not signed_in(laptop) and not signed_in(phone)
    assert api.get("/devices", headers=token).status_code == 401
    assert signed_in(bob)
    assert open_sessions(app, "alice") == set()
    assert {s.end_reason for s in sessions_of(app, "alice")} == {"idp_logout"}
    [event] = received(app)
    assert event.detail["transmitter"] == receiving.issuer
    assert event.detail["event"] == "session-revoked" and event.detail["sessions_ended"] == 3
    assert event.detail["jti"] and event.via == "ssf"
    assert outbox_rows(app) == []


def test_session_revoked_for_an_email_subject_ends_that_users_sessions(receiving, app, auth):
    alice, bob = auth.new_client("alice"), auth.new_client("bob")

    answer = push(app.test_client(), receiving.set_of(SESSION_REVOKED, email("Alice@Example.test")))

    assert answer.status_code == 202
    assert not signed_in(alice) and signed_in(bob)


def test_session_revoked_naming_the_idp_session_ends_only_that_browsers_session(
    receiving, app, auth, idp
):
    laptop, phone = auth.new_client("alice"), auth.new_client("alice")
    newest = max(sessions_of(app, "alice"), key=lambda s: s.created_at)
    subject = {
        "format": "complex",
        "user": iss_sub(idp.issuer, "alice"),
        "session": {"format": "opaque", "id": newest.idp_sid},
    }

    answer = push(app.test_client(), receiving.set_of(SESSION_REVOKED, subject))

    assert answer.status_code == 202
    assert not signed_in(phone) and signed_in(laptop)
    assert received(app)[0].detail["sessions_ended"] == 1


def test_credential_change_ends_the_sessions_and_the_next_sign_in_must_give_credentials(
    receiving, app, live_server, idp
):
    laptop = HttpBrowser(live_server.url, idp)
    laptop.sign_in("alice")
    token = {"Authorization": f"Bearer {idp.access_token('alice')}"}
    api = app.test_client()
    assert api.get("/devices", headers=token).status_code == 200  # verified and cached
    time.sleep(1.02 - time.time() % 1)  # auth_time has whole seconds

    answer = push(
        app.test_client(),
        receiving.set_of(
            CREDENTIAL_CHANGE,
            email("alice@example.test"),
            {"credential_type": "password", "change_type": "update"},
        ),
    )

    assert answer.status_code == 202
    assert not laptop.signed_in()
    assert api.get("/devices", headers=token).status_code == 401
    # The IdP's own session is alive, yet the portal sends the browser back for credentials.
    assert laptop.at_idp_login_form(laptop.press_sign_in())


def test_account_disabled_deactivates_and_account_enabled_reactivates_without_telling_the_idp(
    receiving, app_config, idp, live_port, ssf_signing_key, app, auth, client
):
    alice = auth.new_client("alice")
    token = auth.bearer("alice")
    assert client.get("/devices", headers=token).status_code == 200

    disabled = push(
        app.test_client(), receiving.set_of(ACCOUNT_DISABLED, iss_sub(idp.issuer, "alice"))
    )

    assert disabled.status_code == 202
    assert not signed_in(alice)
    refused = client.get("/devices", headers=token)
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "The account is deactivated"
    assert auth.sign_in(app.test_client(), "alice").status_code == 403
    [deactivated] = audit_actions(app, "deactivate_user")
    assert deactivated.via == "ssf" and deactivated.detail["sessions_ended"] == 2

    enabled = push(
        app.test_client(), receiving.set_of(ACCOUNT_ENABLED, iss_sub(idp.issuer, "alice"))
    )

    assert enabled.status_code == 202
    assert signed_in(auth.new_client("alice"))
    assert [e.detail["event"] for e in received(app)] == ["account-disabled", "account-enabled"]


def test_account_disabled_is_not_echoed_to_the_idp_the_portal_tells(
    receiving, app_config, idp, live_port, ssf_signing_key, app, auth
):
    app.config.update(
        SSF_RECEIVER_URL=idp.ssf_receiver_url,
        SSF_ISSUER=f"http://127.0.0.1:{live_port}",
        SSF_SIGNING_KEY_FILE=str(ssf_signing_key),
    )
    from portal.services.outbox import signals

    with app.app_context():
        signals.use_transmitter(db.engine, signals.Transmitter.from_config(app.config))
    auth.new_client("alice")

    answer = push(
        app.test_client(), receiving.set_of(ACCOUNT_DISABLED, email("alice@example.test"))
    )

    assert answer.status_code == 202
    assert open_sessions(app, "alice") == set()
    assert outbox_rows(app) == []


def test_token_claims_change_with_groups_changes_permissions_at_the_next_request(
    receiving, app, auth, idp
):
    alice = auth.new_client("alice")
    assert alice.get("/admin/users").status_code == 403

    claims = {"claims": {"groups": ["portal-admins"]}, "event_timestamp": int(time.time())}
    answer = push(
        app.test_client(),
        receiving.set_of(TOKEN_CLAIMS_CHANGE, iss_sub(idp.issuer, "alice"), claims),
    )

    assert answer.status_code == 202
    assert alice.get("/admin/users").status_code == 200
    with app.app_context():
        groups = db.session.query(User.groups).filter(User.subject == "alice").scalar()
    assert groups == ["portal-admins"]


def test_an_unknown_subject_or_event_type_is_accepted_audited_and_changes_nothing(
    receiving, app, auth, idp
):
    alice = auth.new_client("alice")
    unknown_user = receiving.set_of(SESSION_REVOKED, iss_sub(idp.issuer, "nobody"))
    unknown_event = receiving.set_of(
        "https://example.test/event-type/something-else", iss_sub(idp.issuer, "alice")
    )

    assert push(app.test_client(), unknown_user).status_code == 202
    assert push(app.test_client(), unknown_event).status_code == 202

    assert signed_in(alice)
    ignored = [e.detail["ignored"] for e in received(app)]
    assert sorted(ignored) == ["unknown event type", "unknown subject"]


def test_a_replayed_set_is_accepted_and_changes_nothing(receiving, app, auth, idp):
    auth.new_client("alice")
    token = receiving.set_of(SESSION_REVOKED, iss_sub(idp.issuer, "alice"))
    assert push(app.test_client(), token).status_code == 202
    again = auth.new_client("alice")  # signs in again after the revoke

    replayed = push(app.test_client(), token)

    assert replayed.status_code == 202
    assert signed_in(again)
    assert len(received(app)) == 1
    with app.app_context():
        assert db.session.query(ReceivedSet).count() == 1


def test_without_a_transmitter_the_endpoint_is_not_found(app, transmitter):
    answer = push(app.test_client(), transmitter.set_of(SESSION_REVOKED, email("a@b.test")))

    assert answer.status_code == 404


def test_session_revoked_naming_only_the_idp_session_ends_that_session(receiving, app, auth):
    laptop, phone = auth.new_client("alice"), auth.new_client("alice")
    newest = max(sessions_of(app, "alice"), key=lambda s: s.created_at)
    subject = {"format": "complex", "session": {"format": "opaque", "id": newest.idp_sid}}

    assert push(app.test_client(), receiving.set_of(SESSION_REVOKED, subject)).status_code == 202

    assert not signed_in(phone) and signed_in(laptop)


def test_an_idp_session_with_a_user_the_portal_does_not_know_ends_nothing(
    receiving, app, auth, idp
):
    alice = auth.new_client("alice")
    [session] = sessions_of(app, "alice")
    subject = {
        "format": "complex",
        "user": iss_sub(idp.issuer, "somebody-else"),
        "session": {"format": "opaque", "id": session.idp_sid},
    }

    assert push(app.test_client(), receiving.set_of(SESSION_REVOKED, subject)).status_code == 202

    assert signed_in(alice)
    assert received(app)[0].detail["ignored"] == "unknown subject"
