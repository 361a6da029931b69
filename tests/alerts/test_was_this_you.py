""" "Was this you?": the two links of a sign-in alert.

Opening a link shows a confirm page and changes nothing (mail scanners open every link); its
button POSTs with a CSRF token and acts, signed in or not. "No, secure my account" does what
*This wasn't me* does; "Yes, it was me" marks the sign-in confirmed. A link works once, for 7
days, and only for its own alert.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select, text, update
from support.account_helpers import audit_actions, csrf_from, device, sessions_of
from support.admin_helpers import LONDON
from support.agents import IPHONE
from support.alert_helpers import alert_rows, links, outbox_rows, run_worker, use_mail_server

from portal.extensions import db
from portal.models import SignInAlert, User, utcnow


@pytest.fixture(autouse=True)
def _mail_server(app_config, smtp):
    use_mail_server(app_config, smtp.port)


@pytest.fixture
def mailed(auth, app, smtp):
    """Alice on her laptop, then someone on a new phone: the mail about the phone."""
    laptop = auth.new_client("alice")
    phone = auth.new_client("alice", user_agent=IPHONE, remote_addr=LONDON)
    run_worker(app)
    [mail] = smtp.messages()
    [alert] = alert_rows(app)
    return {"laptop": laptop, "phone": phone, "links": links(mail), "alert": alert}


def _state(app, alert_id):
    """What a link could change: the alert, its device, the device's sessions, the audit log."""
    with app.app_context():
        alert = db.session.get(SignInAlert, alert_id)
        user = db.session.get(User, alert.user_id)
        return (
            alert.answer,
            alert.answered_at,
            user.reauth_required_after,
            db.session.execute(text("SELECT count(*) FROM audit_events")).scalar(),
        )


def _press(client, path: str):
    """Open the link's page as a browser would, then press its button."""
    page = client.get(path)
    assert page.status_code == 200, page.data[:300]
    return client.post(path, data={"csrf_token": csrf_from(page.data)})


def test_opening_a_link_shows_a_confirm_page_and_changes_nothing(app, mailed, client):
    before = _state(app, mailed["alert"].id)
    for path in mailed["links"].values():
        page = client.get(path)
        assert page.status_code == 200
        assert 'method="post"' in page.get_data(as_text=True)
        assert "Safari" in page.get_data(as_text=True)
    assert _state(app, mailed["alert"].id) == before
    assert sessions_of(app, "alice", mailed["alert"].device_id)[-1].ended_at is None


def test_no_secure_my_account_does_what_this_wasnt_me_does_signed_out(app, mailed, client):
    phone_device = mailed["alert"].device_id
    answer = _press(client, mailed["links"]["no"])  # a browser signed in to nothing
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "Your account is secured" in page and "change your password" in page
    assert 'href="/"' in page  # My devices

    found = device(app, phone_device)
    assert found.reported_suspicious_at is not None and not found.is_trusted
    assert {s.end_reason for s in sessions_of(app, "alice", phone_device)} == {"reported"}
    with app.app_context():
        alice = db.session.execute(select(User).where(User.subject == "alice")).scalar_one()
        assert alice.reauth_required_after is not None  # every new sign-in gives credentials
    [report] = audit_actions(app, "reported_suspicious")
    assert report.device_id == phone_device
    assert report.detail["message_id"] == outbox_rows(app)[0].message_id
    assert report.detail["alert_id"] == str(mailed["alert"].id)
    [alert] = alert_rows(app)
    assert alert.answer == "secured" and alert.answered_at is not None
    # the phone is signed out; the laptop that was not reported goes on
    assert b'id="devices"' not in mailed["phone"].get("/").data
    assert b'id="devices"' in mailed["laptop"].get("/").data


def test_yes_it_was_me_confirms_the_sign_in_for_admins_to_see(app, auth, mailed, client):
    answer = _press(client, mailed["links"]["yes"])
    assert answer.status_code == 200 and b"was you" in answer.data
    [alert] = alert_rows(app)
    assert alert.answer == "confirmed"
    [event] = audit_actions(app, "sign_in_confirmed")
    assert event.detail["alert_id"] == str(alert.id) and event.detail["message_id"]
    assert b'id="devices"' in mailed["phone"].get("/").data  # nothing signed out

    admin = auth.new_client("admin")
    page = admin.get(f"/admin/users/{alert.user_id}").get_data(as_text=True)
    assert "confirmed by user" in page


def test_a_used_link_is_refused_and_changes_nothing_more(app, mailed, client):
    _press(client, mailed["links"]["yes"])
    before = _state(app, mailed["alert"].id)
    used = client.get(mailed["links"]["yes"])  # the same link: used already
    assert b"used already" in used.data and b'method="post"' not in used.data
    other = client.get(mailed["links"]["no"])  # the other link: what was answered, and when
    assert b"You confirmed this was you on " in other.data and b"used already" not in other.data
    assert b'method="post"' not in other.data
    assert b"Nothing was changed" in client.get(mailed["links"]["no"]).data
    assert _state(app, mailed["alert"].id) == before
    assert device(app, mailed["alert"].device_id).reported_suspicious_at is None


def test_a_replayed_post_is_refused_and_audited(app, mailed):
    browser = mailed["laptop"]
    csrf = csrf_from(browser.get(mailed["links"]["yes"]).data)
    assert browser.post(mailed["links"]["yes"], data={"csrf_token": csrf}).status_code == 200
    again = browser.post(mailed["links"]["no"], data={"csrf_token": csrf})
    assert b"You confirmed this was you on " in again.data
    assert device(app, mailed["alert"].device_id).reported_suspicious_at is None
    [refused] = audit_actions(app, "alert_link_refused")
    assert refused.detail["alert_id"] == str(mailed["alert"].id)


def test_a_tampered_link_is_refused(app, mailed, client):
    path = mailed["links"]["no"]
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    page = client.get(tampered)
    assert page.status_code == 400 and b"changed on its way" in page.data
    before = _state(app, mailed["alert"].id)
    assert client.post(tampered, data={}).status_code == 400
    assert _state(app, mailed["alert"].id) == before


def test_a_link_for_another_alert_or_signed_elsewhere_is_refused(app, mailed, client):
    alert = mailed["alert"]
    forged = {
        "a": str(alert.id),
        "u": str(alert.user_id),
        "d": str(alert.user_id),
        "s": None,
        "x": "secured",
    }
    ours = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="device-portal.sign-in-alert")
    page = client.get(f"/alerts/{ours.dumps(forged)}")  # right key, another device
    assert b"does not belong to any alert" in page.data
    theirs = URLSafeTimedSerializer("another-portal", salt="device-portal.sign-in-alert")
    real = {**forged, "d": str(alert.device_id), "s": str(alert.session_id)}
    assert client.get(f"/alerts/{theirs.dumps(real)}").status_code == 400
    assert alert_rows(app)[0].answered_at is None


def test_an_expired_link_is_refused(app, mailed, client):
    with app.app_context():
        db.session.execute(update(SignInAlert).values(created_at=utcnow() - timedelta(days=8)))
        db.session.commit()
    page = client.get(mailed["links"]["no"])
    assert b"expired" in page.data and b'method="post"' not in page.data
    laptop = mailed["laptop"]  # a button pressed on a page opened before the 7 days ran out
    answer = laptop.post(
        mailed["links"]["no"], data={"csrf_token": csrf_from(laptop.get("/").data)}
    )
    assert b"expired" in answer.data
    assert device(app, mailed["alert"].device_id).reported_suspicious_at is None
    [refused] = audit_actions(app, "alert_link_refused")
    assert "expired" in refused.detail["reason"] and refused.detail["message_id"]


def test_a_post_without_the_csrf_token_changes_nothing(app, mailed, client):
    before = _state(app, mailed["alert"].id)
    answer = client.post(mailed["links"]["no"], data={})
    assert answer.status_code == 400
    assert _state(app, mailed["alert"].id) == before


# -- one story: once answered or reported, the other link changes nothing ---------------------


def _at(when) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S} UTC"


def test_after_no_the_yes_link_says_what_was_said_and_changes_nothing(app, auth, mailed, client):
    csrf = csrf_from(client.get(mailed["links"]["yes"]).data)  # opened before answering "no"
    _press(client, mailed["links"]["no"])
    [alert] = alert_rows(app)
    before = _state(app, alert.id)
    said = f"You said this wasn&#39;t you on {_at(alert.answered_at)}.".encode()

    page = client.get(mailed["links"]["yes"])
    assert said in page.data and b"used already" not in page.data
    assert b'method="post"' not in page.data
    assert _state(app, alert.id) == before
    posted = client.post(mailed["links"]["yes"], data={"csrf_token": csrf})

    assert posted.status_code == 200 and said in posted.data
    assert _state(app, alert.id)[:3] == before[:3]  # only the refusal's audit event
    assert alert_rows(app)[0].answer == "secured"
    assert audit_actions(app, "sign_in_confirmed") == []
    [refused] = audit_actions(app, "alert_link_refused")
    assert refused.detail["reason"] == said.decode().replace("&#39;", "'")
    admin_page = auth.new_client("admin").get(f"/admin/users/{alert.user_id}").get_data(True)
    assert "confirmed by user" not in admin_page


def _report_on_the_page(mailed) -> None:
    laptop, phone_device = mailed["laptop"], mailed["alert"].device_id
    url = f"/account/devices/{phone_device}/report"
    token = csrf_from(laptop.get(url).data)
    assert laptop.post(url, data={"csrf_token": token}).status_code == 302


@pytest.mark.parametrize("answer", ["yes", "no"])
def test_after_a_report_on_the_page_neither_link_changes_anything(
    app, auth, mailed, client, answer
):
    csrf = csrf_from(client.get(mailed["links"][answer]).data)  # opened before the report
    _report_on_the_page(mailed)
    reported_at = device(app, mailed["alert"].device_id).reported_suspicious_at
    words = f"This device was reported as not you on {_at(reported_at)}.".encode()
    before = _state(app, mailed["alert"].id)

    page = client.get(mailed["links"][answer])
    assert words in page.data and b'method="post"' not in page.data
    assert b"used already" not in page.data
    assert _state(app, mailed["alert"].id) == before
    posted = client.post(mailed["links"][answer], data={"csrf_token": csrf})

    assert posted.status_code == 200 and words in posted.data
    [alert] = alert_rows(app)
    assert alert.answer is None and alert.answered_at is None
    assert device(app, alert.device_id).reported_suspicious_at == reported_at
    assert audit_actions(app, "sign_in_confirmed") == []
    assert len(audit_actions(app, "reported_suspicious")) == 1
    [refused] = audit_actions(app, "alert_link_refused")
    assert refused.detail["reason"] == words.decode()
    admin_page = auth.new_client("admin").get(f"/admin/users/{alert.user_id}").get_data(True)
    assert "confirmed by user" not in admin_page


def test_the_alert_of_a_sign_in_after_the_report_secures_again_and_never_confirms(
    app, auth, mailed, smtp, client
):
    _report_on_the_page(mailed)
    phone = mailed["phone"]
    phone.delete_cookie("portal_session")
    assert auth.sign_in(phone, "alice", user_agent=IPHONE, remote_addr=LONDON).status_code == 302
    run_worker(app)
    new_links = links(smtp.messages()[-1])
    later = alert_rows(app)[-1]
    reported_at = device(app, later.device_id).reported_suspicious_at

    refused = client.get(new_links["yes"])
    assert f"reported as not you on {_at(reported_at)}".encode() in refused.data
    assert b'method="post"' not in refused.data

    secured = _press(client, new_links["no"])
    assert b"Your account is secured" in secured.data
    assert all(s.ended_at is not None for s in sessions_of(app, "alice", later.device_id))
    assert alert_rows(app)[-1].answer == "secured"
    assert len(audit_actions(app, "reported_suspicious")) == 2
    assert audit_actions(app, "sign_in_confirmed") == []
