"""Run the real OpenID provider in tests/idp/server.mjs (panva's oidc-provider) for tests.

idp = OidcProvider.start([{"sub": "alice", "email": "alice@example.test",
                           "name": "Alice", "groups": ["admins"]}])
...
idp.stop()
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
IDP_DIR = REPO_ROOT / "tests" / "idp"
SERVER_JS = IDP_DIR / "server.mjs"

DEFAULT_AUDIENCE = "https://portal.test/api"
CALLBACK_PATH = "/auth/callback"
# The Shared Signals receivers' client-credentials clients (tests/idp/server.mjs).
SSF_CLIENT_SECRETS = {"ssf-receiver-1": "ssf-secret-1", "ssf-receiver-2": "ssf-secret-2"}
# Never requested: access_token() only parses the redirect the IdP sends there.
DUMMY_REDIRECT_URI = "http://127.0.0.1:9/auth/callback"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


class FormParser(HTMLParser):
    """Every <form> on a page: its action, method and input fields (hidden ones included)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append(
                {
                    "action": a.get("action") or "",
                    "method": (a.get("method") or "get").lower(),
                    "fields": {},
                }
            )
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""


class OidcProvider:
    """A running tests/idp/server.mjs process."""

    issuer: str
    client_id: str
    client_secret: str
    audience: str

    def __init__(
        self,
        proc: subprocess.Popen,
        issuer: str,
        client_id: str,
        client_secret: str,
        audience: str,
        accounts: list[dict],
        tmpdir: str,
        output: list[str],
    ) -> None:
        self._proc = proc
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.audience = audience
        self.accounts = accounts
        self._tmpdir = tmpdir
        self._output = output
        self._metadata: dict | None = None

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def start(
        cls,
        accounts: list[dict],
        audience: str = DEFAULT_AUDIENCE,
        *,
        client_id: str = "portal",
        client_secret: str = "portal-secret",
        backchannel_logout_uri: str | None = None,
        ssf: dict | None = None,
        timeout: float = 30.0,
    ) -> OidcProvider:
        node = shutil.which("node")
        if not node:
            raise RuntimeError(
                "OidcProvider: `node` is not on PATH; run scripts/install-test-deps.sh"
            )
        if not SERVER_JS.is_file():
            raise RuntimeError(f"OidcProvider: {SERVER_JS} is missing")
        if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(
                f"OidcProvider: {IDP_DIR / 'node_modules'} is missing (oidc-provider not "
                "installed); run scripts/install-test-deps.sh (npm ci in tests/idp)"
            )

        port = free_port()
        issuer = f"http://127.0.0.1:{port}"
        tmpdir = tempfile.mkdtemp(prefix="portal-idp-")
        cfg_path = os.path.join(tmpdir, "idp.json")
        with open(cfg_path, "w") as f:
            json.dump(
                {
                    "port": port,
                    "issuer": issuer,
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "audience": audience,
                    "accounts": accounts,
                    "backchannel_logout_uri": backchannel_logout_uri,
                    "ssf": ssf,
                },
                f,
            )

        proc = subprocess.Popen(
            [node, str(SERVER_JS), cfg_path],
            cwd=str(IDP_DIR),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        output: list[str] = []
        ready: queue.Queue[str] = queue.Queue()

        def pump() -> None:  # keeps draining the pipe so the process never blocks
            assert proc.stdout is not None
            for line in proc.stdout:
                output.append(line)
                if line.startswith("READY "):
                    ready.put(line.split(" ", 1)[1].strip())

        threading.Thread(target=pump, name="oidc-provider-output", daemon=True).start()

        deadline = time.monotonic() + timeout
        while True:
            try:
                got = ready.get(timeout=0.1)
                break
            except queue.Empty:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                reason = (
                    f"exited with {proc.returncode}"
                    if proc.poll() is not None
                    else f"not READY after {timeout:.0f} s"
                )
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                time.sleep(0.1)
                shutil.rmtree(tmpdir, ignore_errors=True)
                raise RuntimeError(
                    f"OidcProvider ({SERVER_JS}) {reason}; output:\n{''.join(output)}"
                )
        if got != issuer:
            proc.kill()
            raise RuntimeError(f"OidcProvider announced {got!r}, expected {issuer!r}")
        return cls(proc, issuer, client_id, client_secret, audience, accounts, tmpdir, output)

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self) -> OidcProvider:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def output(self) -> str:
        """Everything the node process printed so far (handy in assertion messages)."""
        return "".join(self._output)

    # ------------------------------------------------------------ metadata
    @property
    def metadata(self) -> dict:
        if self._metadata is None:
            r = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
            r.raise_for_status()
            self._metadata = r.json()
        return self._metadata

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def jwks(self) -> dict:
        r = requests.get(self.metadata["jwks_uri"], timeout=10)
        r.raise_for_status()
        return r.json()

    # ------------------------------------------------------------ browser-less login
    def login_through(self, http: requests.Session, authorize_url: str, login: str) -> str:
        """Follow the IdP's pages from authorize_url with `http` (a requests.Session holding
        the IdP's cookies), sign in as `login`, and return the final redirect URL that points
        back at the RP's /auth/callback (that URL is NOT requested)."""
        url, method, data = authorize_url, "GET", None
        submitted = False
        for _ in range(20):
            r = http.request(method, url, data=data, allow_redirects=False, timeout=10)
            if r.is_redirect or r.status_code in (301, 302, 303, 307, 308):
                nxt = urljoin(url, r.headers["Location"])
                if self._is_rp_callback(nxt):
                    return nxt
                url, method, data = nxt, "GET", None
                continue
            if r.status_code == 200 and 'name="login"' in r.text:
                if submitted:
                    raise RuntimeError(f"IdP rejected login {login!r}: {r.text}")
                parser = FormParser()
                parser.feed(r.text)
                form = next(f for f in parser.forms if "login" in f["fields"])
                data = {**form["fields"], "login": login}
                url, method = urljoin(r.url, form["action"]), form["method"].upper()
                submitted = True
                continue
            raise RuntimeError(
                f"unexpected IdP response {r.status_code} at {url}:\n{r.text[:2000]}"
            )
        raise RuntimeError("too many redirects while logging in at the IdP")

    def _is_rp_callback(self, url: str) -> bool:
        u = urlparse(url)
        return (
            u.hostname in ("127.0.0.1", "localhost")
            and u.path == CALLBACK_PATH
            and f"{u.scheme}://{u.netloc}" != self.issuer
        )

    # ------------------------------------------------------------ tokens
    def authorize_url(
        self,
        *,
        scope: str,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_challenge: str | None,
        **extra: str,
    ) -> str:
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
        }
        if code_challenge is not None:
            params.update(code_challenge=code_challenge, code_challenge_method="S256")
        params.update(extra)
        return f"{self.metadata['authorization_endpoint']}?{urlencode(params)}"

    def tokens(
        self,
        login: str,
        scope: str = "openid devices:read devices:write",
        *,
        resource: str | None = None,
        **extra: str,
    ) -> dict:
        """The token endpoint's whole JSON response for `login` (code flow + PKCE, basic auth)."""
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        with requests.Session() as http:
            url = self.authorize_url(
                scope=scope,
                redirect_uri=DUMMY_REDIRECT_URI,
                state=state,
                nonce=nonce,
                code_challenge=challenge,
                **extra,
            )
            callback = self.login_through(http, url, login)
        q = parse_qs(urlparse(callback).query)
        if "error" in q:
            raise RuntimeError(f"IdP authorization error: {q}")
        if q.get("state") != [state]:
            raise RuntimeError(f"state mismatch in {callback}")
        data = {
            "grant_type": "authorization_code",
            "code": q["code"][0],
            "redirect_uri": DUMMY_REDIRECT_URI,
            "code_verifier": verifier,
        }
        if resource:
            data["resource"] = resource
        r = requests.post(
            self.metadata["token_endpoint"],
            data=data,
            auth=(self.client_id, self.client_secret),
            timeout=10,
        )
        if r.status_code != 200:
            raise RuntimeError(f"token endpoint {r.status_code}: {r.text}")
        return r.json()

    def access_token(self, login: str, scope: str = "openid devices:read devices:write") -> str:
        """A real RFC 9068 JWT access token for `login`, for the configured audience."""
        return self.tokens(login, scope, resource=self.audience)["access_token"]

    def client_token(
        self,
        client_id: str = "ssf-receiver-1",
        client_secret: str | None = None,
        scope: str = "ssf.manage ssf.read",
    ) -> str:
        """A client-credentials JWT access token (no user) for the configured audience: the
        Shared Signals receivers ``ssf-receiver-1`` and ``ssf-receiver-2`` (secrets
        ``ssf-secret-1``, ``ssf-secret-2``) may ask for ``ssf.manage`` and ``ssf.read``."""
        secret = client_secret or SSF_CLIENT_SECRETS[client_id]
        r = requests.post(
            self.metadata["token_endpoint"],
            data={"grant_type": "client_credentials", "scope": scope, "resource": self.audience},
            auth=(client_id, secret),
            timeout=10,
        )
        if r.status_code != 200:
            raise RuntimeError(f"token endpoint {r.status_code}: {r.text}")
        return r.json()["access_token"]

    # ------------------------------------------------------------ back-channel logout
    def logout_token(self, *, sub: str | None = None, sid: str | None = None, **claims) -> str:
        """A logout token signed with the IdP's key, as its back-channel logout sends them."""
        r = requests.post(
            f"{self.issuer}/test/logout-token",
            json={"sub": sub, "sid": sid, "claims": claims},
            timeout=10,
        )
        r.raise_for_status()
        return r.json()["logout_token"]

    def refresh(self, refresh_token: str, resource: str | None = None) -> dict:
        """The token endpoint's answer to a refresh-token grant."""
        r = requests.post(
            self.metadata["token_endpoint"],
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "resource": resource or self.audience,
            },
            auth=(self.client_id, self.client_secret),
            timeout=10,
        )
        if r.status_code != 200:
            raise RuntimeError(f"token endpoint {r.status_code}: {r.text}")
        return r.json()

    # ------------------------------------------------------------ shared signals receiver
    @property
    def ssf_receiver_url(self) -> str:
        return f"{self.issuer}/ssf/events"

    def ssf_pushes(self) -> list[dict]:
        """Every SET pushed to the receiver since the last reset: its jti, the status answered
        and the RFC 8935 ``err`` (None when taken)."""
        r = requests.get(f"{self.issuer}/test/ssf/pushes", timeout=10)
        r.raise_for_status()
        return r.json()

    def ssf_reset(self) -> None:
        requests.delete(f"{self.issuer}/test/ssf/pushes", timeout=10).raise_for_status()

    def ssf_answer_next(self, *statuses: int) -> None:
        """The receiver answers its next pushes with these statuses, in turn, unread."""
        requests.post(
            f"{self.issuer}/test/ssf/answers", json=list(statuses), timeout=10
        ).raise_for_status()
