"""Keyboard only: Tab reaches every button, link and field on My devices and on an admin's user
page, in order, and the one that has focus is always visibly outlined."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from support.chromium import browser_sign_in

pytestmark = pytest.mark.e2e

INTERACTIVE = """[...document.querySelectorAll(
    'a[href], button, select, input:not([type=hidden]), summary, [tabindex]:not([tabindex="-1"])'
)].filter(e => {
    if (e.offsetParent === null) return false;
    // Inside a closed <details> only its summary can take focus, and only when no closed
    // <details> around that one hides it too (Rename inside a device's Manage).
    const closed = e.closest('details:not([open])');
    if (!closed) return true;
    const outer = closed.parentElement && closed.parentElement.closest('details:not([open])');
    return e.tagName === 'SUMMARY' && e.parentElement === closed && !outer;
})"""


def _tab_through(browser) -> tuple[list[str], list[str]]:
    """Press Tab until focus comes round; what was reached, and where focus was not visible."""
    expected = browser.execute_script(f"return {INTERACTIVE};")
    assert len(expected) > 10  # the page's header, cards and tables: not an empty page
    reached, invisible = [], []
    for _ in range(len(expected) + 5):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        focused = browser.switch_to.active_element
        if focused.tag_name == "body":
            continue
        if focused in reached:
            break
        reached.append(focused)
        outline = browser.execute_script(
            "const s = getComputedStyle(arguments[0]);"
            "return [s.outlineStyle, parseFloat(s.outlineWidth)];",
            focused,
        )
        if outline[0] == "none" or outline[1] < 2:
            invisible.append(focused.get_attribute("outerHTML")[:80])
    missed = [e.get_attribute("outerHTML")[:80] for e in expected if e not in reached]
    return missed, invisible


def test_tab_reaches_every_action_on_my_devices_with_visible_focus(browser_factory, live_server):
    phone = browser_factory()
    browser_sign_in(phone, live_server, "alice")  # a second device, with its own buttons
    browser = browser_factory()
    browser_sign_in(browser, live_server, "alice")
    browser.get(live_server.url + "/")
    missed, invisible = _tab_through(browser)
    assert missed == [] and invisible == []


def test_tab_reaches_every_action_on_a_users_admin_page(browser_factory, live_server):
    alice = browser_factory()
    browser_sign_in(alice, live_server, "alice")
    admin = browser_factory()
    browser_sign_in(admin, live_server, "admin")
    admin.get(live_server.url + "/admin/users?q=alice")
    admin.get(admin.find_element("css selector", "#users tbody a").get_attribute("href"))
    missed, invisible = _tab_through(admin)
    assert missed == [] and invisible == []
