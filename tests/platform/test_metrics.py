"""Prometheus metrics: each one counts what it says after the portal does it, with the real
parts (the test IdP, the SMTP server, the worker), and ``/metrics`` answers only with its token.

The counters of one test process add up over its tests, so each test compares two scrapes.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select, update
from support.account_helpers import sessions_of
from support.admin_helpers import csrf_token, make_user, user_id_of
from support.agents import IPHONE
from support.alert_helpers import run_worker, use_mail_server
from support.app_setup import make_config
from support.metrics_helpers import AUTHORIZATION, TOKEN, grew, parse, scrape, value

from portal import create_app, metrics
from portal.extensions import db
from portal.models import BulkJob, EndReason, OutboxMessage, User, UserSession, utcnow
from portal.services.sessions import ending

SCIM_TOKEN = "scim-token-" + "s" * 30


@pytest.fixture
def app_config(app_config):
    return {
        **app_config,
        "METRICS_TOKEN": TOKEN,
        "SCIM_TOKEN": SCIM_TOKEN,
        "RATELIMIT_SIGN_IN": "50 per minute",
        "RATELIMIT_API": "3 per minute",
    }


# -- who may read them ---------------------------------------------------------------------------


def test_without_a_token_configured_metrics_are_not_served(idp, database_url):
    app = create_app(make_config(idp, database_url))
    response = app.test_client().get("/metrics", headers=AUTHORIZATION)
    assert response.status_code == 404
    assert b"portal_" not in response.data


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}"],
)
def test_a_scrape_without_the_token_is_refused(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"portal_" not in response.data


def test_a_scrape_with_the_token_gets_the_exposition_format(client):
    response = client.get("/metrics", headers=AUTHORIZATION)
    assert response.status_code == 200
    assert response.mimetype == "text/plain" and "version=0.0.4" in response.content_type
    assert "Set-Cookie" not in response.headers
    samples = parse(response.get_data(as_text=True))
    assert value(samples, "portal_database_up") == 1
    [build] = [labels for name, labels in samples if name == "portal_build_info"]
    assert dict(build)["version"] == "0.1.0" and dict(build)["schema_revision"]


def test_the_token_is_at_least_32_characters():
    from portal.config import ConfigError, read

    with pytest.raises(ConfigError, match="PORTAL_METRICS_TOKEN"):
        read({"ENV": "testing", "METRICS_TOKEN": "short"})
    with pytest.raises(ConfigError, match="PORTAL_METRICS_DIR"):
        read({"ENV": "testing", "METRICS_BIND": "127.0.0.1:9464"})
    with pytest.raises(ConfigError, match="PORTAL_METRICS_BIND"):
        read({"ENV": "testing", "METRICS_BIND": "nowhere", "METRICS_DIR": "/tmp"})


# -- requests ------------------------------------------------------------------------------------


def test_requests_are_counted_by_route_template_method_and_status_class(app, client, auth):
    admin = auth.new_client("admin")
    user_id = user_id_of(app, "admin")
    before = scrape(client)
    for _ in range(3):
        assert admin.get(f"/admin/users/{user_id}").status_code == 200
    assert client.get(f"/admin/users/{uuid.uuid4()}/nothing-here").status_code == 404
    assert client.get("/livez").status_code == 200
    assert client.open("/livez", method="BREW").status_code == 405
    after = scrape(client)

    page = {"route": "/admin/users/<user_id>", "method": "GET"}
    assert grew(before, after, "portal_http_requests_total", status_class="2xx", **page) == 3
    assert grew(before, after, "portal_http_request_duration_seconds_count", **page) == 3
    assert grew(before, after, "portal_http_request_duration_seconds_bucket", le="2.0", **page) == 3
    assert grew(before, after, "portal_http_request_duration_seconds_sum", **page) > 0
    assert (
        grew(
            before,
            after,
            "portal_http_requests_total",
            route="unmatched",
            method="GET",
            status_class="4xx",
        )
        == 1
    )
    assert (
        grew(
            before,
            after,
            "portal_http_requests_total",
            route="unmatched",
            method="other",
            status_class="4xx",
        )
        == 1
    )
    livez = {"route": "/livez", "method": "GET", "status_class": "2xx"}
    assert grew(before, after, "portal_http_requests_total", **livez) == 1
    buckets = sorted(
        float(dict(labels)["le"])
        for name, labels in after
        if name == "portal_http_request_duration_seconds_bucket"
        and dict(labels).get("route") == "/livez"
    )
    assert buckets[:2] == [0.001, 0.0025] and buckets[-2:] == [2.0, float("inf")]


# -- sign-ins and sessions -----------------------------------------------------------------------


def _sign_ins(before, after) -> dict[str, float]:
    grown = {
        outcome: grew(before, after, "portal_sign_ins_total", outcome=outcome)
        for outcome in metrics.SIGN_IN_OUTCOMES
    }
    return {outcome: n for outcome, n in grown.items() if n}


def _start(client) -> str:
    response = client.get("/login")
    assert response.status_code == 302
    return response.headers["Location"]


def _tamper_pending(client, key, value):
    with client.session_transaction() as s:
        state_key = next(k for k in s if k.startswith("_state_idp_"))
        pending = dict(s[state_key])
        pending["data"] = dict(pending["data"], **{key: value})
        s[state_key] = pending


def test_sign_ins_are_counted_by_outcome(app, client, auth, idp):
    before = scrape(client)
    auth.new_client("alice")
    auth.new_client("bob")
    assert _sign_ins(before, scrape(client)) == {"signed_in": 2}

    before = scrape(client)
    callback = urlsplit(idp.login_through(requests.Session(), _start(client), "alice"))
    tampered = callback.query.replace("state=", "state=x")
    assert client.get(f"{callback.path}?{tampered}").status_code == 400

    browser = app.test_client()
    authorize_url = _start(browser)
    _tamper_pending(browser, "nonce", "not-the-nonce-that-was-sent")
    callback = urlsplit(idp.login_through(requests.Session(), authorize_url, "alice"))
    assert browser.get(f"{callback.path}?{callback.query}").status_code == 400

    assert client.get("/auth/callback?error=access_denied").status_code == 400
    assert _sign_ins(before, scrape(client)) == {
        "refused_state": 1,
        "refused_nonce": 1,
        "idp_error": 1,
    }


def test_a_deactivated_account_s_sign_in_is_counted_as_refused(app, client, auth):
    auth.new_client("bob")
    with app.app_context():
        db.session.execute(
            update(User).where(User.subject == "bob").values(deactivated_at=utcnow())
        )
        db.session.commit()
    before = scrape(client)
    assert auth.sign_in(app.test_client(), "bob").status_code == 403
    assert _sign_ins(before, scrape(client)) == {"refused_deactivated": 1}


def test_a_bearer_token_s_first_use_is_an_api_sign_in(client, auth):
    headers = auth.bearer("alice")
    before = scrape(client)
    assert client.get("/devices", headers=headers).status_code == 200
    assert client.get("/devices", headers=headers).status_code == 200  # the same session
    assert _sign_ins(before, scrape(client)) == {"signed_in_api": 1}


def test_a_revoke_ends_a_session_and_the_revoked_browser_is_asked_for_credentials(
    app, client, alice
):
    before = scrape(client)
    csrf = alice.laptop.csrf()
    assert alice.laptop.post(
        f"/account/devices/{alice.phone_device}/sign-out", {"csrf_token": csrf}
    ).ok
    after = scrape(client)
    assert grew(before, after, "portal_sessions_ended_total", how="revoked") == 1
    assert (
        sum(grew(before, after, "portal_sessions_ended_total", how=r.value) for r in EndReason) == 1
    )

    page = alice.phone.press_sign_in()
    assert alice.phone.at_idp_login_form(page)
    assert 'id="devices"' in alice.phone.submit_login(page, "alice").text
    assert _sign_ins(after, scrape(client)) == {"credentials_required": 1, "signed_in": 1}


def test_sessions_ended_count_only_when_their_end_commits(app, client, auth):
    auth.new_client("alice")
    auth.new_client("alice")
    user = user_id_of(app, "alice")
    before = scrape(client)
    with app.app_context():
        ended = ending.end_sessions(user_id=user, reason=EndReason.REVOKED_BY_ADMIN, by=None)
        assert ended == 2
        db.session.rollback()  # as a refused request is
    middle = scrape(client)
    assert grew(before, middle, "portal_sessions_ended_total", how="revoked_by_admin") == 0
    with app.app_context():
        ending.end_sessions(user_id=user, reason=EndReason.REVOKED_BY_ADMIN, by=None)
        db.session.commit()
    after = scrape(client)
    assert grew(middle, after, "portal_sessions_ended_total", how="revoked_by_admin") == 2


def test_a_refused_revoke_counts_no_session_ended(app, client, auth):
    """A revoke of another user's session is not found (404) and rolls back."""
    auth.new_client("bob")
    [bobs] = sessions_of(app, "bob")
    alice_ = auth.new_client("alice")
    before = scrape(client)
    form = {"csrf_token": csrf_token(alice_, "/")}
    response = alice_.post(f"/account/devices/{bobs.device_id}/sign-out", data=form)
    assert response.status_code == 404
    after = scrape(client)
    assert not any(
        grew(before, after, "portal_sessions_ended_total", how=r.value) for r in EndReason
    )


# -- alerts and Shared Signals through the worker ----------------------------------------------


@pytest.fixture
def mailing(app_config, smtp):
    """The app sends alerts to the test SMTP server (request it before ``app``)."""
    use_mail_server(app_config, smtp.port)


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


def test_an_alert_is_queued_with_its_sign_in_and_sent_by_the_worker(
    mailing, smtp, app, client, auth
):
    auth.new_client("alice")
    before = scrape(client)
    auth.new_client("alice", user_agent=IPHONE)  # a new device: mailed about
    middle = scrape(client)
    assert grew(before, middle, "portal_alerts_total", state="queued") == 1
    assert value(middle, "portal_outbox_messages_waiting", kind="sign_in_alert") == 1
    assert value(middle, "portal_outbox_oldest_age_seconds", kind="sign_in_alert") >= 0

    smtp.stop()  # the mail server is down: the attempt fails, the mail waits
    run_worker(app)
    down = scrape(client)
    assert grew(middle, down, "portal_alerts_total", state="failed") == 1
    assert grew(middle, down, "portal_alerts_total", state="sent") == 0
    assert value(down, "portal_outbox_messages_waiting", kind="sign_in_alert") == 1

    smtp.restart()
    with app.app_context():
        db.session.execute(
            update(OutboxMessage).values(
                next_attempt_at=utcnow(), created_at=utcnow() - timedelta(minutes=7)
            )
        )
        db.session.commit()
    assert value(scrape(client), "portal_outbox_oldest_age_seconds", kind="sign_in_alert") >= 420
    run_worker(app)
    after = scrape(client)
    assert grew(down, after, "portal_alerts_total", state="sent") == 1
    assert value(after, "portal_outbox_messages_waiting", kind="sign_in_alert") == 0
    assert value(after, "portal_outbox_oldest_age_seconds", kind="sign_in_alert") == 0
    assert len(smtp.messages()) == 1


def test_session_revoked_events_are_counted_sent_and_failed_by_type(
    telling, app, client, auth, idp
):
    auth.new_client("alice")
    [session] = sessions_of(app, "alice")
    admin = auth.new_client("admin")
    uid = user_id_of(app, "alice")
    form = {"csrf_token": csrf_token(admin, f"/admin/users/{uid}")}
    revoked = admin.post(f"/admin/users/{uid}/sessions/{session.id}/revoke", data=form)
    assert revoked.status_code == 302
    before = scrape(client)
    assert value(before, "portal_outbox_messages_waiting", kind="caep_session_revoked") == 1

    idp.ssf_answer_next(500)
    run_worker(app)
    middle = scrape(client)
    kind = {"type": "session-revoked"}
    assert grew(before, middle, "portal_ssf_events_total", direction="failed", **kind) == 1
    assert grew(before, middle, "portal_ssf_events_total", direction="sent", **kind) == 0

    with app.app_context():
        db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        db.session.commit()
    run_worker(app)
    after = scrape(client)
    assert grew(middle, after, "portal_ssf_events_total", direction="sent", **kind) == 1
    assert value(after, "portal_outbox_messages_waiting", kind="caep_session_revoked") == 0


def test_an_event_refused_for_good_is_counted_as_given_up(app, client):
    from portal.services.outbox import queue

    with app.app_context():
        user = make_user("given-up")
        message = OutboxMessage(
            message_id=f"<{uuid.uuid4()}@test>",
            kind="sign_in_alert",
            user_id=user.id,
            recipient="given-up@example.test",
            payload={},
        )
        db.session.add(message)
        db.session.commit()
        [claimed] = queue.claim_due(kinds=("sign_in_alert",))
        db.session.commit()
        before = scrape(client)
        queue.mark_failed(claimed, "550 no such mailbox")
        db.session.rollback()
        assert (
            grew(before, scrape(client), "portal_outbox_given_up_total", kind="sign_in_alert") == 0
        )
        queue.mark_failed(claimed, "550 no such mailbox")
        db.session.commit()
    after = scrape(client)
    assert grew(before, after, "portal_outbox_given_up_total", kind="sign_in_alert") == 1


# -- SCIM, rate limits, bulk jobs -----------------------------------------------------------------


def test_scim_requests_are_counted_by_operation_and_status(client):
    scim = {"Authorization": f"Bearer {SCIM_TOKEN}", "Content-Type": "application/scim+json"}
    user = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "carol@example.test",
        "emails": [{"value": "carol@example.test", "primary": True}],
    }
    before = scrape(client)
    created = client.post("/scim/v2/Users", json=user, headers=scim)
    assert created.status_code == 201
    assert client.post("/scim/v2/Users", json=user, headers=scim).status_code == 409
    user_id = created.get_json()["id"]
    assert client.get(f"/scim/v2/Users/{user_id}", headers=scim).status_code == 200
    group = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "staff"}
    group_id = client.post("/scim/v2/Groups", json=group, headers=scim).get_json()["id"]
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": user_id}]}],
    }
    assert client.patch(f"/scim/v2/Groups/{group_id}", json=patch, headers=scim).status_code == 200
    assert client.get("/scim/v2/Users").status_code == 401
    assert client.get("/scim/v2/ServiceProviderConfig", headers=scim).status_code == 200
    after = scrape(client)
    counted = {
        (dict(labels)["operation"], dict(labels)["status"]): n - before.get((name, labels), 0)
        for (name, labels), n in after.items()
        if name == "portal_scim_requests_total" and n - before.get((name, labels), 0)
    }
    assert counted == {
        ("users.create", "201"): 1,
        ("users.create", "409"): 1,
        ("users.get", "200"): 1,
        ("groups.create", "201"): 1,
        ("groups.patch", "200"): 1,
        ("users.list", "401"): 1,
        ("discovery", "200"): 1,
    }


def test_rate_limit_refusals_are_counted_by_family(client, auth):
    headers = auth.bearer("alice")
    before = scrape(client)
    statuses = [client.get("/devices", headers=headers).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    after = scrape(client)
    assert grew(before, after, "portal_rate_limited_total", family="api_envelope") == 2
    assert grew(before, after, "portal_rate_limited_total", family="auth") == 0


def test_bulk_jobs_running_and_their_sessions_left(app, client):
    with app.app_context():
        creator = make_user("bulk-admin")
        old = utcnow() - timedelta(minutes=30)
        db.session.add_all(
            [
                BulkJob(
                    kind="sign_out",
                    status="running",
                    via="page",
                    total=40,
                    done=15,
                    created_by_id=creator.id,
                    created_at=old,
                ),
                BulkJob(
                    kind="sign_out",
                    status="queued",
                    via="api",
                    total=10,
                    done=0,
                    created_by_id=creator.id,
                ),
                BulkJob(
                    kind="sign_out",
                    status="done",
                    via="api",
                    total=99,
                    done=99,
                    created_by_id=creator.id,
                ),
            ]
        )
        db.session.commit()
    samples = scrape(client)
    assert value(samples, "portal_bulk_jobs_running") == 1
    assert value(samples, "portal_bulk_jobs_queued") == 1
    assert value(samples, "portal_bulk_job_sessions_left") == 25 + 10
    assert value(samples, "portal_bulk_job_oldest_age_seconds") >= 30 * 60


def test_a_database_that_does_not_answer_is_down_and_the_scrape_still_answers(idp, tmp_path):
    config = make_config(idp, "sqlite:///" + str(tmp_path / "missing" / "nowhere.db"))
    app = create_app({**config, "METRICS_TOKEN": TOKEN})
    samples = scrape(app.test_client())
    assert value(samples, "portal_database_up") == 0
    assert not [name for name, _ in samples if name.startswith("portal_outbox_messages")]
    assert [name for name, _ in samples if name == "portal_build_info"]


# -- what labels may hold ----------------------------------------------------------------------

_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
_ID_LIKE = re.compile(r"(^|/)[0-9]{2,}($|/)|[0-9a-f]{16,}", re.I)


def test_no_label_carries_an_id_an_email_or_a_path_parameter(app, client, auth, alice, idp):
    """Everything above, once more, then every label of every series read."""
    admin = auth.new_client("admin")
    uid = user_id_of(app, "alice")
    admin.get(f"/admin/users/{uid}")
    admin.get(f"/admin/users/{uid}/devices/{alice.phone_device}")
    client.get(f"/devices/users/{uid}", headers=auth.bearer("admin"))
    client.get("/alice@example.test/12345")
    client.get(f"/scim/v2/Users/{uid}", headers={"Authorization": f"Bearer {SCIM_TOKEN}"})
    client.get("/scim/v2/alice@example.test", headers={"Authorization": f"Bearer {SCIM_TOKEN}"})
    client.get(f"/static/{uid}.css")
    with app.app_context():
        ids = {str(i) for i in db.session.execute(select(User.id)).scalars()}
        emails = {e for e in db.session.execute(select(User.email)).scalars() if e}
    samples = scrape(client)
    labels = {(name, key, val) for name, pairs in samples for key, val in pairs}
    assert {name for name, _, _ in labels} >= {
        "portal_http_requests_total",
        "portal_sign_ins_total",
        "portal_scim_requests_total",
        "portal_build_info",
    }
    for name, key, val in labels:
        if key == "commit":
            continue  # the build's commit: an id of the code, not of a person
        assert "@" not in val and not _UUID.search(val), (name, key, val)
        assert val not in ids and not any(e in val for e in emails), (name, key, val)
        if key == "route":
            assert val == "unmatched" or val.startswith("/"), (name, val)
            assert not _ID_LIKE.search(val.replace("<", "").replace(">", "")), (name, val)
            assert "<uuid:" not in val and "<int:" not in val, (name, val)
    routes = {val for _, key, val in labels if key == "route"}
    assert {"/admin/users/<user_id>", "/devices/users/<user_id>", "unmatched"} <= routes


def test_counting_a_request_stays_cheap():
    """No timing here: what a request costs is two dictionary reads and two increments of
    children made once (``metrics.observe_request``)."""
    metrics.observe_request("/cheap/<thing>", "GET", 200, 0.001)
    children = metrics._request_children[("/cheap/<thing>", "GET", 2)]
    metrics.observe_request("/cheap/<thing>", "GET", 204, 0.002)
    assert metrics._request_children[("/cheap/<thing>", "GET", 2)] is children


def test_sessions_the_prune_ends_are_counted_as_expired(app, client, auth):
    auth.new_client("alice")
    auth.new_client("bob")
    with app.app_context():
        db.session.execute(update(UserSession).values(expires_at=utcnow() - timedelta(minutes=5)))
        db.session.commit()
    before = scrape(client)
    result = app.test_cli_runner().invoke(args=["portal", "prune"])
    assert result.exit_code == 0 and "ended 2 expired sessions" in result.output, result.output
    assert grew(before, scrape(client), "portal_sessions_ended_total", how="expired") == 2


def test_the_folder_is_emptied_at_start_only_when_no_process_writes_to_it(tmp_path):
    """gunicorn's master (and each app) empties it: the files of an earlier start go, unless a
    portal process still running (the worker, while gunicorn restarts) wrote one of them."""
    import subprocess
    import sys

    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / f"counter_{running.pid}.db").write_bytes(b"")
        (tmp_path / "histogram_1999999999.db").write_bytes(b"")
        assert not metrics.clean_directory(str(tmp_path))
        assert len(list(tmp_path.iterdir())) == 2
    finally:
        running.kill()
        running.wait()
    assert metrics.clean_directory(str(tmp_path))
    assert list(tmp_path.iterdir()) == []
