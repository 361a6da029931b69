"""A person makes a personal API token in a real browser, uses it, and revokes it there."""

from __future__ import annotations

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from support.chromium import browser_sign_in


def test_make_a_token_use_it_and_revoke_it(browser, live_server):
    browser_sign_in(browser, live_server, "alice")
    browser.find_element(By.ID, "nav-tokens").click()
    browser.find_element(By.ID, "no-tokens")
    browser.find_element(By.NAME, "name").send_keys("laptop script")
    browser.find_element(By.ID, "scope-devices-write").click()
    browser.find_element(By.ID, "expires-7").click()  # the presets (issue 32)
    browser.find_element(By.ID, "create-token-submit").click()

    secret = browser.find_element(By.ID, "token-secret").text
    assert secret.startswith("dpt_")
    headers = {"Authorization": f"Bearer {secret}", "User-Agent": "e2e-script/1.0"}
    answer = requests.get(live_server.url + "/devices", headers=headers, timeout=10)
    assert answer.status_code == 200
    assert "API client: laptop script" in {d["deviceName"] for d in answer.json()["devices"]}

    browser.get(live_server.url + "/account/tokens")
    row = browser.find_element(By.CSS_SELECTOR, "#tokens tbody tr[data-token-id]")
    assert "laptop script" in row.text and "devices:read, devices:write" in row.text
    assert "e2e-script/1.0" in row.text  # last used: its User-Agent
    assert secret not in browser.page_source  # shown once only
    row.find_element(By.CSS_SELECTOR, "[data-revoke]").click()
    browser.find_element(By.ID, "confirm").click()
    # The click returns before the next page arrives: wait for it, not for the confirm page.
    WebDriverWait(browser, 10).until(
        EC.text_to_be_present_in_element((By.TAG_NAME, "main"), "Revoked the token laptop script")
    )

    replay = requests.get(live_server.url + "/devices", headers=headers, timeout=10)
    assert replay.status_code == 401
