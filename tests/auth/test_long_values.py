"""What a request says (its User-Agent, its address, its token's claims) is bounded before it
reaches a column: a long or odd value describes a device or a person less well, and never
stops anyone signing in. PostgreSQL refuses a value longer than its column, and NUL in text,
where SQLite stores anything: run with PORTAL_TEST_DATABASE=postgresql too.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from support.account_helpers import audit_actions, devices_of, sessions_of

from portal.extensions import db
from portal.models import Device, User, UserSession, utcnow
from portal.models.types import column_length, fit
from portal.services.sessions import opening, policy
from portal.services.users import identity

# A phone whose browser version is 44 characters and whose model is 100 (columns: 32 and 64).
LONG_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; " + "M" * 100 + " Build/UP1A) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/" + "1" * 40 + ".0.0.0 Mobile Safari/537.36"
)
# An API client whose name is 100 characters (column: 64) and its version 61 (column: 32).
LONG_CLIENT = "A" * 100 + "/" + "1." * 30 + "0"
# Addresses come from the socket or, behind trusted proxies, from X-Forwarded-For.
LONG_ADDRESS = "2001:db8:" + "f" * 60

BOUNDED = {
    Device.name: 64,
    Device.browser: 64,
    Device.browser_version: 32,
    Device.model: 64,
    Device.app_version: 32,
    Device.os_version: 32,
    Device.ip_address: 45,
}


def _assert_fits(row) -> None:
    for attribute, length in BOUNDED.items():
        value = getattr(row, attribute.key)
        assert value is None or len(value) <= length, (attribute.key, value)


def test_fit_cuts_to_the_columns_length_and_drops_control_characters():
    assert {a: column_length(a) for a in BOUNDED} == BOUNDED
    assert fit(Device.browser_version, "1" * 40) == "1" * 32
    assert fit(Device.name, "Evil\x00Phone\r\n") == "EvilPhone"
    assert fit(Device.user_agent, "x" * 5000) == "x" * 5000  # a Text column has no length
    assert fit(Device.model, None) is None


def test_a_long_user_agent_and_address_still_sign_in(app, client, auth):
    response = auth.sign_in(client, "alice", user_agent=LONG_PHONE, remote_addr=LONG_ADDRESS)

    assert response.status_code == 302, response.data[:300]
    assert client.get("/").status_code == 200
    (phone,) = devices_of(app, "alice")
    _assert_fits(phone)
    assert phone.browser_version == "1" * 32
    assert phone.model == "M" * 64
    assert phone.name.startswith("Chrome on MMM") and len(phone.name) == 64
    assert phone.ip_address == LONG_ADDRESS[:45]
    assert phone.user_agent == LONG_PHONE
    (row,) = sessions_of(app, "alice")
    assert row.ip_address == LONG_ADDRESS[:45]
    (event,) = audit_actions(app, "sign_in")
    assert event.ip_address == LONG_ADDRESS[:45]


def test_a_long_user_agent_still_makes_bearer_calls(app, client, auth):
    headers = {**auth.bearer("alice"), "User-Agent": LONG_CLIENT}
    response = client.get("/devices", headers=headers, environ_base={"REMOTE_ADDR": LONG_ADDRESS})

    assert response.status_code == 200, response.data[:300]
    (api_client,) = devices_of(app, "alice", kind="api_client")
    _assert_fits(api_client)
    assert api_client.browser == "A" * 64
    assert api_client.app_version == ("1." * 30)[:32]
    assert api_client.ip_address == LONG_ADDRESS[:45]


def test_a_long_forwarded_address_behind_a_trusted_proxy_still_calls_the_api(app, app_config, idp):
    from support.app_setup import Auth

    from portal import create_app

    proxied = create_app({**app_config, "TRUSTED_PROXIES": 1})
    client = proxied.test_client()
    forwarded = {"X-Forwarded-For": LONG_ADDRESS, "User-Agent": LONG_PHONE}
    bearer = {**Auth(proxied, idp).bearer("bob"), **forwarded}
    assert client.get("/devices", headers=bearer).status_code == 200
    (api_client,) = devices_of(app, "bob", kind="api_client")
    _assert_fits(api_client)
    assert api_client.ip_address == LONG_ADDRESS[:45]
    with proxied.app_context():
        db.engine.dispose()


def test_control_characters_in_a_user_agent_are_dropped(app, client, auth):
    headers = {**auth.bearer("alice"), "User-Agent": "Evil\x00Client/1.0\x01"}
    assert client.get("/devices", headers=headers).status_code == 200
    (api_client,) = devices_of(app, "alice", kind="api_client")
    assert (api_client.browser, api_client.app_version) == ("EvilClient", "1.0")
    assert api_client.user_agent == "EvilClient/1.0"


def test_a_client_id_of_any_length_names_its_device(app):
    with app.test_request_context():
        user = identity.upsert_user("https://idp.test", {"sub": "carol"}, "groups")
        row, created = opening.bearer_session(
            user,
            client_id="c" * 500 + "\x00",
            token_id="https://idp.test#" + "j" * 300,
            token_expires_at=utcnow() + timedelta(minutes=5),
            auth_time=None,
            issued_at=utcnow(),
            client=opening.ClientInfo(ip_address=None, user_agent=None),
            policy=policy.SessionPolicy.from_config(app.config),
            geoip_database=None,
        )
        db.session.commit()
        assert created and len(row.device.name) == 64 and "\x00" not in row.device.name
        # A token id longer than its column is kept by its hash and found by it again.
        assert len(row.token_id) <= column_length(UserSession.token_id)
        found, _, _ = policy.load_session(token_id="https://idp.test#" + "j" * 300)
        assert found.id == row.id


def test_long_name_and_email_claims_still_sign_in(app, client, auth):
    response = auth.sign_in(client, "verbose")

    assert response.status_code == 302, response.data[:300]
    with app.app_context():
        user = db.session.execute(select(User).where(User.subject == "verbose")).scalar_one()
        assert user.name == ("Vera " + "V" * 295)[:255]
        assert user.email is None  # no mailbox has 343 characters: left out, not cut


def test_long_claims_in_a_token_still_make_bearer_calls(app, client, auth):
    response = client.get("/devices", headers=auth.bearer("verbose"))
    assert response.status_code == 200, response.data[:300]


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "carol", "name": "Carol\x00 Null", "email": "carol\x00@example.test"},
        {"sub": "carol", "given_name": "C" * 200, "family_name": "D" * 200},
        {"sub": "carol", "name": ["not", "a", "name"], "email": {"not": "an email"}},
    ],
)
def test_odd_profile_claims_are_bounded(app, claims):
    with app.app_context():
        user = identity.upsert_user("https://idp.test", claims, "groups")
        db.session.commit()
        assert user.name is None or (len(user.name) <= 255 and "\x00" not in user.name)
        assert user.email is None or "\x00" not in user.email


@pytest.mark.parametrize("subject", ["s" * 256, "", "a\x00b", 12345, None])
def test_a_subject_that_cannot_be_stored_as_it_is_is_refused_not_cut(app, subject):
    with app.app_context(), pytest.raises(identity.UnusableIdentity):
        identity.upsert_user("https://idp.test", {"sub": subject}, "groups")


def test_a_subject_longer_than_oidc_allows_sees_the_sign_in_failed_page(app, client, auth):
    response = auth.sign_in(client, "s" * 300)

    assert response.status_code == 400
    assert b"Try again" in response.data
    with app.app_context():
        assert db.session.execute(select(User)).first() is None
