"""A browser over plain HTTP: one cookie jar for the portal and the IdP, as a real browser has.

Cookies belong to a host, not a port, so the portal (127.0.0.1:P) and the test IdP
(127.0.0.1:Q) share this jar exactly as they share Chromium's.
"""

from __future__ import annotations

from urllib.parse import urljoin

import requests

from .account_helpers import csrf_from
from .idp import FormParser, OidcProvider


class HttpBrowser:
    """Pages are followed through every redirect; the last response is what the user sees."""

    def __init__(self, portal_url: str, idp: OidcProvider):
        self.portal_url = portal_url
        self.idp = idp
        self.http = requests.Session()

    def open(self, path: str) -> requests.Response:
        return self.http.get(urljoin(self.portal_url, path), timeout=15)

    def post(self, path: str, data: dict) -> requests.Response:
        return self.http.post(urljoin(self.portal_url, path), data=data, timeout=15)

    def csrf(self, path: str = "/") -> str:
        """The CSRF token of the forms on ``path``, as this browser sees the page."""
        return csrf_from(self.open(path).text)

    def press_sign_in(self) -> requests.Response:
        """Press *Sign in*: wherever the IdP and the portal lead, the page that stays."""
        return self.open("/login")

    def at_idp_login_form(self, page: requests.Response) -> bool:
        return page.url.startswith(self.idp.issuer) and 'name="login"' in page.text

    def submit_login(self, page: requests.Response, login: str) -> requests.Response:
        """Type ``login`` into the IdP's login form on ``page`` and submit it."""
        form = self._form(page, "login")
        return self.http.post(
            urljoin(page.url, form["action"]), data={**form["fields"], "login": login}, timeout=15
        )

    def sign_in(self, login: str) -> requests.Response:
        """Sign in, giving credentials at the IdP; fails if the IdP did not ask for them."""
        page = self.press_sign_in()
        assert self.at_idp_login_form(page), (page.url, page.text[:500])
        return self.submit_login(page, login)

    def signed_in(self) -> bool:
        """Whether the portal's home page shows My devices (rather than the landing page)."""
        page = self.open("/")
        assert page.status_code == 200, page.status_code
        return 'id="devices"' in page.text

    def forget_portal_cookies(self, *names: str) -> None:
        """Clear the portal's cookies and keep the IdP's (what a thief might do)."""
        for cookie in list(self.http.cookies):
            if cookie.name in names:
                self.http.cookies.clear(cookie.domain, cookie.path, cookie.name)

    def sign_out_at_idp(self) -> requests.Response:
        """Sign out on the IdP's own end-session page (not through the portal)."""
        page = self.http.get(self.idp.metadata["end_session_endpoint"], timeout=15)
        form = self._form(page, "xsrf")
        return self.http.post(urljoin(page.url, form["action"]), data=form["fields"], timeout=15)

    @staticmethod
    def _form(page: requests.Response, field: str) -> dict:
        parser = FormParser()
        parser.feed(page.text)
        for form in parser.forms:
            if field in form["fields"]:
                return form
        raise AssertionError(f"no form with {field!r} at {page.url}:\n{page.text[:1000]}")
