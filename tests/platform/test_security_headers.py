"""Every answer carries the security headers: pages, error pages, JSON and the probes alike;
HSTS whenever cookies are Secure (production), since the portal is then served over HTTPS."""

from __future__ import annotations

import pytest

from portal import create_app

ANSWERS = [
    ("/", 200),  # the landing page
    ("/nowhere", 404),  # an error page
    ("/devices", 401),  # JSON, refused
    ("/auth/devices", 401),  # JSON of the other family
    ("/livez", 200),
    ("/static/css/portal.css", 200),
]


def _directives(csp: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in csp.split(";") if part.strip()}


@pytest.mark.parametrize("path, status", ANSWERS)
def test_every_answer_carries_the_security_headers(client, idp, path, status):
    response = client.get(path)
    assert response.status_code == status

    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in headers["Permissions-Policy"]
    assert "geolocation=()" in headers["Permissions-Policy"]
    csp = _directives(headers["Content-Security-Policy"])
    assert csp["default-src"] == "'self'"
    assert csp["base-uri"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["form-action"] == f"'self' {idp.issuer}"  # the sign-in form posts to the IdP


def test_a_signed_in_page_carries_them_too(auth):
    page = auth.new_client("alice").get("/")
    assert page.status_code == 200
    assert "base-uri 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_no_hsts_while_cookies_are_not_secure(client):
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_hsts_when_cookies_are_secure(app_config):
    app = create_app({**app_config, "SESSION_COOKIE_SECURE": True})
    for path in ("/", "/devices", "/livez"):
        hsts = app.test_client().get(path).headers["Strict-Transport-Security"]
        assert hsts == "max-age=31536000; includeSubDomains"


def test_a_plain_request_id_is_echoed_and_anything_else_is_replaced(client):
    """The request id goes back into a header and into the logs as it is: a caller's id is kept
    only when it is a plain token."""
    kept = client.get("/livez", headers={"X-Request-Id": "trace-42.a/b:c=d"})
    assert kept.headers["X-Request-Id"] == "trace-42.a/b:c=d"
    for odd in ("two words", "x" * 129, "<script>", "a\tb"):
        replaced = client.get("/livez", headers={"X-Request-Id": odd}).headers["X-Request-Id"]
        assert replaced != odd and len(replaced) == 16 and int(replaced, 16) >= 0


def test_the_json_routes_neither_read_nor_set_the_browsers_session_cookie(auth):
    """A bearer-token route does not use the cookie session: a browser's cookie sent along
    neither acts there nor comes back refreshed."""
    browser = auth.new_client("alice")
    assert browser.get("/").status_code == 200  # a signed-in browser, with its session cookie
    answer = browser.get("/devices", headers=auth.bearer("alice"))
    assert answer.status_code == 200
    assert "Set-Cookie" not in answer.headers
    assert browser.get("/devices").status_code == 401  # the cookie alone is no credential
