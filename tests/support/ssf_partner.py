"""Run tests/idp/ssf_partner.mjs, an independent Shared Signals transmitter and receiver written
from the specifications (never from the portal's code), as a real process, and drive it.

partner = SsfPartner.start(portal="http://127.0.0.1:5000", idp=idp)
partner.discover(); partner.token("ssf-receiver-1", "ssf-secret-1")
stream = partner.create_stream(delivery="push")
...
partner.stop()

Fixtures: ``ssf_partner_process`` (one process per test session, for the session's live portal
port) and ``ssf_partner`` (the same process, every test starting from a clean slate). A test
module imports both names to use them.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Any

import pytest
import requests

from support.idp import IDP_DIR, OidcProvider

ACCOUNTS = [
    {"sub": "alice", "email": "alice@example.test"},
    {"sub": "bob", "email": "bob@example.test"},
]

PARTNER_JS = IDP_DIR / "ssf_partner.mjs"

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
SSF = "https://schemas.openid.net/secevent/ssf/event-type/"
SESSION_REVOKED = CAEP + "session-revoked"
CREDENTIAL_CHANGE = CAEP + "credential-change"
TOKEN_CLAIMS_CHANGE = CAEP + "token-claims-change"
ACCOUNT_DISABLED = RISC + "account-disabled"
ACCOUNT_ENABLED = RISC + "account-enabled"
VERIFICATION = SSF + "verification"
PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
SECRETS = {"ssf-receiver-1": "ssf-secret-1", "ssf-receiver-2": "ssf-secret-2"}


class PartnerError(RuntimeError):
    pass


class SsfPartner:
    """A running tests/idp/ssf_partner.mjs process and a client of its control API."""

    def __init__(self, proc, issuer, push_token, poll_token, tmpdir, output) -> None:
        self._proc = proc
        self.issuer = issuer
        self.push_token = push_token
        self.poll_token = poll_token
        self._tmpdir = tmpdir
        self._output = output

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def start(
        cls, *, portal: str, idp: OidcProvider, audience: str | None = None, timeout: float = 30.0
    ) -> SsfPartner:
        node = shutil.which("node")
        if not node:
            raise RuntimeError("SsfPartner: `node` is not on PATH")
        if not (IDP_DIR / "node_modules" / "jose").is_dir():
            raise RuntimeError(f"SsfPartner: {IDP_DIR / 'node_modules'} lacks jose (npm ci)")
        tmpdir = tempfile.mkdtemp(prefix="ssf-partner-")
        push_token = "partner-push-" + secrets.token_urlsafe(24)
        poll_token = "partner-poll-" + secrets.token_urlsafe(24)
        cfg_path = os.path.join(tmpdir, "partner.json")
        with open(cfg_path, "w") as f:
            json.dump(
                {
                    "port": 0,
                    "portal": portal,
                    "idp": idp.issuer,
                    "resource": idp.audience,
                    "audience": audience or portal,
                    "push_token": push_token,
                    "poll_token": poll_token,
                },
                f,
            )
        proc = subprocess.Popen(
            [node, str(PARTNER_JS), cfg_path],
            cwd=str(IDP_DIR),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        output: list[str] = []
        ready: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                output.append(line)
                if line.startswith("READY "):
                    ready.put(line.split(" ", 1)[1].strip())

        threading.Thread(target=pump, name="ssf-partner-output", daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                issuer = ready.get(timeout=0.1)
                break
            except queue.Empty:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                shutil.rmtree(tmpdir, ignore_errors=True)
                raise RuntimeError(f"SsfPartner did not start; output:\n{''.join(output)}")
        return cls(proc, issuer, push_token, poll_token, tmpdir, output)

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    @property
    def output(self) -> str:
        return "".join(self._output)

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks.json"

    @property
    def poll_url(self) -> str:
        """The partner's RFC 8936 poll endpoint (it transmits there)."""
        return f"{self.issuer}/transmitter/poll"

    # ------------------------------------------------------------ control API
    def _call(self, method: str, path: str, body: Any = None) -> Any:
        r = requests.request(method, f"{self.issuer}{path}", json=body, timeout=30)
        if r.status_code != 200:
            raise PartnerError(f"partner {method} {path}: {r.status_code} {r.text}\n{self.output}")
        return r.json()

    def reset(self) -> None:
        self._call("DELETE", "/control/all")

    # as a receiver
    def discover(self) -> dict:
        """GET the portal's /.well-known/ssf-configuration: {status, headers, body, problems}."""
        return self._call("POST", "/control/discover")

    def token(
        self, client_id: str = "ssf-receiver-1", scope: str = "ssf.manage ssf.read", store=True
    ) -> str:
        """A client-credentials token; ``store``: the client's token for later calls too."""
        got = self._call(
            "POST",
            "/control/token",
            {
                "client_id": client_id,
                "client_secret": SECRETS[client_id],
                "scope": scope,
                "store": store,
            },
        )
        if got["status"] != 200:
            raise PartnerError(f"token for {client_id}: {got}")
        return got["body"]["access_token"]

    def create_stream(self, delivery: str = "push", **kw) -> dict:
        """POST the configuration endpoint; delivery "push" (to this partner), "poll" or "none"."""
        return self._call("POST", "/control/streams", {"delivery": delivery, **kw})

    def manage(self, endpoint: str, method: str = "GET", **kw) -> dict:
        return self._call("POST", "/control/manage", {"endpoint": endpoint, "method": method, **kw})

    def status(self, stream_id: str, **kw) -> dict:
        return self.manage("status", query={"stream_id": stream_id}, **kw)

    def set_status(self, stream_id: str, status: str, reason: str | None = None, **kw) -> dict:
        body = {"stream_id": stream_id, "status": status}
        if reason:
            body["reason"] = reason
        return self.manage("status", "POST", body=body, **kw)

    def verify(self, stream_id: str, state: str | None = None, **kw) -> dict:
        return self._call("POST", "/control/verify", {"stream_id": stream_id, "state": state, **kw})

    def poll(self, stream_id: str, **kw) -> dict:
        return self._call("POST", "/control/poll", {"stream_id": stream_id, **kw})

    def received(self, stream_id: str | None = None) -> list[dict]:
        got = self._call("GET", "/control/received")
        return [r for r in got if stream_id is None or r.get("stream_id") == stream_id]

    def clear_received(self) -> None:
        self._call("DELETE", "/control/received")

    def answer_next(self, *statuses: int) -> None:
        self._call("POST", "/control/answers", {"statuses": list(statuses)})

    # as a transmitter
    def craft(self, event: str, subject: dict, **kw) -> dict:
        return self._call("POST", "/control/craft", {"event": event, "subject": subject, **kw})

    def push(self, event: str = "session-revoked", subject: dict | None = None, **kw) -> dict:
        """Sign and POST a SET to the portal's /ssf/events: {status, headers, body, set, jti}."""
        return self._call("POST", "/control/push", {"event": event, "subject": subject, **kw})

    def push_raw(self, set_: str, **kw) -> dict:
        return self._call("POST", "/control/push", {"set": set_, **kw})

    def queue(self, event: str = "session-revoked", subject: dict | None = None, **kw) -> dict:
        """Put a SET in the queue the portal polls."""
        return self._call("POST", "/control/queue", {"event": event, "subject": subject, **kw})

    def queued(self) -> list[str]:
        return self._call("GET", "/control/queue")

    def polls(self) -> list[dict]:
        return self._call("GET", "/control/polls")


def idp_sids(idp: OidcProvider, sub: str) -> list[str]:
    """The IdP session ids (``sid``) of ``sub``'s sign-ins, oldest first."""
    r = requests.get(f"{idp.issuer}/test/sids", params={"sub": sub}, timeout=10)
    r.raise_for_status()
    return r.json()


def wait_for(probe, timeout: float = 10.0, interval: float = 0.2, step=None):
    """Call ``step`` (e.g. one worker run) and ``probe`` until probe returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        if step is not None:
            step()
        got = probe()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(interval)


@pytest.fixture(scope="session")
def ssf_partner_process(idp, live_port):
    partner = SsfPartner.start(portal=f"http://127.0.0.1:{live_port}", idp=idp)
    yield partner
    partner.stop()


@pytest.fixture
def ssf_partner(ssf_partner_process):
    ssf_partner_process.reset()
    return ssf_partner_process


# ---------------------------------------------------------------- the portal under test
class PortalUnderTest:
    """The live portal the partner talks to, with the few published moves the tests need:
    running its worker once (``flask --app wsgi worker --once``), signing people in and ending
    sessions through its documented API."""

    def __init__(self, app, server, auth, idp) -> None:
        self.app = app
        self.url = server.url
        self.auth = auth
        self.idp = idp

    def run_worker(self) -> None:
        result = self.app.test_cli_runner().invoke(args=["worker", "--once"])
        assert result.exit_code == 0, result.output

    def browser(self, login: str = "alice"):
        """A fresh browser signed in as ``login`` (an IdP session with its own ``sid``)."""
        return self.auth.new_client(login)

    def api_headers(self, login: str = "alice") -> dict:
        """An IdP access token of ``login``, used once: an API client's session the portal knows."""
        headers = self.auth.bearer(login)
        assert self.api_works(headers)
        return headers

    @staticmethod
    def browser_signed_in(browser) -> bool:
        """Whether the browser's session still works (a page only a signed-in person sees)."""
        r = browser.get("/account/notifications")
        if r.status_code == 200:
            return True
        assert r.status_code in (302, 303, 401), r.status_code
        return False

    def api_works(self, headers: dict) -> bool:
        r = self.app.test_client().get("/devices", headers=headers)
        if r.status_code == 200:
            return True
        assert r.status_code in (401, 403), (r.status_code, r.data[:300])
        return False

    def admin_ends_sessions(self, login: str = "alice") -> None:
        """An admin, through the API, ends every session of ``login`` (docs/api.md: the
        sign-ins search finds the user, ``POST /devices/users/{userId}/revoke-all``); the
        portal tells its streams (session-revoked, initiating_entity admin)."""
        if not hasattr(self, "_admin"):
            self._admin = self.api_headers("admin")
        client = self.app.test_client()
        email = next(a["email"] for a in ACCOUNTS if a["sub"] == login)
        found = client.get("/sign-ins", query_string={"user": email}, headers=self._admin)
        assert found.status_code == 200, found.data[:300]
        users = {row["user"]["id"] for row in found.get_json() if row["user"]["email"] == email}
        assert len(users) == 1, found.get_json()
        r = client.post(f"/devices/users/{users.pop()}/revoke-all", headers=self._admin)
        assert r.status_code == 204, (r.status_code, r.data[:300])

    def end_other_sessions(self, headers: dict) -> None:
        """The person, through the API, ends every session but the API token's own: each
        browser session ends, and the portal tells its streams (session-revoked)."""
        r = self.app.test_client().post("/auth/devices/revoke-all", headers=headers)
        assert r.status_code == 204, (r.status_code, r.data[:300])


@pytest.fixture(scope="session")
def portal_rsa_key_file(tmp_path_factory):
    """An RSA 2048 private JWK for the portal's SETs (profile 2.7: RS256, 2048 bits or more)."""
    from joserfc.jwk import RSAKey

    path = tmp_path_factory.mktemp("ssf-rsa") / "portal-ssf-key.json"
    key = RSAKey.generate_key(2048, parameters={"kid": "portal-rsa-test"}, private=True)
    path.write_text(json.dumps(key.as_dict(private=True)))
    return path


def configure_portal(app_config: dict, partner: SsfPartner, live_port: int, key_file) -> None:
    """The portal's Shared Signals settings (docs/configuration.md): a transmitter whose issuer
    is the live origin, and a receiver trusting the partner (push with its bearer, poll of its
    endpoint)."""
    origin = f"http://127.0.0.1:{live_port}"
    app_config.update(
        SSF_ISSUER=origin,
        SSF_STREAMS=True,
        SSF_SIGNING_KEY_FILE=str(key_file),
        SSF_RECEIVE_ISSUER=partner.issuer,
        SSF_RECEIVE_TOKEN=partner.push_token,
        SSF_RECEIVE_AUDIENCE=origin,
    )


@pytest.fixture
def ssf_portal(request, app_config, ssf_partner, live_port, portal_rsa_key_file, idp):
    """The live portal, configured for the partner, with its app and a way to sign in."""
    configure_portal(app_config, ssf_partner, live_port, portal_rsa_key_file)
    server = request.getfixturevalue("live_server")
    app = request.getfixturevalue("app")
    auth = request.getfixturevalue("auth")
    return PortalUnderTest(app, server, auth, idp)


@pytest.fixture
def ssf_portal_polling(request, app_config, ssf_partner, idp):
    """The live portal as above, whose worker also polls the partner's poll endpoint
    (RFC 8936) with a client-credentials token of ``ssf-receiver-2`` (docs/ssf.md, Settings)."""
    app_config.update(
        SSF_RECEIVE_POLL_URL=ssf_partner.poll_url,
        SSF_RECEIVE_CLIENT_ID="ssf-receiver-2",
        SSF_RECEIVE_CLIENT_SECRET=SECRETS["ssf-receiver-2"],
        SSF_RECEIVE_RESOURCE=idp.audience,
    )
    return request.getfixturevalue("ssf_portal")
