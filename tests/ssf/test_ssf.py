"""The portal tells the IdP when it ends a session: a CAEP session-revoked event (SSF 1.0), written
to the outbox with the session's end and pushed (RFC 8935) by the worker to the test IdP's
receiver, which verifies it and ends its own session of that browser.

The IdP is the real one (tests/idp/server.mjs, oidc-provider); the worker is ``flask worker
--once`` in this process. Whether the IdP still has a browser's session is asked as the browser
would: it goes to the IdP's authorization endpoint without ``prompt=login`` and either gets a
code at once (single sign-on) or meets the login form.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import urljoin

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select, update
from support.account_helpers import sessions_of
from support.admin_helpers import csrf_token, make_user, user_id_of
from support.alert_helpers import outbox_rows, run_worker
from support.http_browser import HttpBrowser
from support.idp import DUMMY_REDIRECT_URI, pkce_pair

from portal.extensions import db
from portal.models import OutboxMessage, User, UserSession, utcnow
from portal.services import operations
from portal.services.outbox import signals
from portal.services.sessions import opening
from portal.services.sessions import policy as sessions
from portal.ssf import push

BLOCK_IP = "198.51.100.7"


@pytest.fixture
def telling(app_config, idp, live_port, ssf_signing_key):
    """The portal tells the test IdP's receiver (request it before ``app``)."""
    app_config.update(
        SSF_RECEIVER_URL=idp.ssf_receiver_url,
        SSF_ISSUER=f"http://127.0.0.1:{live_port}",
        SSF_SIGNING_KEY_FILE=str(ssf_signing_key),
    )
    idp.ssf_reset()
    yield
    idp.ssf_reset()


@pytest.fixture
def browsers(live_server, idp):
    return lambda: HttpBrowser(live_server.url, idp)


def idp_signs_in_without_asking(browser: HttpBrowser, idp) -> bool:
    """The browser opens the IdP's authorization endpoint (no prompt): True when the IdP's
    single sign-on answers with a code at once, False when it shows its login form."""
    _, challenge = pkce_pair()
    url = idp.authorize_url(
        scope="openid",
        redirect_uri=DUMMY_REDIRECT_URI,
        state="s",
        nonce="n",
        code_challenge=challenge,
    )
    for _ in range(10):
        r = browser.http.get(url, allow_redirects=False, timeout=10)
        if r.is_redirect:
            url = urljoin(url, r.headers["Location"])
            if url.startswith(DUMMY_REDIRECT_URI):
                assert "code=" in url, url
                return True
            continue
        assert r.status_code == 200 and 'name="login"' in r.text, (r.status_code, r.text[:500])
        return False
    raise AssertionError("too many redirects at the IdP")


def _admin_revokes(app, admin, login: str, session_id) -> None:
    uid = user_id_of(app, login)
    form = {"csrf_token": csrf_token(admin, f"/admin/users/{uid}")}
    r = admin.post(f"/admin/users/{uid}/sessions/{session_id}/revoke", data=form)
    assert r.status_code == 302, r.data[:300]


def _make_due(app) -> None:
    with app.app_context():
        db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        db.session.commit()


def _signals(app) -> list[OutboxMessage]:
    return [row for row in outbox_rows(app) if row.kind == signals.KIND]


# -- the IdP's session really ends ------------------------------------------------------------


def test_after_an_admin_revokes_a_browser_and_the_worker_runs_the_idps_session_is_gone(
    telling, app, auth, idp, browsers
):
    laptop, phone = browsers(), browsers()
    laptop.sign_in("alice")
    phone.sign_in("alice")
    laptop_session, _ = sorted(sessions_of(app, "alice"), key=lambda s: s.created_at)
    assert idp_signs_in_without_asking(laptop, idp)

    _admin_revokes(app, auth.new_client("admin"), "alice", laptop_session.id)

    [row] = _signals(app)  # queued with the revoke...
    assert row.status == "pending" and row.payload["session_id"] == str(laptop_session.id)
    assert idp_signs_in_without_asking(laptop, idp)  # ...and the IdP not told yet

    run_worker(app)

    assert idp.ssf_pushes() == [{"jti": row.message_id, "status": 202, "err": None}]
    [row] = _signals(app)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert not idp_signs_in_without_asking(laptop, idp)  # the IdP asks for credentials again
    assert idp_signs_in_without_asking(phone, idp)  # the other browser keeps its IdP session
    assert phone.signed_in()


def test_without_a_receiver_nothing_is_queued_and_the_idps_session_stays(app, auth, idp, browsers):
    laptop = browsers()
    laptop.sign_in("alice")
    [session] = sessions_of(app, "alice")
    assert session.idp_sid

    _admin_revokes(app, auth.new_client("admin"), "alice", session.id)
    run_worker(app)

    assert outbox_rows(app) == []
    assert idp_signs_in_without_asking(laptop, idp)
    assert app.test_client().get("/.well-known/ssf-configuration").status_code == 404
    assert app.test_client().get("/ssf/jwks.json").status_code == 404


# -- what is queued, and when ------------------------------------------------------------------


def _crowd(app, n: int = 5) -> list[uuid.UUID]:
    """``n`` users, each signed in from BLOCK_IP with an IdP sid, and once from elsewhere."""
    made = []
    policy = sessions.SessionPolicy(timedelta(hours=8), timedelta(hours=2), timedelta(hours=24))
    with app.app_context():
        for i in range(n):
            user = make_user(f"ssf{i}")
            for ip, sid in ((BLOCK_IP, f"sid-block-{i}"), ("81.2.69.142", f"sid-home-{i}")):
                row, _ = opening.record_sign_in(
                    user,
                    device_secret=None,
                    client=opening.ClientInfo(ip, "Mozilla/5.0"),
                    policy=policy,
                    geoip_database=None,
                    idp_sid=sid,
                )
                if ip == BLOCK_IP:
                    made.append(row.id)
        db.session.commit()
    return made


def test_a_bulk_sign_out_queues_one_event_per_ended_session_in_the_jobs_transaction(
    telling, app, client, auth, idp
):
    block = _crowd(app)
    r = client.post("/sign-ins/revoke", json={"ip": BLOCK_IP}, headers=auth.bearer("manager"))
    assert r.status_code == 202, r.data
    assert _signals(app) == []  # the job is queued; nothing has ended yet

    with app.app_context():  # one batch, in the worker's transaction, rolled back
        assert operations.run_bulk_job_batch(batch_size=100)
        queued = db.session.execute(select(OutboxMessage)).scalars().all()
        assert len(queued) == len(block)
        db.session.rollback()
    assert _signals(app) == []  # gone with the batch
    with app.app_context():
        assert all(db.session.get(UserSession, sid).ended_at is None for sid in block)

    run_worker(app)  # the job's batches, then the events they queued

    rows = _signals(app)
    assert sorted(r.payload["session_id"] for r in rows) == sorted(map(str, block))
    assert {r.status for r in rows} == {"sent"}
    sids = {r.payload["claims"]["sub_id"]["session"]["id"] for r in rows}
    assert sids == {f"sid-block-{i}" for i in range(len(block))}
    assert len({r.payload["claims"]["txn"] for r in rows}) == 1  # one batch, one transaction
    assert {
        r.payload["claims"]["events"][signals.SESSION_REVOKED]["initiating_entity"] for r in rows
    } == {"admin"}
    assert sorted(p["jti"] for p in idp.ssf_pushes()) == sorted(r.message_id for r in rows)


def test_a_revoke_that_rolls_back_leaves_no_event(telling, app):
    _crowd(app, 1)
    with app.app_context():
        user = db.session.execute(select(User).where(User.subject == "ssf0")).scalar_one()
        actor = operations.Actor(user, None, "127.0.0.1")
        ended, _ = operations.revoke_all_sessions(actor, user, include_current=False)
        assert ended == 2 and len(db.session.execute(select(OutboxMessage)).all()) == 2
        db.session.rollback()
    assert outbox_rows(app) == []


def test_a_back_channel_logout_from_the_idp_queues_no_event(telling, app, auth, idp):
    auth.new_client("alice")
    [row] = sessions_of(app, "alice")
    token = idp.logout_token(sub="alice", sid=row.idp_sid)
    r = app.test_client().post("/auth/backchannel-logout", data={"logout_token": token})
    assert r.status_code == 200, r.data
    [row] = sessions_of(app, "alice")
    assert row.end_reason == "idp_logout"
    assert outbox_rows(app) == []


def test_sessions_without_an_idp_sid_and_plain_sign_outs_queue_no_event(telling, app, auth):
    client = app.test_client()
    assert client.get("/devices", headers=auth.bearer("bob")).status_code == 200
    [token_session] = sessions_of(app, "bob")  # a bearer token's session: no IdP sid
    assert token_session.idp_sid is None
    admin = auth.new_client("admin")
    uid = user_id_of(app, "bob")
    form = {"csrf_token": csrf_token(admin, f"/admin/users/{uid}")}
    assert admin.post(f"/admin/users/{uid}/revoke-all", data=form).status_code == 302
    assert {s.end_reason for s in sessions_of(app, "bob")} == {"revoked_by_admin"}

    browser = auth.new_client("alice")
    browser.post("/logout", data={"csrf_token": csrf_token(browser)})  # this browser's own
    assert {s.end_reason for s in sessions_of(app, "alice")} == {"signed_out"}
    assert outbox_rows(app) == []


def test_a_user_ending_their_other_sessions_keeps_the_idp_session_of_their_own_browser(
    telling, app
):
    """An earlier sign-in of the browser the user is on shares its IdP sid: telling the IdP
    about it would sign that browser, which the user is keeping, out of the IdP too."""
    policy = sessions.SessionPolicy(timedelta(hours=8), timedelta(hours=2), timedelta(hours=24))
    with app.app_context():
        user = make_user("carol")

        def sign_in(sid, secret=None):
            return opening.record_sign_in(
                user,
                device_secret=secret,
                client=opening.ClientInfo("81.2.69.142", "Mozilla/5.0"),
                policy=policy,
                geoip_database=None,
                idp_sid=sid,
            )

        _, secret = sign_in("sid-this-browser")
        current, _ = sign_in("sid-this-browser", secret)  # signed in again, IdP SSO
        sign_in("sid-other-browser")
        actor = operations.Actor(user, current, "127.0.0.1")
        ended, _ = operations.revoke_all_sessions(actor, user, include_current=False)
        assert ended == 2
        db.session.commit()
    [row] = _signals(app)
    assert row.payload["claims"]["sub_id"]["session"]["id"] == "sid-other-browser"
    assert row.payload["claims"]["events"][signals.SESSION_REVOKED]["initiating_entity"] == "user"


# -- delivery ----------------------------------------------------------------------------------


def test_a_receiver_answering_500_then_202_gets_the_event_once_with_the_same_jti(
    telling, app, auth, idp
):
    auth.new_client("alice")
    [session] = sessions_of(app, "alice")
    _admin_revokes(app, auth.new_client("admin"), "alice", session.id)
    idp.ssf_answer_next(500)

    run_worker(app)
    [row] = _signals(app)
    assert row.status == "pending" and row.attempts == 1 and "HTTP 500" in row.last_error
    assert row.next_attempt_at > utcnow() + timedelta(seconds=20)  # backs off
    run_worker(app)  # not due yet: not pushed again
    assert len(idp.ssf_pushes()) == 1

    _make_due(app)
    run_worker(app)
    run_worker(app)
    [row] = _signals(app)
    assert row.status == "sent" and row.attempts == 2
    assert [(p["jti"], p["status"]) for p in idp.ssf_pushes()] == [
        (row.message_id, 500),
        (row.message_id, 202),
    ]


@pytest.fixture
def telling_another_audience(telling, app_config):
    """Events addressed to an audience the IdP's receiver does not answer to."""
    app_config["SSF_AUDIENCE"] = "https://someone-else.example"


def test_a_400_from_the_receiver_marks_the_event_failed_and_it_is_not_retried(
    telling_another_audience, app, auth, idp
):
    auth.new_client("alice")
    [session] = sessions_of(app, "alice")
    _admin_revokes(app, auth.new_client("admin"), "alice", session.id)

    run_worker(app)
    [row] = _signals(app)
    assert row.status == "failed" and row.attempts == 1
    assert row.last_error.startswith("HTTP 400 invalid_audience"), row.last_error
    _make_due(app)
    run_worker(app)
    assert len(idp.ssf_pushes()) == 1 and _signals(app)[0].attempts == 1

    admin = auth.new_client("admin")
    page = admin.get(f"/admin/users/{user_id_of(app, 'alice')}").get_data(as_text=True)
    section = page.split('id="idp-signals"')[1].split("</table>")[0]
    assert "Refused" in section and "invalid_audience" in section


def test_a_worker_that_dies_after_claiming_delays_the_event_and_it_is_pushed_once(
    telling, app, auth, idp
):
    auth.new_client("alice")
    [session] = sessions_of(app, "alice")
    _admin_revokes(app, auth.new_client("admin"), "alice", session.id)
    with app.app_context():  # a worker claims the event, then dies before pushing it
        from portal.services.outbox import queue

        assert len(queue.claim_due(10, kinds=(signals.KIND,))) == 1
        db.session.commit()
    run_worker(app)  # another worker leaves it alone while the lease holds
    assert idp.ssf_pushes() == []
    _make_due(app)
    run_worker(app)
    [row] = _signals(app)
    assert row.status == "sent" and row.attempts == 2
    assert [p["jti"] for p in idp.ssf_pushes()] == [row.message_id]


# -- the transmitter's metadata and keys ---------------------------------------------------------


def test_the_configuration_and_keys_are_published_and_verify_the_set(
    telling, app, client, auth, live_port
):
    origin = f"http://127.0.0.1:{live_port}"
    config = client.get("/.well-known/ssf-configuration")
    assert config.status_code == 200
    body = config.get_json()
    assert body["issuer"] == origin and body["spec_version"] == "1_0"
    assert body["jwks_uri"] == origin + "/ssf/jwks.json"
    assert body["delivery_methods_supported"] == ["urn:ietf:rfc:8935"]
    assert body["events_supported"] == [signals.SESSION_REVOKED]
    published = client.get("/ssf/jwks.json").get_json()
    assert all("d" not in key for key in published["keys"])  # public halves only

    auth.new_client("alice")
    [session] = sessions_of(app, "alice")
    _admin_revokes(app, auth.new_client("admin"), "alice", session.id)
    [row] = _signals(app)
    with app.app_context():
        token = push.sign(row.payload["claims"])
    decoded = jwt.decode(token, KeySet.import_key_set(published))
    assert decoded.header["typ"] == "secevent+jwt"
    assert decoded.header["kid"] == published["keys"][0]["kid"]
    claims = decoded.claims
    assert claims["iss"] == origin and claims["aud"] == app.config["OIDC_ISSUER"]
    assert claims["jti"] == row.message_id and isinstance(claims["iat"], int)
    assert claims["sub_id"] == {
        "format": "complex",
        "session": {"format": "opaque", "id": session.idp_sid},
        "user": {"format": "iss_sub", "iss": app.config["OIDC_ISSUER"], "sub": "alice"},
    }
    event = claims["events"][signals.SESSION_REVOKED]
    assert event["initiating_entity"] == "admin"
    assert event["reason_admin"] == {"en": "Revoked by an admin in the device portal"}
    assert abs(event["event_timestamp"] - claims["iat"]) <= 1


def test_the_mail_sender_and_the_event_pusher_each_take_only_their_own_kind(
    telling, app_config, smtp, app, auth, idp
):
    """One outbox, two kinds: with mail on, the mail sender leaves the IdP's events alone."""
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port, ALERTS_ENABLED=True)
    app.config["MAIL_BACKEND"] = "smtp"
    auth.new_client("alice")
    [session] = sessions_of(app, "alice")
    _admin_revokes(app, auth.new_client("admin"), "alice", session.id)
    with app.app_context():
        from portal.alerts.mail import send_due_mail

        def transaction(step):
            result = step()
            db.session.commit()
            return result

        assert send_due_mail(transaction, 20) == 0
    run_worker(app)
    [row] = _signals(app)
    assert row.status == "sent" and row.attempts == 1


@pytest.fixture
def telling_with_scim(telling, app_config):
    app_config["SCIM_TOKEN"] = SCIM_TOKEN


SCIM_TOKEN = "scim-test-token-0123456789abcdef0123456789"


def test_a_deactivation_by_the_cli_is_told_and_one_the_idp_asked_for_over_scim_is_not(
    telling_with_scim, app, auth
):
    auth.new_client("alice")
    auth.new_client("bob")
    cli = app.test_cli_runner().invoke(args=["users", "deactivate", "alice@example.test"])
    assert cli.exit_code == 0, cli.output
    [row] = _signals(app)
    assert row.payload["session_id"] == str(sessions_of(app, "alice")[0].id)

    scim = {"Authorization": f"Bearer {SCIM_TOKEN}"}
    client = app.test_client()
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
    off = client.patch(
        f"/scim/v2/Users/{created.get_json()['id']}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": False}}],
        },
        headers=scim,
    )
    assert off.status_code == 200, off.data
    assert {s.end_reason for s in sessions_of(app, "bob")} == {"deactivated"}
    assert len(_signals(app)) == 1  # alice's only
