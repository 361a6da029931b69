"""Make the README's screenshots: My devices (desktop and phone), an admin user page, and a
sign-in alert: the mail as a mail client renders its HTML, and the confirm page its "No,
secure my account" link opens (desktop and phone).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--only alert]

Runs everything it needs itself, as the browser tests do: a fresh SQLite database built by the
migrations, the demo data, the development IdP (oidc-provider-mock) and the portal on free
local ports, and Debian's chromium through chromedriver (CHROMIUM_BINARY, CHROMEDRIVER as in
the tests). It signs in as the demo admin through the IdP's real page, so the pictures show
what a person sees; rerun it after a change to the pages to refresh them.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GEOIP = ROOT / "tests" / "data" / "geoip" / "GeoLite2-City-Test.mmdb"
PERMISSIONS = {
    "portal-admins": ["viewUserDevices", "manageUserDevices", "viewAuditLog"],
    "helpdesk": ["viewUserDevices"],
}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1280,900",
        # An ordinary Chrome's name, not "HeadlessChrome", on the device card.
        "--user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options
    )
    driver.implicitly_wait(5)
    return driver


def _shoot(driver, url: str, path: Path, width: int, *, mobile: bool = False) -> None:
    """The whole page at ``width`` CSS pixels (a phone's viewport when ``mobile``)."""
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": mobile}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.get(url)
    height = driver.execute_script("return document.documentElement.scrollHeight;")
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {**metrics, "height": min(height, 3000)}
    )
    driver.save_screenshot(str(path))
    print(f"  {path}")


def _alert_shots(app, driver, base: str, out: Path, tmp: str) -> None:
    """The demo traveller's sign-in from Linköping, mailed: the mail and its confirm page."""
    from sqlalchemy import select

    from portal.alerts.mail import render_alert
    from portal.extensions import db
    from portal.models import User, UserSession
    from portal.services.outbox import alerts

    with app.app_context():
        user = db.session.execute(select(User).where(User.subject == "traveller")).scalar_one()
        flagged = (
            db.session.execute(
                select(UserSession)
                .where(UserSession.user_id == user.id, UserSession.sign_in_flags != 0)
                .order_by(UserSession.created_at.desc())
            )
            .scalars()
            .first()
        )
        policy = alerts.AlertPolicy.from_config(app.config, base + "/")
        alert = alerts.queue_sign_in_alert(user, flagged, policy, now=flagged.created_at)
        db.session.commit()
        alert = alerts.load_alert(alert.id)
        with app.test_request_context(base_url=base + "/"):
            mail = render_alert(alert)
            no_url = re.findall(r"https?://\S+/alerts/\S+", mail.text)[1]  # yes, then no
    page = Path(tmp) / "mail.html"
    page.write_text(mail.html)
    _shoot(driver, page.as_uri(), out / "alert-mail-desktop.png", 1280)
    _shoot(driver, page.as_uri(), out / "alert-mail-phone.png", 390, mobile=True)
    driver.get(base + "/livez")
    driver.delete_all_cookies()  # the person who clicks may not be signed in
    _shoot(driver, no_url, out / "alert-confirm-desktop.png", 1280)
    _shoot(driver, no_url, out / "alert-confirm-phone.png", 390, mobile=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--only", choices=["alert"], help="Only the sign-in alert's pictures.")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from oidc_provider_mock import User, run_server_in_thread
    from selenium.webdriver.common.by import By
    from werkzeug.serving import make_server

    from portal import create_app, demo
    from portal.extensions import db

    idp_port, port = _free_port(), _free_port()
    issuer = f"http://127.0.0.1:{idp_port}"
    users = [
        User(sub=sub, claims={"email": email, "name": name, "groups": groups})
        for sub, email, name, groups in demo.DEMO_USERS
    ]
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_server_in_thread(port=idp_port, require_nonce=True, user_claims=users),
    ):
        app = create_app(
            {
                "ENV": "development",
                "SECRET_KEY": "screenshots",
                "DATABASE_URL": f"sqlite:///{tmp}/portal.db",
                "OIDC_ISSUER": issuer,
                "OIDC_CLIENT_ID": "device-portal-screenshots",
                "OIDC_CLIENT_SECRET": "screenshots",
                "GROUP_PERMISSIONS": PERMISSIONS,
                "GEOIP_DATABASE": str(GEOIP),
                "SESSION_COOKIE_SECURE": False,
            }
        )
        with app.app_context():
            from flask_migrate import upgrade

            upgrade()
            demo.load_demo_data(issuer, geoip_database=str(GEOIP), force=True)
            db.session.commit()
        server = make_server("127.0.0.1", port, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        driver = _browser()
        try:
            driver.get(base + "/")
            driver.find_element(By.ID, "hero-sign-in").click()
            driver.find_element(By.NAME, "sub").send_keys("admin")
            driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            driver.find_element(By.ID, "devices")
            if args.only == "alert":
                _alert_shots(app, driver, base, out, tmp)
                return
            _shoot(driver, base + "/", out / "my-devices-desktop.png", 1280)
            _shoot(driver, base + "/", out / "my-devices-phone.png", 390, mobile=True)
            driver.get(base + "/admin/users?q=traveller")
            user_page = driver.find_element(By.CSS_SELECTOR, "#users tbody a").get_attribute("href")
            _shoot(driver, user_page, out / "admin-user.png", 1280)
            _alert_shots(app, driver, base, out, tmp)
        finally:
            driver.quit()
            server.shutdown()


if __name__ == "__main__":
    main()
