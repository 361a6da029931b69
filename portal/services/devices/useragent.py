"""What a User-Agent header says about a device, via ua-parser's maintained rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import ua_parser

_TABLET_FAMILIES = re.compile(r"ipad|tablet|kindle|silk|playbook|nexus (7|9|10)", re.I)
_MOBILE_HINT = re.compile(r"mobile|iphone|ipod|android.*mobile|windows phone|blackberry", re.I)
# API clients usually say "name/version"; we keep that version as the app version.
_APP_VERSION = re.compile(r"^([A-Za-z][\w.-]*)/(\d[\w.-]*)")


_FRIENDLY: dict[str | None, str] = {
    "Mobile Safari": "Safari",
    "Mobile Safari UI/WKWebView": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
    "Mac OS X": "macOS",
}


@dataclass(frozen=True)
class DeviceDescription:
    device_type: str  # DESKTOP | MOBILE | TABLET
    os_name: str | None
    os_version: str | None
    browser: str | None
    browser_version: str | None
    model: str | None
    app_version: str | None
    default_name: str


def _version(part: ua_parser.UserAgent | ua_parser.OS | None) -> str | None:
    if part is None or not part.major:
        return None
    return ".".join(p for p in (part.major, part.minor, part.patch) if p)


@lru_cache(maxsize=1024)
def describe(user_agent: str | None) -> DeviceDescription:
    """Type, OS, browser and model from a User-Agent, and a readable default device name."""
    ua = (user_agent or "").strip()
    parsed = ua_parser.parse(ua) if ua else None
    browser = parsed.user_agent.family if parsed and parsed.user_agent else None
    os_name = parsed.os.family if parsed and parsed.os else None
    device = parsed.device if parsed else None
    model = None
    if device and device.model and device.family not in ("Other", "Spider"):
        model = (
            device.model if device.brand not in (None, "Generic_Android_Tablet") else device.family
        )
        if device.brand == "Generic_Android_Tablet":
            model = device.family

    family = (device.family if device else "") or ""
    brand = (device.brand if device else "") or ""
    if (
        _TABLET_FAMILIES.search(family)
        or "Tablet" in brand
        or (os_name == "Android" and "Mobile" not in ua and ua)
    ):
        device_type = "TABLET"
    elif _MOBILE_HINT.search(ua) or family == "iPhone":
        device_type = "MOBILE"
    else:
        device_type = "DESKTOP"

    app_version = None
    match = _APP_VERSION.match(ua)
    if match and not ua.startswith("Mozilla/"):
        browser, app_version = match.group(1), match.group(2)

    browser = _FRIENDLY.get(browser, browser) if browser != "Other" else None
    os_name = _FRIENDLY.get(os_name, os_name) if os_name != "Other" else None
    where = model if device_type != "DESKTOP" and model else os_name
    name = f"{browser} on {where}" if browser and where else browser or where or "Unknown device"
    return DeviceDescription(
        device_type=device_type,
        os_name=os_name,
        os_version=_version(parsed.os) if parsed else None,
        browser=browser,
        browser_version=_version(parsed.user_agent) if parsed else None,
        model=model,
        app_version=app_version,
        default_name=name[:64],
    )
