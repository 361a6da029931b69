"""First uses that race each other make one user and one device, never a server error.

Real threads against the threaded live server and the file-backed database (SQLite by default,
PostgreSQL with PORTAL_TEST_DATABASE=postgresql). ``newbie`` is an account of the test IdP that
no test signs in before, so each test here meets a subject the portal has never seen.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import requests
from sqlalchemy import func, select
from support.account_helpers import audit_actions, devices_of, sessions_of
from support.races import AT_ONCE, all_at_once

from portal.extensions import db
from portal.models import User


def _users_called(app, subject: str) -> int:
    with app.app_context():
        return db.session.execute(
            select(func.count()).select_from(User).where(User.subject == subject)
        ).scalar_one()


def test_one_new_subjects_token_used_six_times_at_once_makes_one_user_and_one_session(
    app, live_server, auth
):
    headers = auth.bearer("newbie")

    def call():
        return requests.get(live_server.url + "/devices", headers=headers, timeout=60).status_code

    statuses = all_at_once([call] * AT_ONCE)

    assert statuses == [200] * AT_ONCE, statuses
    assert _users_called(app, "newbie") == 1
    assert len(devices_of(app, "newbie", kind="api_client")) == 1
    assert len(sessions_of(app, "newbie")) == 1
    assert len(audit_actions(app, "sign_in")) == 1


def test_six_new_tokens_of_one_user_at_once_share_one_api_client_device(app, live_server, auth):
    auth.new_client("newbie")  # the user exists; its API client does not yet
    tokens = [auth.token("newbie") for _ in range(AT_ONCE)]

    def call(token):
        return lambda: (
            requests.get(
                live_server.url + "/devices",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            ).status_code
        )

    statuses = all_at_once([call(t) for t in tokens])

    assert statuses == [200] * AT_ONCE, statuses
    (client,) = devices_of(app, "newbie", kind="api_client")
    token_sessions = [s for s in sessions_of(app, "newbie") if s.login_method == "bearer"]
    assert len(token_sessions) == AT_ONCE
    assert {s.device_id for s in token_sessions} == {client.id}
    assert len(audit_actions(app, "sign_in")) == 1 + AT_ONCE


def test_six_browsers_of_a_new_subject_at_the_callback_at_once_all_sign_in(app, live_server, idp):
    browsers, callbacks = [], []
    for _ in range(AT_ONCE):  # each browser goes through the IdP, up to its callback
        http = requests.Session()
        start = http.get(live_server.url + "/login", allow_redirects=False, timeout=10)
        assert start.status_code == 302
        back = urlsplit(idp.login_through(requests.Session(), start.headers["Location"], "newbie"))
        browsers.append(http)
        callbacks.append(f"{live_server.url}{back.path}?{back.query}")

    def finish(http, url):
        return lambda: http.get(url, allow_redirects=False, timeout=60).status_code

    statuses = all_at_once([finish(h, u) for h, u in zip(browsers, callbacks, strict=True)])

    assert statuses == [302] * AT_ONCE, statuses
    assert _users_called(app, "newbie") == 1
    assert len(devices_of(app, "newbie")) == AT_ONCE  # six browsers, six devices
    assert Counter(s.ended_at is None for s in sessions_of(app, "newbie")) == {True: AT_ONCE}
    for http in browsers:
        assert 'id="devices"' in http.get(live_server.url + "/", timeout=10).text


def test_two_tabs_of_one_browser_at_the_callback_at_once_make_one_device(
    app, live_server, auth, idp
):
    """A known user, and a browser whose device cookie they have no device for yet (Bob signed
    in with it before) finishing two sign-ins at once: one new device, with both sessions."""
    auth.new_client("newbie")  # the user exists, with another browser
    http = requests.Session()
    first = http.get(live_server.url + "/login", allow_redirects=False, timeout=10)
    back = urlsplit(idp.login_through(requests.Session(), first.headers["Location"], "bob"))
    assert http.get(f"{live_server.url}{back.path}?{back.query}", timeout=10).ok
    device_cookie = http.cookies.get("portal_device")

    tabs, callbacks = [], []
    for _ in range(2):
        tab = requests.Session()
        tab.cookies.set("portal_device", device_cookie, domain="127.0.0.1", path="/")
        start = tab.get(live_server.url + "/login", allow_redirects=False, timeout=10)
        back = urlsplit(idp.login_through(requests.Session(), start.headers["Location"], "newbie"))
        tabs.append(tab)
        callbacks.append(f"{live_server.url}{back.path}?{back.query}")

    statuses = all_at_once(
        [
            lambda t=t, u=u: t.get(u, allow_redirects=False, timeout=60).status_code
            for t, u in zip(tabs, callbacks, strict=True)
        ]
    )

    assert statuses == [302, 302], statuses
    first_browser, this_browser = devices_of(app, "newbie")
    assert len(sessions_of(app, "newbie", device_id=this_browser.id)) == 2
    assert len(sessions_of(app, "newbie", device_id=first_browser.id)) == 1
