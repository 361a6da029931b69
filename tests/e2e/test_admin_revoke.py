"""An admin finds a user, opens their page and revokes their session; that browser is signed out.

Two real Chromium browsers (the admin's and alice's), signed in through the real IdP.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from support.chromium import browser_sign_in

pytestmark = pytest.mark.e2e


def test_admin_revokes_alices_session_and_alices_browser_is_signed_out(
    browser_factory, live_server
):
    alice = browser_factory()
    browser_sign_in(alice, live_server, "alice")
    assert alice.find_elements(By.CSS_SELECTOR, "#devices .device-card")

    admin = browser_factory()
    browser_sign_in(admin, live_server, "admin")

    # Find alice from the Admin link in the navigation.
    admin.find_element(By.LINK_TEXT, "Admin").click()
    search = admin.find_element(By.ID, "user-search")
    search.send_keys("ALICE")
    search.submit()
    # Wait for the results page: the unfiltered list is already on screen and would match too.
    WebDriverWait(admin, 10).until(EC.url_contains("q=ALICE"))
    rows = admin.find_elements(By.CSS_SELECTOR, "#users tbody tr[data-user-id]")
    assert len(rows) == 1 and "alice@example.test" in rows[0].text
    rows[0].find_element(By.LINK_TEXT, "Alice Anders").click()

    # Her page: one device, one active session; revoke it after confirming.
    assert admin.find_element(By.ID, "user-name").text == "Alice Anders"
    history = admin.find_elements(By.CSS_SELECTOR, ".login-history tbody tr[data-session-id]")
    assert len(history) == 1 and "Active" in history[0].text
    user_page = admin.current_url
    history[0].find_element(By.CSS_SELECTOR, "a.revoke-session").click()
    WebDriverWait(admin, 10).until(EC.url_contains("/revoke"))
    assert "Revoke this session?" in admin.find_element(By.TAG_NAME, "h1").text
    admin.find_element(By.ID, "confirm-revoke").click()
    WebDriverWait(admin, 10).until(EC.url_to_be(user_page))

    assert "revoked" in admin.find_element(By.CSS_SELECTOR, ".flash").text
    status = admin.find_element(By.CSS_SELECTOR, ".login-history tbody tr td.status").text
    assert "Revoked by an admin" in status
    assert admin.find_element(By.ID, "active-count").text == "0"

    # Alice's next request finds her signed out.
    alice.refresh()
    assert alice.find_element(By.ID, "hero-sign-in")
    assert not alice.find_elements(By.ID, "devices")
