"""Two real browsers signed in as one person: one signs the other out, and it is out at once."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from support.chromium import browser_sign_in

pytestmark = pytest.mark.e2e


def test_signing_out_the_other_browser_sends_it_to_the_sign_in_page(browser_factory, live_server):
    first, second = browser_factory(), browser_factory()
    browser_sign_in(first, live_server, "alice")
    browser_sign_in(second, live_server, "alice")

    first.get(live_server.url + "/")
    cards = first.find_elements(By.CSS_SELECTOR, "#devices .device-card")
    assert len(cards) == 2
    [other] = first.find_elements(By.CSS_SELECTOR, "#devices .device-card:not(.current)")
    other.find_element(By.CSS_SELECTOR, "details.device-menu > summary").click()  # Manage
    other.find_element(By.CSS_SELECTOR, "button[data-action=sign-out]").click()

    WebDriverWait(first, 10).until(
        EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash.success"), "Signed out")
    )
    flash = first.find_element(By.CSS_SELECTOR, ".flash.success").text
    assert flash.startswith("Signed out") and "1 session ended" in flash
    assert first.find_element(By.ID, "devices")  # the first browser is still signed in

    second.refresh()
    assert second.find_element(By.ID, "hero-sign-in").is_displayed()
    second.implicitly_wait(0)
    assert second.find_elements(By.ID, "devices") == []
    assert second.find_elements(By.CSS_SELECTOR, "[data-testid=signed-in-as]") == []


def test_sign_out_everywhere_confirms_without_javascript_and_signs_out_both(
    browser_factory, live_server
):
    first, second = browser_factory(), browser_factory()
    browser_sign_in(first, live_server, "alice")
    browser_sign_in(second, live_server, "alice")

    first.get(live_server.url + "/")
    first.find_element(By.ID, "sign-out-everywhere").click()
    # A click returns before the next page arrives: wait for that page, not the one it left.
    arrived = WebDriverWait(first, 10).until
    arrived(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Sign out everywhere?"))
    first.find_element(By.ID, "confirm").click()

    arrived(
        EC.text_to_be_present_in_element(
            (By.CSS_SELECTOR, ".flash"), "You were signed out everywhere."
        )
    )
    assert first.find_element(By.ID, "hero-sign-in")
    second.refresh()
    assert second.find_element(By.ID, "hero-sign-in")
