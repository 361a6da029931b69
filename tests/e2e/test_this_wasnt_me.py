"""*This wasn't me* in real browsers: alice reports the other browser signed in to her account.

Browser A and browser B are both signed in as alice through the real IdP. From A she presses
*This wasn't me* on B's card and confirms; B's next page is the signed-out landing page, and
pressing *Sign in* there meets the IdP's login form instead of coming straight back through the
IdP's single sign-on. An admin then sees the report as a flag in the users list and on her page.
"""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from support.chromium import browser_sign_in

pytestmark = pytest.mark.e2e


def next_second() -> None:
    """Wait for the wall clock's next second: the IdP's ``auth_time`` has whole seconds, so a
    report only outdates sign-ins made in an earlier second."""
    time.sleep(1.02 - time.time() % 1)


def test_reporting_the_other_browser_signs_it_out_and_flags_it_for_admins(
    browser_factory, live_server, idp
):
    a, b = browser_factory(), browser_factory()
    browser_sign_in(b, live_server, "alice")
    browser_sign_in(a, live_server, "alice")
    next_second()

    # A: B's card offers "This wasn't me"; A's own card does not.
    a.get(live_server.url + "/")
    assert not a.find_elements(
        By.CSS_SELECTOR, "#devices .device-card.current [data-action=report]"
    )
    [b_card] = a.find_elements(By.CSS_SELECTOR, "#devices .device-card:not(.current)")
    b_device = b_card.get_attribute("data-device-id")
    b_card.find_element(By.CSS_SELECTOR, "details.device-menu > summary").click()  # Manage
    b_card.find_element(By.CSS_SELECTOR, "a[data-action=report]").click()

    # The confirm page says what will happen; confirming does it.
    WebDriverWait(a, 10).until(EC.url_contains(f"/account/devices/{b_device}/report"))
    assert a.find_element(By.TAG_NAME, "h1").text.startswith("This wasn't you on")
    consequences = a.find_element(By.ID, "consequences").text
    assert "signed out at once" in consequences and "no longer trusted" in consequences
    assert "must give your password at the identity" in consequences
    a.find_element(By.ID, "confirm").click()
    WebDriverWait(a, 10).until(EC.url_to_be(live_server.url + "/"))

    flash = a.find_element(By.CSS_SELECTOR, ".flash.success").text
    assert flash.startswith("Reported") and "1 session ended" in flash
    assert "Change your password at your identity provider" in flash
    card = a.find_element(By.CSS_SELECTOR, f'.device-card[data-device-id="{b_device}"]')
    # Reported, signed out (its row moved to the signed-out devices), and not offered trust.
    assert "Reported" in card.text
    assert a.find_elements(By.CSS_SELECTOR, f'#signed-out [data-device-id="{b_device}"]')
    assert not card.find_elements(By.CSS_SELECTOR, "[data-action=trust], .badge.trusted")
    assert a.find_element(By.CSS_SELECTOR, "#devices .device-card.current")  # A stays in

    # B: its next page load is signed out, and signing in asks for credentials again.
    b.refresh()
    b.find_element(By.ID, "hero-sign-in").click()
    WebDriverWait(b, 10).until(EC.url_contains(idp.issuer))
    login = b.find_element(By.NAME, "login")
    assert not b.find_elements(By.ID, "devices")
    login.clear()
    login.send_keys("alice")
    b.find_element(By.ID, "login-submit").click()
    assert b.find_element(By.ID, "devices")  # back in, after giving credentials

    # An admin sees the report in the users list and on alice's page.
    admin = browser_factory()
    browser_sign_in(admin, live_server, "admin")
    admin.find_element(By.LINK_TEXT, "Admin").click()
    search = admin.find_element(By.ID, "user-search")
    search.send_keys("alice")
    search.submit()
    WebDriverWait(admin, 10).until(EC.url_contains("q=alice"))
    [row] = admin.find_elements(By.CSS_SELECTOR, "#users tbody tr[data-user-id]")
    flag = row.find_element(By.CSS_SELECTOR, "[data-flag=reported_suspicious]")
    assert flag.text == "Reported as not them"
    row.find_element(By.LINK_TEXT, "Alice Anders").click()

    WebDriverWait(admin, 10).until(EC.url_contains("/admin/users/"))
    device = admin.find_element(By.CSS_SELECTOR, f'.admin-device[data-device-id="{b_device}"]')
    flag = device.find_element(By.CSS_SELECTOR, "header [data-flag=reported_suspicious]")
    assert flag.text.startswith("Reported as not them · ")  # and when, exact on hover
    assert flag.find_element(By.TAG_NAME, "time").get_attribute("datetime")
    assert flag.get_attribute("title").startswith("Reported by the user as not them on ")
    assert "Reported as not the user" in device.find_element(By.CSS_SELECTOR, ".login-history").text
