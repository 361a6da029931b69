"""A real browser signs in through the real IdP and sees My devices."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from support.chromium import browser_sign_in


def test_sign_in_lands_on_my_devices_with_this_device_marked(browser, live_server):
    browser_sign_in(browser, live_server, "alice@example.test")

    assert browser.current_url == live_server.url + "/"
    assert browser.find_element(By.CSS_SELECTOR, "[data-testid=signed-in-as]").text == (
        "Alice Anders"
    )
    cards = browser.find_elements(By.CSS_SELECTOR, "#devices .device-card")
    assert len(cards) == 1
    assert "This device" in cards[0].text
    assert "HeadlessChrome" in cards[0].text or "Chrome" in cards[0].text
    # The session cookie is HttpOnly: page scripts cannot read it.
    assert "portal_session" not in browser.execute_script("return document.cookie")


def test_sign_out_returns_to_the_welcome_page(browser, live_server):
    browser_sign_in(browser, live_server, "alice")
    browser.find_element(By.ID, "sign-out").click()
    # RP-initiated logout at the IdP, then back to the portal's welcome page.
    browser.find_element(By.ID, "hero-sign-in")
    assert browser.current_url.startswith(live_server.url + "/")
    browser.get(live_server.url + "/account/devices/00000000-0000-0000-0000-000000000000")
    assert browser.find_element(By.NAME, "login")  # sent to sign in again
