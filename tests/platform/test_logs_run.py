"""A whole run's JSON logs carry each request's id and route, and not one secret the run used.

The portal runs as in production: gunicorn with two workers (its own error log to a file of
its own, its access log off) and the background worker, ``PORTAL_LOG_FORMAT=json`` at
``DEBUG``, behind one trusted proxy (the test sends ``X-Forwarded-For`` as a proxy would),
with a real IdP (panva's oidc-provider, here with a Shared Signals receiver that wants a
bearer token), a real SMTP server and SCIM on. The run signs in through the IdP (an
authorization code, state, nonce and PKCE verifier), replays a used callback, makes a personal
token with a CSRF form, calls the API with a JWT and with the personal token, calls SCIM with
its token, opens an alert mail's link and presses its button, and signs out (the worker pushes
the session-revoked event with the receiver's token). Every secret it used is collected, and
every line the processes wrote is searched for each.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests
from flask import Flask
from sqlalchemy import create_engine, text
from support.account_helpers import csrf_from
from support.alert_helpers import links
from support.app_setup import AUDIENCE, TABLES_IN_DELETE_ORDER, make_config
from support.idp import OidcProvider, free_port

ROOT = Path(__file__).resolve().parents[2]
KEYS = {
    "time",
    "level",
    "logger",
    "message",
    "request_id",
    "route",
    "method",
    "status",
    "duration_ms",
    "user_id",
    "client",
}
BROWSER_ADDRESS = "198.51.100.23"  # what the proxy says the browser's address is
SCRIPT_ADDRESS = "203.0.113.7"
_PERSONAL_TOKEN = re.compile(r"dpt_[A-Za-z0-9_-]{43}")
ACCOUNTS = [
    {"sub": "alice", "email": "alice@example.test", "name": "Alice Anders", "groups": ["staff"]}
]
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Run:
    """The processes under test, what they wrote, and everything the run sent and received."""

    def __init__(self, work: Path, portal: str, secret_key: str) -> None:
        self.work = work
        self.portal = portal
        self.secret_key = secret_key
        self.secrets: dict[str, str] = {}  # what it is -> the value
        self.answers: list[requests.Response] = []  # every answer the portal gave
        self.processes: list[subprocess.Popen] = []

    def keep(self, what: str, value: str | None) -> None:
        if value:
            self.secrets[f"{what} #{len(self.secrets)}"] = value

    def session(self, address: str) -> requests.Session:
        """A client behind the proxy, whose every answer from the portal is kept."""
        http = requests.Session()
        http.headers["X-Forwarded-For"] = address

        def answered(response: requests.Response, *args, **kwargs) -> None:
            if response.url.startswith(self.portal):
                self.answers.append(response)

        http.hooks["response"].append(answered)
        return http

    def keep_cookies(self, http: requests.Session) -> None:
        for cookie in http.cookies:
            self.keep(f"cookie {cookie.name}", cookie.value)

    def lines(self) -> list[str]:
        """Every line the portal and the worker logged (their stderr)."""
        found = []
        for name in ("gunicorn.err", "worker.err"):
            found += (self.work / name).read_text().splitlines()
        return found

    def everything(self) -> str:
        """Every byte any process of the run wrote: logs, gunicorn's own, standard output."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.work.glob("*.*")))


def _spawn(run: Run, name: str, args: list[str], env: dict) -> None:
    with open(run.work / f"{name}.out", "w") as out, open(run.work / f"{name}.err", "w") as err:
        proc = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
    run.processes.append(proc)


def _wipe(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in TABLES_IN_DELETE_ORDER:
            conn.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


@pytest.fixture
def run(tmp_path, database_url, ssf_signing_key, smtp):
    """gunicorn (two workers) and the worker, on an IdP of their own whose SSF receiver
    wants a token; stopped (and so flushed) before the test reads their logs."""
    from portal.ssf.keys import read_signing_key

    _wipe(database_url)
    port = free_port()
    portal = f"http://127.0.0.1:{port}"
    receiver_token = secrets.token_urlsafe(24)
    idp = OidcProvider.start(
        ACCOUNTS,
        audience=AUDIENCE,
        client_secret=secrets.token_urlsafe(24),
        backchannel_logout_uri=f"{portal}/auth/backchannel-logout",
        ssf={
            "issuer": portal,
            "jwks": {"keys": [read_signing_key(ssf_signing_key).public_jwk()]},
            "token": receiver_token,
        },
    )
    settings = make_config(
        idp,
        database_url,
        ENV="production",
        SECRET_KEY=secrets.token_urlsafe(32),
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
        TRUSTED_PROXIES=1,
        SCIM_TOKEN=secrets.token_hex(24),
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp.port,
        SSF_RECEIVER_URL=idp.ssf_receiver_url,
        SSF_ISSUER=portal,
        SSF_SIGNING_KEY_FILE=str(ssf_signing_key),
        SSF_RECEIVER_TOKEN=receiver_token,
        DATABASE_LOCK_TIMEOUT=10,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        {f"PORTAL_{k}": v if isinstance(v, str) else json.dumps(v) for k, v in settings.items()}
    )
    result = Run(tmp_path, portal, settings["SECRET_KEY"])
    result.idp = idp  # type: ignore[attr-defined]
    result.settings = settings  # type: ignore[attr-defined]
    for name in ("SECRET_KEY", "SCIM_TOKEN", "SSF_RECEIVER_TOKEN", "OIDC_CLIENT_SECRET"):
        result.keep(name, settings[name])
    gunicorn = [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
    gunicorn += ["--error-logfile", str(tmp_path / "gunicorn-own.log"), "wsgi:app"]
    _spawn(result, "gunicorn", gunicorn, env)
    worker = [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--interval", "0.2"]
    _spawn(result, "worker", worker, env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{portal}/livez", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, result.everything()
            assert all(p.poll() is None for p in result.processes), result.everything()
            time.sleep(0.2)
        yield result
    finally:
        for proc in result.processes:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        idp.stop()


def _session_cookie(run: Run, http: requests.Session) -> dict:
    """The Flask session a browser holds (signed, not encrypted): Authlib's state data."""
    app = Flask("reader")
    app.secret_key = run.secret_key
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    assert serializer is not None
    return serializer.loads(http.cookies["portal_session"])


def _strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def sign_in(run: Run, login: str) -> requests.Session:
    """A browser's sign-in through the IdP; keeps its state, nonce, verifier, code, cookies."""
    http = run.session(BROWSER_ADDRESS)
    begun = http.get(f"{run.portal}/login", allow_redirects=False, timeout=15)
    assert begun.status_code == 302, begun.text[:500]
    for name, value in parse_qsl(urlsplit(begun.headers["Location"]).query):
        if name in ("state", "nonce"):
            run.keep(f"authorize {name}", value)
    for key, state in _session_cookie(run, http).items():
        if key.startswith("_state_"):
            data = state.get("data", {})
            for name in ("code_verifier", "nonce"):
                run.keep(f"session {name}", data.get(name))
    callback = run.idp.login_through(requests.Session(), begun.headers["Location"], login)  # type: ignore[attr-defined]
    for name, value in parse_qsl(urlsplit(callback).query):
        if name in ("code", "state"):
            run.keep(f"callback {name}", value)
    assert callback.startswith(f"{run.portal}/auth/callback?"), callback
    done = http.get(callback, timeout=15)
    assert done.status_code == 200 and 'id="devices"' in done.text, done.text[:500]
    # The callback replayed by another browser (no state of its own): refused, with a warning.
    again = run.session(BROWSER_ADDRESS).get(callback, timeout=15, allow_redirects=False)
    assert again.status_code == 400, again.status_code
    run.keep_cookies(http)
    return http


def _wait_for(what: str, found, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (result := found()):
        assert time.monotonic() < deadline, f"no {what} in {timeout:.0f} s"
        time.sleep(0.2)
    return result


def drive(run: Run, smtp) -> None:
    """Every flow whose secrets must stay out of the logs."""
    first = sign_in(run, "alice")
    second = sign_in(run, "alice")  # a new device of a user with one: an alert mail
    mail = _wait_for("alert mail", lambda: smtp.messages())[0]

    # A CSRF form: a personal token, shown once after post/redirect/get.
    page = first.get(f"{run.portal}/account/tokens", timeout=15)
    csrf = csrf_from(page.text)
    run.keep("csrf token", csrf)
    made = first.post(
        f"{run.portal}/account/tokens",
        data={"csrf_token": csrf, "name": "script", "scopes": ["devices:read"], "days": "30"},
        timeout=15,
    )
    personal = _PERSONAL_TOKEN.search(made.text)
    assert made.status_code == 200 and personal, made.text[:1000]
    run.keep("personal token", personal.group(0))

    script = run.session(SCRIPT_ADDRESS)
    jwt = run.idp.access_token("alice")  # type: ignore[attr-defined]
    run.keep("access token", jwt)
    run.keep("access token signature", jwt.rsplit(".", 1)[1])
    for token in (jwt, personal.group(0)):
        answer = script.get(f"{run.portal}/devices", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text[:500]
        device = answer.json()["devices"][0]["id"]
    found = script.get(
        f"{run.portal}/devices/{device}",
        headers={"Authorization": f"Bearer {jwt}", "X-Request-Id": "trace-7.a/b"},
    )
    assert found.status_code == 200 and found.headers["X-Request-Id"] == "trace-7.a/b"
    wrong = secrets.token_urlsafe(30)
    run.keep("a wrong bearer token", wrong)
    refused = script.get(f"{run.portal}/devices", headers={"Authorization": f"Bearer {wrong}"})
    assert refused.status_code == 401
    scim = run.settings["SCIM_TOKEN"]  # type: ignore[attr-defined]
    users = script.get(
        f"{run.portal}/scim/v2/Users", headers={"Authorization": f"Bearer {scim}"}, timeout=15
    )
    assert users.status_code == 200, users.text[:500]
    assert (
        script.get(f"{run.portal}/scim/v2/Users", headers={"Authorization": "Bearer x"}).ok is False
    )
    # A secret in a query string, where no log may repeat it.
    run.keep("query token", "q" + secrets.token_hex(16))
    script.get(f"{run.portal}/devices?access_token={list(run.secrets.values())[-1]}")

    # The alert mail's links: "No, secure my account" opened, then its button pressed (a CSRF
    # form of its own): the second browser's session ends, and the IdP is told (the worker
    # pushes the event with the receiver's token).
    for answer, link in links(mail).items():
        run.keep(f"alert link {answer}", link.rsplit("/", 1)[1])
    link = links(mail)["no"]
    mail_reader = run.session(BROWSER_ADDRESS)
    opened = mail_reader.get(f"{run.portal}{link}", timeout=15)
    assert opened.status_code == 200, opened.text[:500]
    button = csrf_from(opened.text)
    run.keep("alert page csrf token", button)
    pressed = mail_reader.post(f"{run.portal}{link}", data={"csrf_token": button}, timeout=15)
    assert pressed.status_code == 200, pressed.text[:500]
    run.keep_cookies(mail_reader)
    pushes = run.idp.ssf_pushes  # type: ignore[attr-defined]
    _wait_for("pushed event", lambda: [p for p in pushes() if p["status"] == 202])

    # Sign-out: the IdP's end-session URL carries the ID token.
    run.keep_cookies(first)
    out_page = first.get(f"{run.portal}/", timeout=15)
    out = first.post(
        f"{run.portal}/logout", data={"csrf_token": csrf_from(out_page.text)}, allow_redirects=False
    )
    assert out.status_code in (302, 303), out.text[:500]
    for name, value in parse_qsl(urlsplit(out.headers["Location"]).query):
        if name == "id_token_hint":
            run.keep("id token", value)
    assert second.get(f"{run.portal}/", timeout=15).status_code == 200
    time.sleep(0.5)  # the worker logs its outcome after the receiver answered


def test_a_whole_run_logs_json_with_request_ids_and_no_secret(run, smtp):
    drive(run, smtp)
    for proc in run.processes:  # stopped, so every line is written
        proc.terminate()
        proc.wait(timeout=15)

    lines = run.lines()
    records = []
    for line in lines:
        record = json.loads(line)  # every line is one JSON object
        assert record.keys() >= KEYS, line
        assert record["time"].endswith("Z"), line  # UTC, ISO 8601
        datetime.fromisoformat(record["time"].replace("Z", "+00:00"))
        records.append(record)
    assert any(r["level"] == "DEBUG" for r in records)  # the run really logged at DEBUG

    # Not one secret, whole, URL-encoded or as its signature, anywhere a process wrote.
    written = run.everything()
    assert len(run.secrets) >= 20, run.secrets.keys()
    for what, value in run.secrets.items():
        for form in {value, quote(value, safe="")}:
            assert form not in written, f"{what} is in the logs"

    # One access line per answer, with its request id, route rule, status and client.
    access = [r for r in records if r["logger"] == "portal.access"]
    by_id: dict[str, list[dict]] = {}
    for record in access:
        by_id.setdefault(record["request_id"], []).append(record)
    assert len(access) == len(by_id)  # no request id on two access lines
    for answer in run.answers:
        request_id = answer.headers["X-Request-Id"]
        (line,) = by_id.pop(request_id)
        assert line["status"] == answer.status_code, (line, answer.url)
        assert line["method"] == answer.request.method
        assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
        assert line["client"] == answer.request.headers["X-Forwarded-For"]
        assert not _UUID.search(line["route"] or ""), line  # a rule, never the path's ids
        assert not _UUID.search(line["message"]), line
    # The only others: the fixture's waiting for /livez.
    assert all(lines[0]["route"] == "/livez" for lines in by_id.values()), by_id
    routes = {line["route"] for line in access}
    assert {"/auth/callback", "/devices/<id>", "/alerts/<token>"} <= routes, routes

    # Every line of a request carries its id; the caller's id when it was a plain token.
    traced = [r for r in records if r["request_id"] == "trace-7.a/b"]
    assert [r["logger"] for r in traced][-1] == "portal.access" and traced[-1]["status"] == 200
    warned = [r for r in records if r["message"].startswith("sign-in failed")]
    assert warned and all(r["request_id"] and r["route"] == "/auth/callback" for r in warned)

    # The user is an id, never an email; signed-in requests name theirs.
    users = {r["user_id"] for r in records if r["user_id"]}
    assert users and all(_UUID.fullmatch(u) for u in users), users
    assert not any("@example.test" in (r["user_id"] or "") for r in records)
    api = [r for r in access if r["route"] == "/devices/<id>"]
    assert api and all(r["user_id"] in users for r in api)

    # The worker's lines of one job share a request id and name the job.
    jobs = [r for r in records if r["job"]]
    assert {r["job"].split()[0] for r in jobs} >= {"mail", "event"}, jobs
    assert all(r["request_id"] for r in jobs)
