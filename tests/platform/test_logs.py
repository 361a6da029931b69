"""The log lines' shape and the last-resort redaction, line by line (``portal.logs``), and the
request's id and access line in the app (``portal.request_log``). The whole run under
gunicorn is ``test_logs_run.py``."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest

from portal import logs
from portal.request_log import _server_request_line, configured_secrets

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
PERSONAL = "dpt_" + "A1b2C3d4" * 5 + "xyz"
ALERT = "eyJhIjoiMSJ9.Z3x1Qw.kXh0Zt3c1Mx8Q2rLw9V4bA5nY6oP7sT8uI0"


@pytest.fixture
def capture():
    """Logging as ``configure`` sets it up, into a buffer; the root logger restored after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("authlib").level
    buffer = io.StringIO()

    def lines(fmt: str = "json", level: str = "DEBUG", known=()) -> io.StringIO:
        logs.configure(level, fmt, known, stream=buffer)
        return buffer

    yield lines
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    logging.getLogger("authlib").setLevel(saved[2])
    for name in ("gunicorn.error", "gunicorn.access"):
        other = logging.getLogger(name)
        for added in [f for f in other.filters if isinstance(f, logs.Redactor)]:
            other.removeFilter(added)


@pytest.mark.parametrize(
    "line",
    [
        f"Authorization: Bearer {JWT}",
        "authorization=Basic cG9ydGFsOnNlY3JldC12YWx1ZQ==",
        "{'Authorization': 'Bearer SCIMSECRETSCIMSECRETSCIMSECRET'}",
        "sent Bearer SCIMSECRETSCIMSECRETSCIMSECRET to the receiver",
        "Cookie: portal_session=SESSIONVALUE.abc; portal_device=DEVICEVALUE.def",
        "Set-Cookie: __Host-portal_session=SESSIONVALUE.abc; Path=/; HttpOnly",
        "headers: portal_device=DEVICEVALUE.def",
        "GET /auth/callback?code=CODEVALUE123&state=STATEVALUE456&iss=x HTTP/1.1",
        "POST /token grant_type=authorization_code&code=CODEVALUE123&code_verifier=VERIFIER789",
        "client_secret=CLIENTSECRET000&client_id=portal",
        '{"refresh_token": "REFRESHVALUE", "id_token": "IDTOKENVALUE"}',
        "Using code_verifier: 'VERIFIER789'",
        "GET /devices?access_token=QUERYTOKEN HTTP/1.1",
        "end session at https://idp/logout?id_token_hint=IDTOKENVALUE&client_id=portal",
        "form csrf_token=CSRFVALUE1234 posted",
        f"a token {JWT} in words",
        f"personal token {PERSONAL} used",
        f"GET /alerts/{ALERT} HTTP/1.1",
        "the configured secret KNOWN-SECRET-1234567890 itself",
    ],
)
def test_the_redactor_takes_every_kind_of_secret_out_of_a_line(line):
    secrets = [
        "SESSIONVALUE",
        "DEVICEVALUE",
        "CODEVALUE123",
        "STATEVALUE456",
        "VERIFIER789",
        "CLIENTSECRET000",
        "REFRESHVALUE",
        "IDTOKENVALUE",
        "QUERYTOKEN",
        "CSRFVALUE1234",
        "SCIMSECRET",
        "cG9ydGFs",
        "KNOWN-SECRET",
        JWT.rsplit(".", 1)[1],
        PERSONAL[4:],
        ALERT,
    ]
    redacted = logs.Redactor(["KNOWN-SECRET-1234567890"]).redact(line)
    assert logs.REDACTED in redacted
    assert not [s for s in secrets if s in redacted], redacted


@pytest.mark.parametrize(
    "line",
    [
        "GET /devices/<id> 200",
        "GET /alerts/<token> 200",
        "mail <0adeeb13@localhost> sent",
        'sign-in failed: callback rejected: <MismatchingStateError "mismatching_state">',
        "token cache: Redis unavailable (Error 111); verifying the token instead",
        "database unavailable (request id 3c914724e5f31d9a): server closed the connection",
    ],
)
def test_the_redactor_leaves_ordinary_lines_as_they_are(line):
    assert logs.Redactor(["a-configured-secret"]).redact(line) == line


def test_a_json_line_has_every_field_and_no_secret_in_message_arguments_or_traceback(capture):
    out = capture("json", known=["KNOWN-SECRET-1234567890"])
    log = logging.getLogger("portal.test")
    with logs.bind(request_id="r-1", route="/devices/<id>", method="GET", user_id=lambda: "u-7"):
        try:
            raise ValueError("refused Bearer KNOWN-SECRET-1234567890")
        except ValueError:
            log.exception("failed for %s", "code=CODEVALUE123")
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["time"].endswith("Z") and record["level"] == "ERROR"
    assert record["logger"] == "portal.test" and record["message"] == "failed for code=[redacted]"
    assert (record["request_id"], record["route"], record["user_id"]) == (
        "r-1",
        "/devices/<id>",
        "u-7",
    )
    assert {"status", "duration_ms", "client", "method", "job"} <= record.keys()
    assert "ValueError" in record["exc_info"] and "KNOWN-SECRET" not in line


def test_authlib_never_logs_below_info_even_at_debug(capture):
    """Authlib's client logs the PKCE code verifier at DEBUG: that line is never written."""
    out = capture("json", "DEBUG")
    logging.getLogger("authlib.integrations.base_client.sync_app").debug("Using code_verifier: x")
    logging.getLogger("urllib3.connectionpool").debug("Starting new HTTP connection (1)")
    assert "code_verifier" not in out.getvalue() and "Starting new" in out.getvalue()


def test_a_text_line_names_the_request(capture):
    out = capture("text", "INFO")
    with logs.job("mail", "<m1@localhost>") as bound:
        logging.getLogger("portal.alerts.mail").info("mail %s sent", "<m1@localhost>")
    assert f"INFO portal.alerts.mail [{bound['request_id']}] mail <m1@localhost> sent" in (
        out.getvalue()
    )


def test_a_development_servers_own_request_lines_are_left_out(capture):
    """Werkzeug's line for each request shows the raw path and query; the access line
    replaces it. Its other lines stay."""
    out = io.StringIO()
    logs.configure("INFO", "json", stream=out, drop=_server_request_line)
    werkzeug = logging.getLogger("werkzeug")
    before = werkzeug.level
    werkzeug.setLevel(logging.NOTSET)  # as the development server leaves it: the root's INFO
    try:
        werkzeug.info(
            '127.0.0.1 - - [06/Dec/2026 23:00:00] "GET /auth/callback?code=C HTTP/1.1" 302 -'
        )
        werkzeug.info("Running on http://127.0.0.1:5000")
    finally:
        werkzeug.setLevel(before)
    (line,) = out.getvalue().splitlines()
    assert json.loads(line)["message"] == "Running on http://127.0.0.1:5000"


def test_gunicorns_own_log_is_redacted_too(capture):
    """gunicorn's error log has a handler of its own and names the raw request line when a
    request fails outside the app."""
    capture("json", known=["KNOWN-SECRET-1234567890"])
    own = io.StringIO()
    gunicorn = logging.getLogger("gunicorn.error")
    handler = logging.StreamHandler(own)
    gunicorn.addHandler(handler)
    try:
        gunicorn.error("Error handling request %s", f"/alerts/{ALERT}?code=CODEVALUE123")
        gunicorn.error("secret KNOWN-SECRET-1234567890")
    finally:
        gunicorn.removeHandler(handler)
    assert ALERT not in own.getvalue() and "CODEVALUE123" not in own.getvalue()
    assert "KNOWN-SECRET" not in own.getvalue() and own.getvalue().count("[redacted]") == 3


def test_the_configured_secrets_are_known_to_the_redactor():
    found = configured_secrets(
        {
            "SECRET_KEY": "k" * 32,
            "OIDC_CLIENT_SECRET": "client-secret",
            "SCIM_TOKEN": "s" * 40,
            "SSF_RECEIVER_TOKEN": "receiver-token",
            "MAIL_PASSWORD": "mail-password",
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://portal:db-password@db/portal",
            "REDIS_URL": "redis://:redis-password@cache:6379/0",
        }
    )
    assert set(found) == {
        "k" * 32,
        "client-secret",
        "s" * 40,
        "receiver-token",
        "mail-password",
        "db-password",
        "redis-password",
    }


def _access(out: io.StringIO) -> list[dict]:
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    return [r for r in records if r["logger"] == "portal.access"]


def test_each_request_has_one_access_line_with_its_id_and_rule(app, client, auth, capture):
    headers = auth.bearer("alice")
    out = capture("json", "INFO")
    missing = uuid.uuid4()
    found = client.get(f"/devices/{missing}", headers=headers)
    large = client.post("/logout", data="x" * (app.config["MAX_BODY_BYTES"] + 1))
    forged = client.post("/logout", data={"csrf_token": "not-a-token"})
    nowhere = client.get(f"/no/such/{missing}", headers={"X-Request-Id": "given-1"})
    lines = _access(out)
    assert [(r["route"], r["status"], r["request_id"]) for r in lines] == [
        ("/devices/<id>", found.status_code, found.headers["X-Request-Id"]),
        ("/logout", 413, large.headers["X-Request-Id"]),
        ("/logout", forged.status_code, forged.headers["X-Request-Id"]),
        (None, nowhere.status_code, "given-1"),
    ]
    assert str(missing) not in out.getvalue()  # the rule, never the path
    user = lines[0]["user_id"]
    assert user and uuid.UUID(user) and lines[0]["client"] == "127.0.0.1"
    assert all(r["duration_ms"] >= 0 and r["method"] in ("GET", "POST") for r in lines)


def test_the_access_line_comes_last_with_the_final_status(app, client, capture):
    """Lines logged during the request come before its access line and carry its id."""
    out = capture("json", "INFO")

    @app.get("/test-logs/warn")
    def _warn():
        logging.getLogger("portal.test").warning("during the request")
        return "ok"

    answer = client.get("/test-logs/warn")
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["logger"] for r in records] == ["portal.test", "portal.access"]
    assert {r["request_id"] for r in records} == {answer.headers["X-Request-Id"]}
    assert records[0]["route"] == "/test-logs/warn" and records[1]["status"] == 200


def test_the_settings_refuse_an_unknown_format_or_level():
    from portal.config import ConfigError, read

    for name, value in (("LOG_FORMAT", "xml"), ("LOG_LEVEL", "LOUD")):
        with pytest.raises(ConfigError, match=f"PORTAL_{name}"):
            read({"ENV": "testing", name: value})
    assert read({"ENV": "testing", "LOG_LEVEL": "debug"}).LOG_LEVEL == "DEBUG"
