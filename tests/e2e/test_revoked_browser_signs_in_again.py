"""In Chromium: a browser signed out from another one must give credentials at the IdP again,
even though it still holds the IdP's single sign-on cookies; the browser that acted goes on."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from support.chromium import browser_sign_in

pytestmark = pytest.mark.e2e


def test_the_revoked_browser_meets_the_idp_login_form_and_the_other_is_undisturbed(
    browser_factory, live_server, idp
):
    laptop, phone = browser_factory(), browser_factory()
    browser_sign_in(laptop, live_server, "alice")
    browser_sign_in(phone, live_server, "alice")
    time.sleep(1.02 - time.time() % 1)  # auth_time has whole seconds

    laptop.get(live_server.url + "/")
    [other] = laptop.find_elements(By.CSS_SELECTOR, "#devices .device-card:not(.current)")
    other.find_element(By.CSS_SELECTOR, "details.device-menu > summary").click()  # Manage
    other.find_element(By.CSS_SELECTOR, "button[data-action=sign-out]").click()
    assert "1 session ended" in laptop.find_element(By.CSS_SELECTOR, ".flash.success").text

    phone.get(live_server.url + "/")
    phone.find_element(By.ID, "hero-sign-in").click()

    # The IdP asks for the account again instead of answering with a code at once.
    field = phone.find_element(By.NAME, "login")
    assert phone.current_url.startswith(idp.issuer)
    assert field.get_attribute("value") == "alice@example.test"  # login_hint
    phone.find_element(By.ID, "login-submit").click()
    assert phone.find_element(By.ID, "devices")  # back in, after credentials

    laptop.refresh()
    assert laptop.find_element(By.ID, "devices")
    assert len(laptop.find_elements(By.CSS_SELECTOR, "#devices .device-card")) == 2


def test_signing_out_at_the_idp_signs_that_browser_out_of_the_portal_only(
    browser_factory, live_server, idp
):
    laptop, phone = browser_factory(), browser_factory()
    browser_sign_in(laptop, live_server, "alice")
    browser_sign_in(phone, live_server, "alice")

    phone.get(idp.metadata["end_session_endpoint"])  # the IdP's own page; it confirms itself
    assert phone.find_element(By.ID, "signed-out")

    phone.get(live_server.url + "/")
    assert phone.find_element(By.ID, "hero-sign-in")
    laptop.get(live_server.url + "/")
    assert laptop.find_element(By.ID, "devices")
