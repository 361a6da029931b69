"""Every page at phone, tablet and desktop widths: no sideways scrolling, and axe-core finds no
serious or critical problem, in light and in dark mode.

One real Chromium, the demo data loaded for the test IdP's issuer (so the admin signs in as the
demo admin, with devices, flags and history), and each page opened at 360, 390, 768 and 1280 CSS
pixels through Chromium's device emulation (phone widths as a mobile viewport). axe-core is
vendored for the tests only (tests/vendor/axe-core) and injected through the driver, never served.
Set PORTAL_SHOTS_DIR to keep a screenshot of every page at every width.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from support.chromium import browser_sign_in

from portal import demo
from portal.extensions import db

pytestmark = pytest.mark.e2e

WIDTHS = [360, 390, 768, 1280]
AXE_WIDTHS = [390, 1280]
AXE = (Path(__file__).resolve().parent.parent / "vendor" / "axe-core" / "axe.min.js").read_text()
SHOTS = os.environ.get("PORTAL_SHOTS_DIR")


def emulate(browser, width: int, *, dark: bool = False) -> None:
    """Size the viewport as a phone (mobile, below 600 px) or a desktop window would be."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]},
    )


def overflow(browser, width: int) -> int:
    """How many CSS pixels the page is wider than its viewport (0 when it fits).

    A mobile viewport zooms out to fit a page that is too wide, which widens ``innerWidth``
    too; so the page must fit the screen's width as well.
    """
    return browser.execute_script(
        "const w = document.documentElement.scrollWidth;"
        "return Math.max(w - window.innerWidth, w - arguments[0]);",
        width,
    )


def layout_problems(browser, width: int) -> list[str]:
    """What a person would miss at this width: a cut-off Sign out, stacked cells without
    their column's label, sort headings hidden with no other way to sort."""
    found = []
    # On a phone Sign out is in the Menu: it must be on screen once the Menu is open.
    right = browser.execute_script(
        "const m = document.getElementById('nav-menu'); const was = m && m.open;"
        "if (m) m.open = true;"
        "const b = document.getElementById('sign-out');"
        "const r = b ? b.getBoundingClientRect().right : 0;"
        "if (m) m.open = was; return r;"
    )
    if right > width:
        found.append(f"Sign out ends at {right:.0f} px, off screen")
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('table td:not([colspan])')]"
        ".filter(td => getComputedStyle(td).display !== 'table-cell'"
        " && td.offsetParent && !td.dataset.label).length;"
    )
    if unlabelled:
        found.append(f"{unlabelled} stacked table cells without a column label")
    sortable = browser.execute_script(
        "const heads = [...document.querySelectorAll('th a[data-sort]')];"
        "const links = [...document.querySelectorAll('a[data-sort-link]')];"
        "const shown = e => e.offsetParent !== null;"
        "return heads.length === 0 || heads.some(shown) || links.some(shown);"
    )
    if not sortable:
        found.append("no visible way to sort")
    return found


def serious_axe_violations(browser) -> list[str]:
    """axe-core's serious and critical findings on the page, one line each."""
    if not browser.execute_script("return !!window.axe;"):
        browser.execute_script(AXE)
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact,"
        " nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}))))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', nodes: [String(e)]}]));"
    )
    return [
        f"{v['id']} ({v['impact']}): {'; '.join(v['nodes'][:3])}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def shoot(browser, name: str, width: int, dark: bool) -> None:
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight;")
    metrics = {
        "width": width,
        "height": min(height, 4000),
        "deviceScaleFactor": 1,
        "mobile": width < 600,
    }
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    suffix = "-dark" if dark else ""
    browser.save_screenshot(str(Path(SHOTS) / f"{name}-{width}{suffix}.png"))
    emulate(browser, width, dark=dark)


def check_pages(browser, pages: dict[str, str], problems: list[str]) -> None:
    """Open every page at every width; collect what overflows and what axe reports."""
    for name, url in pages.items():
        for dark in (False, True):
            for width in WIDTHS if not dark else AXE_WIDTHS:
                emulate(browser, width, dark=dark)
                browser.get(url)
                mode = "dark" if dark else "light"
                extra = overflow(browser, width)
                if extra > 0:
                    problems.append(f"{name} at {width} px ({mode}): {extra} px too wide")
                for finding in layout_problems(browser, width):
                    problems.append(f"{name} at {width} px ({mode}): {finding}")
                if width in AXE_WIDTHS:
                    for finding in serious_axe_violations(browser):
                        problems.append(f"{name} at {width} px ({mode}): {finding}")
                shoot(browser, name, width, dark)


def _traveller_alert_link(app, url: str) -> str:
    """The "No, secure my account" token of an alert about the demo traveller's flagged sign-in."""
    from sqlalchemy import select

    from portal.alerts import tokens
    from portal.models import AlertAnswer, User, UserSession
    from portal.services.outbox import alerts

    with app.app_context():
        user = db.session.execute(select(User).where(User.subject == "traveller")).scalar_one()
        flagged = (
            db.session.execute(
                select(UserSession).where(
                    UserSession.user_id == user.id, UserSession.sign_in_flags != 0
                )
            )
            .scalars()
            .first()
        )
        policy = alerts.AlertPolicy(True, alerts.AlertMode.NEW_DEVICE, False, url + "/", "p@x.test")
        alert = alerts.queue_sign_in_alert(user, flagged, policy, now=flagged.created_at)
        db.session.commit()
        with app.test_request_context():
            return tokens.make(alert, AlertAnswer.SECURED)


def test_every_page_fits_phone_to_desktop_widths_and_passes_axe(
    app, browser_factory, live_server, idp
):
    with app.app_context():
        demo.load_demo_data(idp.issuer, geoip_database=app.config["GEOIP_DATABASE"], force=True)
        db.session.commit()
    url = live_server.url
    problems: list[str] = []

    visitor = browser_factory()
    check_pages(visitor, {"landing": url + "/"}, problems)

    admin = browser_factory()
    browser_sign_in(admin, live_server, "admin")
    admin.get(url + "/")
    own = [
        card.get_attribute("data-device-id")
        for card in admin.find_elements(By.CSS_SELECTOR, "[data-device-id]")
    ]
    other_device = next(
        d
        for d in own
        if not admin.find_elements(By.CSS_SELECTOR, f'.device-card.current[data-device-id="{d}"]')
    )
    admin.get(url + "/admin/users?q=traveller")
    traveller_page = admin.find_element(By.CSS_SELECTOR, "#users tbody a").get_attribute("href")
    admin.get(traveller_page)
    traveller_id = re.search(r"/admin/users/([^/?]+)", traveller_page).group(1)
    traveller_device = admin.find_element(By.CSS_SELECTOR, "[data-device-id]").get_attribute(
        "data-device-id"
    )
    pages = {
        "my-devices": url + "/",
        "device": f"{url}/account/devices/{own[0]}",
        "confirm-sign-out-others": url + "/account/sign-out-others",
        "confirm-sign-out-everywhere": url + "/account/sign-out-everywhere",
        "confirm-report": f"{url}/account/devices/{other_device}/report",
        "confirm-sign-out-here": f"{url}/account/devices/{own[0]}/sign-out",
        "confirm-remove": f"{url}/account/devices/{other_device}/remove",
        "admin-users": url + "/admin/users",
        "admin-user": traveller_page,
        "admin-confirm-revoke-all": f"{url}/admin/users/{traveller_id}/revoke-all",
        "admin-confirm-deactivate": f"{url}/admin/users/{traveller_id}/deactivate",
        "admin-confirm-revoke-device": (
            f"{url}/admin/users/{traveller_id}/devices/{traveller_device}/revoke"
        ),
        "audit-log": url + "/admin/audit",
        "error-404": url + "/no-such-page",
        "notifications": url + "/account/notifications",
    }
    check_pages(admin, pages, problems)

    anyone = browser_factory()  # an alert's links are opened signed out
    token = _traveller_alert_link(app, url)
    check_pages(
        anyone,
        {"alert-confirm": f"{url}/alerts/{token}", "alert-refused": f"{url}/alerts/not-a-link"},
        problems,
    )

    alice = browser_factory()
    browser_sign_in(alice, live_server, "alice")
    check_pages(alice, {"alice-devices": url + "/", "error-403": url + "/admin/users"}, problems)

    assert not problems, "\n".join(problems)
