"""/api/docs renders the OpenAPI document in a real browser, under the portal's own CSP."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


def test_the_docs_page_renders_every_operation(browser, live_server):
    browser.get(live_server.url + "/api/docs")
    WebDriverWait(browser, 20).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock-summary-path"))
    )
    paths = {
        e.text.replace("\u200b", "")
        for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    }
    assert {"/devices", "/devices/{id}", "/auth/devices", "/devices/users/{userId}"} <= paths
    page = browser.find_element(By.ID, "swagger-ui").text
    assert "The caller's devices" in page  # an operation's summary
    assert "Device Portal API" in page
    # Nothing was refused by the Content-Security-Policy (the page keeps the portal's CSP).
    refused = [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"]
    ]
    assert refused == []
