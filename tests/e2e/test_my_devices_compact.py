"""My devices reads at a glance (issue 32, item 6): ten devices, three of them signed in, fit in
1,400 px at 1366 x 900 and in 2,400 px on a 390 px phone, with nothing wider than the screen;
one row per device, this device first, its actions behind one disclosure whose form takes the
focus when it opens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from support.chromium import browser_sign_in
from support.ten_devices import add_nine_devices

pytestmark = pytest.mark.e2e

TARGETS = {1366: 1400, 390: 2400}
SHOTS = os.environ.get("PORTAL_SHOTS_DIR")  # keep a picture of each measured page here


def _shoot(browser, name: str, width: int, height: int) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    browser.save_screenshot(str(Path(SHOTS) / f"{name}-{width}.png"))


def _measure(browser, width: int, *, unfold: bool = False) -> tuple[int, int]:
    """The page's height and how far it is wider than the screen, at ``width`` CSS pixels
    (with the signed-out devices unfolded, when ``unfold``)."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    browser.refresh()
    browser.find_element(By.ID, "devices")
    if unfold:
        browser.execute_script("document.getElementById('signed-out').open = true;")
    return browser.execute_script(
        "const w = document.documentElement.scrollWidth;"
        "return [document.documentElement.scrollHeight,"
        " Math.max(w - window.innerWidth, w - arguments[0])];",
        width,
    )


@pytest.fixture
def ten_devices(app, browser, live_server):
    browser_sign_in(browser, live_server, "alice")
    add_nine_devices(app, "alice")
    browser.get(live_server.url + "/")
    return browser


@pytest.mark.parametrize("width", sorted(TARGETS))
def test_ten_devices_fit_the_target_height_without_sideways_scrolling(ten_devices, width):
    folded, too_wide = _measure(ten_devices, width)
    print(f"My devices, ten devices, {width} px: {folded} px tall")
    assert too_wide <= 0
    assert folded <= TARGETS[width], f"{folded} px at {width} px"
    _shoot(ten_devices, "my-devices-folded", width, folded)
    # Even with the signed-out devices unfolded, the ten fit.
    unfolded, too_wide = _measure(ten_devices, width, unfold=True)
    print(f"My devices, ten devices, {width} px, signed-out unfolded: {unfolded} px tall")
    assert too_wide <= 0
    _shoot(ten_devices, "my-devices-unfolded", width, unfolded)
    assert unfolded <= TARGETS[width], f"{unfolded} px at {width} px"
    rows = ten_devices.find_elements(By.CSS_SELECTOR, "#devices [data-device-id]")
    assert len(rows) == 10
    assert "current" in rows[0].get_attribute("class")  # this device first


def test_api_clients_have_their_own_section_and_signed_out_devices_are_folded(ten_devices):
    browser = ten_devices
    _measure(browser, 1366)
    clients = browser.find_elements(By.CSS_SELECTOR, "#api-clients [data-device-id]")
    assert len(clients) == 2
    folded = browser.find_element(By.ID, "signed-out")
    assert folded.get_attribute("open") is None
    assert "5 devices" in folded.find_element(By.TAG_NAME, "summary").text
    signed_in = browser.find_elements(By.CSS_SELECTOR, "#signed-in [data-device-id]")
    assert len(signed_in) == 3


def test_a_rows_actions_open_from_the_keyboard_and_focus_moves_into_them(ten_devices):
    browser = ten_devices
    _measure(browser, 390)
    row = browser.find_elements(By.CSS_SELECTOR, "#signed-in [data-device-id]")[1]
    assert not row.find_element(By.CSS_SELECTOR, "[data-action=sign-out]").is_displayed()
    summary = row.find_element(By.CSS_SELECTOR, "details.device-menu > summary")
    browser.execute_script("arguments[0].focus();", summary)
    summary.send_keys(Keys.ENTER)
    first = row.find_element(By.CSS_SELECTOR, "details.device-menu [data-action]")
    assert first.is_displayed()
    wait = WebDriverWait(browser, 3)
    wait.until(lambda b: b.switch_to.active_element == first)
    rename = row.find_element(By.CSS_SELECTOR, "details.rename > summary")
    rename.send_keys(Keys.ENTER)
    wait.until(lambda b: b.switch_to.active_element.get_attribute("name") == "name")
    _shoot(browser, "my-devices-manage", 390, 1400)


def test_the_phone_navigation_is_one_row_with_a_menu_that_opens(ten_devices):
    browser = ten_devices
    _measure(browser, 390)
    header = browser.execute_script(
        "return document.querySelector('header.site').getBoundingClientRect().height;"
    )
    assert header < 80, f"the header takes {header:.0f} px on a phone"
    alerts = browser.find_element(By.ID, "nav-alerts")
    assert not alerts.is_displayed()
    browser.find_element(By.CSS_SELECTOR, "#nav-menu > summary").click()
    assert alerts.is_displayed() and browser.find_element(By.ID, "sign-out").is_displayed()
    _shoot(browser, "nav-menu-open", 390, 900)
    alerts.click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Sign-in alerts"
    browser.back()
    _measure(browser, 1366)  # a wide window: every link in the one row, no Menu
    assert browser.find_element(By.ID, "nav-alerts").is_displayed()
    assert not browser.find_element(By.CSS_SELECTOR, "#nav-menu > summary").is_displayed()
