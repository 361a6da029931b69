"""``make run``'s identity provider (``scripts/dev_idp.py``, oidc-provider-mock): its ID tokens
carry a ``sid``, one per sign-in, so the portal has an IdP session to tell about, and its
receiver takes the portal's pushed SETs: a session revoked in a local run reaches it, signed
with the development key and checked against the portal's JWKS."""

from __future__ import annotations

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from oidc_provider_mock import User
from sqlalchemy import select
from support.alert_helpers import outbox_rows, run_worker
from support.idp import free_port

from portal.extensions import db
from portal.models import User as PortalUser
from portal.models import UserSession
from portal.services import operations
from portal.services.outbox import signals
from scripts.dev_idp import serve_in_thread

CLIENT_ID = "device-portal-dev"
REDIRECT_URI = "http://127.0.0.1:1/callback"


@pytest.fixture
def dev_idp(live_port):
    port = free_port()
    users = [User(sub="employee", claims={"email": "employee@example.test", "name": "E"})]
    jwks = f"http://127.0.0.1:{live_port}/ssf/jwks.json"
    with serve_in_thread(port, users, transmitter_jwks_url=jwks):
        yield f"http://127.0.0.1:{port}"


def _code_at(issuer: str, http: requests.Session, **params) -> str:
    """Sign in at the mock as ``employee``: the authorization code it redirects with."""
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid email",
        "state": "s",
        "nonce": "n",
        **params,
    }
    authorize = f"{issuer}/oauth2/authorize"
    http.get(authorize, params=query, timeout=10).raise_for_status()
    done = http.post(
        authorize, params=query, data={"sub": "employee"}, allow_redirects=False, timeout=10
    )
    assert done.status_code == 302, done.text[:300]
    return done.headers["Location"].split("code=")[1].split("&")[0]


def _id_token_claims(issuer: str) -> dict:
    http = requests.Session()
    code = _code_at(issuer, http)
    token = http.post(
        f"{issuer}/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": CLIENT_ID,
            "client_secret": "dev-secret",
        },
        timeout=10,
    )
    assert token.status_code == 200, token.text
    keys = KeySet.import_key_set(http.get(f"{issuer}/jwks", timeout=10).json())
    return jwt.decode(token.json()["id_token"], keys).claims


def test_each_sign_in_at_the_development_idp_has_an_id_token_with_its_own_sid(dev_idp):
    first, second = _id_token_claims(dev_idp), _id_token_claims(dev_idp)
    assert first["sub"] == second["sub"] == "employee" and first["nonce"] == "n"
    assert first["sid"].startswith("dev-") and second["sid"].startswith("dev-")
    assert first["sid"] != second["sid"]


@pytest.fixture
def portal_on_the_dev_idp(app_config, dev_idp, live_port):
    """The portal signing in through the development IdP and telling its receiver, as
    ``make run`` configures it (``scripts/dev.py``)."""
    app_config.update(
        OIDC_ISSUER=dev_idp,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET="dev-secret",
        SSF_RECEIVER_URL=f"{dev_idp}/ssf/events",
        SSF_ISSUER=f"http://127.0.0.1:{live_port}",
        SSF_AUDIENCE=dev_idp,
        SSF_SIGNING_KEY_FILE=None,  # the development key, generated into the instance folder
    )


def test_a_session_signed_in_at_the_dev_idp_and_revoked_reaches_its_receiver(
    portal_on_the_dev_idp, app, live_server
):
    browser = requests.Session()
    signed_in = browser.get(f"{live_server.url}/login", timeout=15)  # to the mock's form
    assert signed_in.url.startswith(app.config["OIDC_ISSUER"]), signed_in.url
    signed_in = browser.post(signed_in.url, data={"sub": "employee"}, timeout=15)
    assert signed_in.status_code == 200 and signed_in.url.startswith(live_server.url)
    with app.app_context():
        session = db.session.execute(select(UserSession)).scalar_one()
        sid = session.idp_sid
        assert sid and sid.startswith("dev-")
        user = db.session.get(PortalUser, session.user_id)
        operations.revoke_all_sessions(
            operations.Actor(user, None, "127.0.0.1"), user, include_current=False
        )
        db.session.commit()

    # The receiver prints in its thread while the worker command holds this process's stdout.
    printed = run_worker(app)

    [row] = outbox_rows(app)
    assert row.kind == signals.KIND and row.status == "sent", row.last_error
    assert "Shared Signals event" in printed and sid in printed
    assert signals.SESSION_REVOKED in printed
