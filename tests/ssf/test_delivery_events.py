"""What the portal tells streams, and about whom: CAEP session-revoked for every end someone
decided (a person, an admin, a bulk job, a deactivation; not expiry nor a browser's own
sign-out), RISC account-disabled and account-enabled on deactivation and reactivation, each
subject in the stream's ``format`` (iss_sub, email; complex with the IdP session), every
event fanned out to every receiving stream in the change's transaction, in a number of
statements that does not grow with the users. Each SET is checked with two JOSE libraries."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select
from support.account_helpers import sessions_of
from support.admin_helpers import make_user
from support.alert_helpers import outbox_rows
from support.set_checks import event_of, verified
from support.ssf_delivery import admin_revokes
from support.ssf_streams import (
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    POLL,
    SESSION_REVOKED,
    bearer,
    create,
    stream_rows,
)

from portal.extensions import db
from portal.models import EndReason, User
from portal.services import operations
from portal.services.sessions import ending, opening
from portal.services.sessions import policy as sessions

SCIM_TOKEN = "scim-test-token-0123456789abcdef0123456789"


def poll_stream(client, token, **body) -> str:
    return create(client, token, delivery={"method": POLL}, **body)["stream_id"]


def polled(client, token, stream_id) -> list[dict]:
    """Every SET waiting on the stream, verified, oldest first."""
    r = client.post(
        f"/ssf/poll/{stream_id}", json={"returnImmediately": True}, headers=bearer(token)
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    jwks = client.get("/ssf/jwks.json").get_json()
    return [verified(t, jwks) for t in r.get_json()["sets"].values()]


def test_deactivation_and_reactivation_tell_each_stream_in_its_subject_format(
    streams_on, app, client, auth, receiver_tokens
):
    iss_sub = poll_stream(client, receiver_tokens())
    email = poll_stream(client, receiver_tokens("ssf-receiver-2"), format="email")
    auth.new_client("alice")
    [session] = sessions_of(app, "alice")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "deactivate", "alice@example.test"]).exit_code == 0
    assert runner.invoke(args=["users", "reactivate", "alice@example.test"]).exit_code == 0

    by_iss_sub = polled(client, receiver_tokens(), iss_sub)
    by_email = polled(client, receiver_tokens("ssf-receiver-2"), email)
    alice = {"format": "iss_sub", "iss": app.config["OIDC_ISSUER"], "sub": "alice"}
    assert [c["sub_id"] for c in by_iss_sub] == [alice] * 3
    assert [c["sub_id"] for c in by_email] == [
        {"format": "email", "email": "alice@example.test"}
    ] * 3
    for claims in (by_iss_sub, by_email):
        types = [event_of(c)[0] for c in claims]
        assert sorted(types) == sorted([SESSION_REVOKED, ACCOUNT_DISABLED, ACCOUNT_ENABLED])
        events = {event_of(c)[0]: event_of(c)[1] for c in claims}
        revoked = events[SESSION_REVOKED]
        assert revoked["initiating_entity"] == "admin"
        assert revoked["reason_admin"] == {"en": "Account deactivated in the device portal"}
        assert events[ACCOUNT_DISABLED]["reason_admin"]["en"]
        assert events[ACCOUNT_ENABLED]["reason_admin"]["en"]
        for c in claims:
            assert isinstance(event_of(c)[1]["event_timestamp"], int)
    assert session.idp_sid  # the browser's session was told, by the user alone
    rows = [r for r in outbox_rows(app) if r.recipient in (iss_sub, email)]
    assert {r.user_id for r in rows} == {session.user_id}


def test_a_deactivation_the_idp_asked_for_over_scim_tells_no_stream(
    streams_on, app_config, app, client, auth, receiver_tokens
):
    app.config["SCIM_TOKEN"] = SCIM_TOKEN
    stream = poll_stream(client, receiver_tokens())
    scim = {"Authorization": f"Bearer {SCIM_TOKEN}"}
    created = client.post(
        "/scim/v2/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "bob@example.test",
            "active": True,
        },
        headers=scim,
    )
    assert created.status_code == 201, created.data
    auth.new_client("bob")
    for active in (False, True):
        r = client.patch(
            f"/scim/v2/Users/{created.get_json()['id']}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "value": {"active": active}}],
            },
            headers=scim,
        )
        assert r.status_code == 200, r.data
    assert {s.end_reason for s in sessions_of(app, "bob")} == {"deactivated"}
    assert stream_rows(app, stream) == []


def test_a_complex_stream_gets_one_event_per_idp_session_and_others_one_per_user(
    streams_on, app, client, receiver_tokens
):
    """A user ending their other sessions keeps the one they are on: a user-level subject
    would end its counterpart too, so only the complex stream hears, without the kept
    browser's earlier sign-in (same IdP sid)."""
    by_user = poll_stream(client, receiver_tokens())
    by_session = poll_stream(client, receiver_tokens("ssf-receiver-2"), format="complex")
    policy = sessions.SessionPolicy(timedelta(hours=8), timedelta(hours=2), timedelta(hours=24))
    with app.app_context():
        user = make_user("carol", email="carol@example.test")

        def sign_in(sid, secret=None):
            return opening.record_sign_in(
                user,
                device_secret=secret,
                client=opening.ClientInfo("81.2.69.142", "Mozilla/5.0"),
                policy=policy,
                geoip_database=None,
                idp_sid=sid,
            )

        _, secret = sign_in("sid-here")
        current, _ = sign_in("sid-here", secret)
        sign_in("sid-laptop")
        sign_in("sid-phone")
        actor = operations.Actor(user, current, "127.0.0.1")
        assert operations.revoke_all_sessions(actor, user, include_current=False)[0] == 3
        db.session.commit()
    assert stream_rows(app, by_user) == []
    claims = polled(client, receiver_tokens("ssf-receiver-2"), by_session)
    assert sorted(c["sub_id"]["session"]["id"] for c in claims) == ["sid-laptop", "sid-phone"]
    assert {c["sub_id"]["user"]["sub"] for c in claims} == {"carol"}
    assert {event_of(c)[1]["initiating_entity"] for c in claims} == {"user"}
    assert {event_of(c)[1]["reason_admin"]["en"] for c in claims} == {
        "Revoked by the user in the device portal"
    }


def test_expiry_a_browsers_own_sign_out_and_token_sessions_tell_no_stream(
    streams_on, app, client, auth, receiver_tokens
):
    from support.admin_helpers import csrf_token

    stream = poll_stream(client, receiver_tokens())
    browser = auth.new_client("alice")
    browser.post("/logout", data={"csrf_token": csrf_token(browser)})
    assert client.get("/devices", headers=auth.bearer("bob")).status_code == 200
    [token_session] = sessions_of(app, "bob")
    assert token_session.idp_sid is None
    admin_revokes(app, auth, "bob")
    auth.new_client("viewer")
    [expiring] = sessions_of(app, "viewer")
    with app.app_context():
        from portal.models import UserSession

        row = db.session.get(UserSession, expiring.id)
        ending.end_session(row, EndReason.EXPIRED, by=None)
        db.session.commit()
    assert stream_rows(app, stream) == []


def test_a_removed_subject_gets_no_event_on_that_stream(
    streams_on, app, client, auth, receiver_tokens
):
    token = receiver_tokens()
    quiet = poll_stream(client, token)
    told = poll_stream(client, receiver_tokens("ssf-receiver-2"))
    r = client.post(
        "/ssf/subjects:remove",
        json={"stream_id": quiet, "subject": {"format": "email", "email": "Alice@Example.test"}},
        headers=bearer(token),
    )
    assert r.status_code == 204, r.data
    auth.new_client("alice")
    admin_revokes(app, auth, "alice")
    assert stream_rows(app, quiet) == []
    assert len(stream_rows(app, told)) == 1


def _statements_of_a_bulk_end(app, users: int) -> tuple[int, int]:
    """(statements, inserts into the outbox) of ending every session of ``users`` users in
    one locked batch, as a bulk sign-out job does."""
    policy = sessions.SessionPolicy(timedelta(hours=8), timedelta(hours=2), timedelta(hours=24))
    with app.app_context():
        targets = []
        for i in range(users):
            user = make_user(f"bulk{users}-{i}", email=f"bulk{users}-{i}@example.test")
            for n in range(2):
                row, _ = opening.record_sign_in(
                    user,
                    device_secret=None,
                    client=opening.ClientInfo("81.2.69.142", "Mozilla/5.0"),
                    policy=policy,
                    geoip_database=None,
                    idp_sid=f"sid-{users}-{i}-{n}",
                )
                targets.append((user.id, row.id))
        db.session.commit()
        seen: list[str] = []

        def count(conn, cursor, statement, *args):
            seen.append(statement)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            rows = ending.lock_open_sessions(targets)
            ending.end_locked_sessions(rows, EndReason.REVOKED_BY_ADMIN, by=None)
            db.session.commit()
        finally:
            event.remove(engine, "before_cursor_execute", count)
    inserts = [s for s in seen if s.lstrip().upper().startswith("INSERT INTO OUTBOX_MESSAGES")]
    return len(seen), len(inserts)


def test_a_bulk_end_fans_out_in_statements_that_do_not_grow_with_the_users(
    streams_on, app, client, receiver_tokens
):
    by_user = poll_stream(client, receiver_tokens())
    by_session = poll_stream(client, receiver_tokens("ssf-receiver-2"), format="complex")
    few = _statements_of_a_bulk_end(app, 2)
    many = _statements_of_a_bulk_end(app, 7)
    assert few == many and few[1] == 1  # one multi-row INSERT for every stream's rows
    assert len(stream_rows(app, by_user)) == 2 + 7  # one per user
    assert len(stream_rows(app, by_session)) == 2 * (2 + 7)  # one per IdP session
    with app.app_context():
        users = dict(db.session.execute(select(User.id, User.subject)).tuples().all())
    rows = stream_rows(app, by_session)
    assert all(users[r.user_id] == r.payload["claims"]["sub_id"]["user"]["sub"] for r in rows)


def test_a_streams_format_is_set_read_changed_and_checked(streams_on, client, receiver_tokens):
    token = receiver_tokens()
    stream = create(client, token, delivery={"method": POLL})
    assert stream["format"] == "iss_sub"
    r = client.patch(
        "/ssf/streams",
        json={"stream_id": stream["stream_id"], "format": "email"},
        headers=bearer(token),
    )
    assert r.status_code == 200 and r.get_json()["format"] == "email"
    r = client.get(f"/ssf/streams?stream_id={stream['stream_id']}", headers=bearer(token))
    assert r.get_json()["format"] == "email"
    r = client.post(
        "/ssf/streams",
        json={"delivery": {"method": POLL}, "format": "phone_number"},
        headers=bearer(token),
    )
    assert r.status_code == 400 and "format" in r.get_json()["error_description"]
