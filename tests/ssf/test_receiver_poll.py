"""The worker polls a transmitter for SETs (RFC 8936): it applies the good ones, acknowledges
them, reports the bad ones in ``setErrs`` with RFC 8935's codes, and a SET polled again (its
acknowledgement lost) changes nothing. The transmitter's poll endpoint wants an OAuth token,
which the portal gets with client credentials."""

from __future__ import annotations

import pytest
from support.account_helpers import audit_actions, sessions_of
from support.alert_helpers import run_worker
from support.ssf_transmitter import (
    ACCOUNT_DISABLED,
    PORTAL_AUDIENCE,
    SESSION_REVOKED,
    email,
    iss_sub,
)


@pytest.fixture
def polling(app_config, transmitter):
    """The portal polls the test transmitter (no push token: poll only)."""
    transmitter.reset()
    app_config.update(
        SSF_RECEIVE_ISSUER=transmitter.issuer,
        SSF_RECEIVE_AUDIENCE=PORTAL_AUDIENCE,
        SSF_RECEIVE_POLL_URL=transmitter.issuer + "/poll",
        SSF_RECEIVE_CLIENT_ID="portal-receiver",
        SSF_RECEIVE_CLIENT_SECRET="portal-receiver-secret",
        SSF_RECEIVE_TOKEN_URL=transmitter.issuer + "/token",
    )
    return transmitter


def _queue(t, token: str) -> str:
    import json

    from joserfc.jws import extract_compact

    jti = json.loads(extract_compact(token.encode()).payload)["jti"]
    t.queue[jti] = token
    return jti


def test_the_worker_polls_applies_acknowledges_and_reports_bad_sets(polling, app, auth, idp):
    alice, bob = auth.new_client("alice"), auth.new_client("bob")
    token = auth.bearer("alice")
    assert app.test_client().get("/devices", headers=token).status_code == 200
    good = _queue(polling, polling.set_of(SESSION_REVOKED, iss_sub(idp.issuer, "alice")))
    other_aud = _queue(
        polling,
        polling.set_of(ACCOUNT_DISABLED, email("bob@example.test"), aud="https://elsewhere.test"),
    )

    run_worker(app)

    assert polling.acked == [good]
    assert polling.set_errs == {
        other_aud: {
            "err": "invalid_audience",
            "description": polling.set_errs[other_aud]["description"],
        }
    }
    assert polling.queue == {}
    assert alice.get("/").status_code == 200 and b'id="devices"' not in alice.get("/").data
    assert app.test_client().get("/devices", headers=token).status_code == 401
    assert b'id="devices"' in bob.get("/").data  # the refused SET changed nothing
    assert all(p.get("returnImmediately") for p in polling.polls)
    [event] = audit_actions(app, "ssf_event_received")
    assert event.detail["jti"] == good


def test_a_set_polled_again_after_a_lost_acknowledgement_changes_nothing(polling, app, auth, idp):
    token = polling.set_of(SESSION_REVOKED, iss_sub(idp.issuer, "alice"))
    auth.new_client("alice")
    jti = _queue(polling, token)
    run_worker(app)
    again = auth.new_client("alice")  # signs in after the revoke
    polling.queue[jti] = token  # the transmitter never heard the acknowledgement

    run_worker(app)

    assert polling.acked == [jti, jti]
    assert b'id="devices"' in again.get("/").data
    assert len(audit_actions(app, "ssf_event_received")) == 1
    assert len([s for s in sessions_of(app, "alice") if s.ended_at is None]) == 1
