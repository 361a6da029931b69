"""Exact times are readable without hovering, in the reader's time zone: the server writes UTC,
static/js/localtime.js (allowed by the CSP: a static file) rewrites it in the browser."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from support.chromium import browser_sign_in

pytestmark = pytest.mark.e2e


def test_the_audit_log_shows_exact_times_in_the_browsers_time_zone(browser, live_server):
    browser_sign_in(browser, live_server, "admin")
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    browser.get(live_server.url + "/admin/audit")
    first = browser.find_element(By.CSS_SELECTOR, "#audit time[data-local]")
    assert first.get_attribute("data-localised") is not None
    assert "GMT+9" in first.text  # Tokyo, not UTC
    assert first.get_attribute("title").endswith(" UTC")  # the UTC time stays on hover
    ago = browser.find_element(By.CSS_SELECTOR, "#audit .at .ago").text
    assert ago == "just now" or ago.endswith(" ago")
    refused = [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]
    assert refused == []
