"""Times are in the reader's time zone: the server writes UTC, and static/js/localtime.js (exact
times) and static/js/shorttime.js (the admin tables' short times, the exact one on hover and in
the row's details), both static files the CSP allows, rewrite them in the browser."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from support.chromium import browser_sign_in

pytestmark = pytest.mark.e2e


def test_the_audit_log_shows_exact_times_in_the_browsers_time_zone(browser, live_server):
    browser_sign_in(browser, live_server, "admin")
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    browser.get(live_server.url + "/admin/audit")
    short = browser.find_element(By.CSS_SELECTOR, "#audit time[data-short]")
    assert short.get_attribute("data-localised") is not None
    assert "UTC" not in short.text  # the row's short time, in Tokyo's
    assert "GMT+9" in short.get_attribute("title")  # the exact one on hover, Tokyo's too
    # The exact time in the row's details, in Tokyo's zone, with the UTC one on its hover.
    exact = browser.find_element(By.CSS_SELECTOR, "#audit time[data-local]")
    assert exact.get_attribute("data-localised") is not None
    assert "GMT+9" in exact.get_attribute("textContent")
    assert exact.get_attribute("title").endswith(" UTC")
    ago = browser.find_element(By.CSS_SELECTOR, "#audit .at .ago").get_attribute("textContent")
    assert ago == "just now" or ago.endswith(" ago")
    refused = [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]
    assert refused == []
