"""Helpers for the tests that drive a real Chromium (``tests/e2e``; its fixtures are in
``tests/e2e/conftest.py``)."""

from __future__ import annotations


def browser_sign_in(browser, live_server, login: str) -> None:
    """Sign in through the IdP's real login page in a real browser."""
    from selenium.webdriver.common.by import By

    browser.get(live_server.url + "/")
    browser.find_element(By.ID, "hero-sign-in").click()
    field = browser.find_element(By.NAME, "login")
    field.send_keys(login)
    browser.find_element(By.ID, "login-submit").click()
    browser.find_element(By.ID, "devices")  # My devices has loaded
