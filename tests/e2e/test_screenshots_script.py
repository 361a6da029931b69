"""scripts/screenshots.py, which makes the README's pictures, still runs: it signs in through
the development IdP in Chromium and writes the three PNG files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_screenshot_script_writes_the_readmes_pictures(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshots.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("my-devices-desktop.png", "my-devices-phone.png", "admin-user.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
