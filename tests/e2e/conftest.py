"""Fixtures of the tests that drive a real browser: Debian's Chromium through Selenium.

``browser_sign_in`` (signing in on the IdP's real login page) is in ``support.chromium``; the
live server and everything else come from ``tests/conftest.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _chromium_options():
    from selenium.webdriver.chrome.options import Options

    options = Options()
    options.binary_location = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    return options


@pytest.fixture
def browser_factory(tmp_path):
    """Start real, independent Chromium browsers (each its own profile and cookies)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
    if not Path(driver_path).exists():
        raise RuntimeError(
            f"chromedriver not found at {driver_path}: run scripts/install-test-deps.sh"
        )
    drivers = []

    def start():
        options = _chromium_options()
        options.add_argument(f"--user-data-dir={tmp_path / f'profile{len(drivers)}'}")
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
        driver.implicitly_wait(5)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


@pytest.fixture
def browser(browser_factory):
    return browser_factory()
