"""The pages' own markup obeys the Content-Security-Policy they are served with.

``style-src 'self'`` and ``script-src 'self'`` (the default) block inline ``style="..."``
attributes, ``<style>`` elements and inline scripts, so styling and behaviour live in
``static/``; a template that carried them would silently lose them in every browser.
"""

from __future__ import annotations

import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def test_templates_carry_no_inline_style_attributes_or_style_elements():
    offenders = [
        str(p.relative_to(TEMPLATES))
        for p in _templates()
        if re.search(r"\sstyle\s*=|<style[\s>]", p.read_text(), re.IGNORECASE)
    ]
    assert offenders == []


def test_templates_load_scripts_only_from_static_files():
    offenders = []
    for p in _templates():
        text = p.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text, re.IGNORECASE):
            if "src=" not in tag:
                offenders.append(str(p.relative_to(TEMPLATES)))
        if re.search(r"\son[a-z]+\s*=\s*[\"']", text):
            offenders.append(str(p.relative_to(TEMPLATES)))
    assert offenders == []


def test_every_page_is_served_with_a_policy_that_forbids_inline_styles(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "style-src 'self'" in policy and "unsafe-inline" not in policy
