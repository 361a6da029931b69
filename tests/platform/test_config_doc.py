"""docs/configuration.md is what the settings object says: regenerate it with
``make config-doc`` (``python -m scripts.config_doc > docs/configuration.md``)."""

from __future__ import annotations

from pathlib import Path

from portal.config import DEFAULTS
from portal.settings import PERMISSIONS, Settings
from scripts import config_doc

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_committed_configuration_page_is_what_the_settings_generate():
    assert DOC.read_text() == config_doc.render(), (
        "docs/configuration.md differs from the settings: run make config-doc"
    )


def test_every_setting_has_a_one_line_description_and_is_documented():
    page = DOC.read_text()
    for name, field in Settings.model_fields.items():
        assert field.description and "\n" not in field.description, name
        assert f"| `PORTAL_{name}` |" in page, name
    assert set(DEFAULTS) == set(Settings.model_fields)
    permissions = page.split("## Permissions", 1)[1]
    assert all(f"`{name}` " in permissions for name in PERMISSIONS)
