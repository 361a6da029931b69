"""The outbox and the worker: mail is written with the sign-in and sent later, never twice,
never lost; a sign-in never waits for the mail server.

A real SMTP server process (aiosmtpd) receives the mail; ``flask worker --once`` sends it, in
this process or as processes of their own.
"""

from __future__ import annotations

import re
import signal
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from support.admin_helpers import LONDON, make_user, sign_in_at
from support.agents import IPHONE
from support.alert_helpers import (
    outbox_rows,
    run_worker,
    use_mail_server,
    worker_process,
)
from support.smtp_server import HangingServer

from portal.extensions import db
from portal.models import OutboxMessage, utcnow
from portal.services.outbox import alerts, queue
from portal.services.sessions.opening import ClientInfo
from portal.services.sessions.policy import SessionPolicy


@pytest.fixture(autouse=True)
def _mail_server(app_config, smtp):
    use_mail_server(app_config, smtp.port)


def _new_device_mail(auth):
    """Alice on a browser, then on a new phone: one alert in the outbox."""
    auth.new_client("alice")
    started = time.monotonic()
    auth.new_client("alice", user_agent=IPHONE, remote_addr=LONDON)
    return time.monotonic() - started


def _make_due(app) -> None:
    """Time passes: every pending row is due now (its backoff or lease is over)."""
    with app.app_context():
        db.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        db.session.commit()


def test_a_sign_in_that_rolls_back_leaves_no_mail(app, auth):
    auth.new_client("alice")  # alice has a device, so a new one is mailed about
    with app.test_request_context("/auth/callback"):
        from portal.models import User
        from portal.services import operations

        user = db.session.execute(select(User).where(User.subject == "alice")).scalar_one()
        policy = alerts.AlertPolicy.from_config(app.config, "http://localhost/")
        operations.sign_in(
            user,
            client=ClientInfo("81.2.69.142", IPHONE),
            device_secret=None,
            policy=SessionPolicy.from_config(app.config),
            geoip_database=app.config["GEOIP_DATABASE"],
            alert_policy=policy,
        )
        assert db.session.execute(select(OutboxMessage)).scalars().all() != []  # written...
        db.session.rollback()  # ...and gone with the sign-in
    assert outbox_rows(app) == []


def test_with_the_smtp_server_stopped_sign_in_goes_on_and_the_mail_arrives_once_later(
    app, auth, smtp
):
    smtp.stop()
    _new_device_mail(auth)
    run_worker(app)  # the server is down: nothing sent, nothing lost
    [row] = outbox_rows(app)
    assert row.status == "pending" and row.attempts == 1
    assert "Connection refused" in row.last_error or "ConnectionRefused" in row.last_error
    assert row.next_attempt_at > utcnow() + timedelta(seconds=20)  # backs off
    run_worker(app)  # not due yet: not tried again
    assert outbox_rows(app)[0].attempts == 1

    smtp.restart()  # the server is back, and the backoff is over
    _make_due(app)
    run_worker(app)
    run_worker(app)
    [mail] = smtp.messages()
    [row] = outbox_rows(app)
    assert row.status == "sent" and row.attempts == 2 and mail["Message-ID"] == row.message_id


@pytest.fixture
def hanging(app_config):
    server = HangingServer()
    app_config.update(MAIL_PORT=server.port, MAIL_TIMEOUT=30)
    yield server
    server.close()


def test_a_hanging_mail_server_does_not_slow_a_sign_in(hanging, app, auth):
    took = _new_device_mail(auth)
    assert hanging.connections == 0  # the sign-in never spoke to the mail server
    assert took < 15  # well under the 30 s an SMTP conversation may wait
    [row] = outbox_rows(app)
    assert row.status == "pending" and row.attempts == 0


def test_a_permanent_refusal_is_kept_as_failed_with_the_servers_answer(app, auth, smtp):
    _new_device_mail(auth)
    with app.app_context():  # a mailbox the server does not have
        db.session.execute(update(OutboxMessage).values(recipient="bounce@example.test"))
        db.session.commit()
    run_worker(app)
    [row] = outbox_rows(app)
    assert row.status == "failed" and row.attempts == 1
    assert "550" in row.last_error and "No such mailbox" in row.last_error
    _make_due(app)
    run_worker(app)  # never retried
    assert outbox_rows(app)[0].attempts == 1 and smtp.messages() == []
    page = auth.new_client("admin").get(f"/admin/users/{row.user_id}").get_data(as_text=True)
    mail_cell = page.split('class="mail-status"')[1].split("</td>")[0]
    assert "Failed" in mail_cell and "550" in mail_cell  # admins see it, with the answer


def test_a_worker_that_dies_after_claiming_delays_the_mail_and_loses_nothing(app, auth, smtp):
    _new_device_mail(auth)
    with app.app_context():  # a worker claims the mail, then dies before sending it
        assert len(queue.claim_due(10, kinds=(alerts.KIND,))) == 1
        db.session.commit()
    run_worker(app)  # another worker leaves it alone while the lease holds
    assert smtp.messages() == []
    _make_due(app)  # the lease ran out
    run_worker(app)
    [mail] = smtp.messages()
    [row] = outbox_rows(app)
    assert row.status == "sent" and row.attempts == 2 and mail["Message-ID"] == row.message_id


def _queue_alerts(app, n: int) -> None:
    """``n`` users, each signing in on a second browser: ``n`` alerts in the outbox."""
    policy = alerts.AlertPolicy.from_config(app.config, "http://localhost/")
    with app.app_context():
        now = utcnow()
        for i in range(n):
            user = make_user(f"user{i}")
            sign_in_at(app, user, now - timedelta(hours=1))
            session, _ = sign_in_at(app, user, now)
            assert alerts.queue_sign_in_alert(user, session, policy) is not None
        db.session.commit()


def test_two_workers_at_once_send_each_mail_once(app, smtp):
    _queue_alerts(app, 12)
    workers = [worker_process(app, "--batch-size", "1") for _ in range(2)]
    outputs = [w.communicate(timeout=120)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    handled = [int(re.search(r"worker: (\d+) items handled", out).group(1)) for out in outputs]
    assert sum(handled) == 12  # each claimed what the other had not
    mails = smtp.messages()
    rows = outbox_rows(app)
    assert len(mails) == 12
    assert sorted(m["Message-ID"] for m in mails) == sorted(r.message_id for r in rows)
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}


def test_the_running_worker_sends_mail_as_it_comes_and_stops_on_sigterm(app, auth, smtp):
    worker = worker_process(app, "--interval", "0.2", once=False)
    try:
        _new_device_mail(auth)
        deadline = time.monotonic() + 30
        while not smtp.messages() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(smtp.messages()) == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=30)[0]
    assert worker.returncode == 0 and "worker: stopped" in output
    assert [r.status for r in outbox_rows(app)] == ["sent"]
