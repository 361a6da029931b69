"""What is imported is declared: each third-party module the app imports is a distribution named
in requirements.txt, and each one the tests and scripts import is in requirements-dev.txt (which
takes requirements.txt in), not merely something another package happens to bring along."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_PARTS = {"node_modules", "vendor", ".venv"}
# The project's own top-level modules, and the test modules that import one another.
LOCAL = (
    {"portal", "scripts", "tests", "support", "conftest", "wsgi"}
    | {path.stem for path in (ROOT / "tests").glob("*.py")}
    | {path.stem for path in (ROOT / "scripts").glob("*.py")}  # scripts import their neighbours
)


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(requirements: Path) -> set[str]:
    """The distributions a requirements file names, with the files it takes in (``-r``)."""
    names = set()
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            names |= _declared(requirements.parent / line[2:].strip())
        elif line:
            names.add(_normalised(re.split(r"[\s\[<>=!~;@(]", line, maxsplit=1)[0]))
    return names


def _imported(*places: str) -> dict[str, set[str]]:
    """Third-party top-level modules imported under ``places``, with the files importing each."""
    found: dict[str, set[str]] = {}
    for place in places:
        root = ROOT / place
        paths = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for path in paths:
            if SKIPPED_PARTS & set(path.parts):
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in LOCAL:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _undeclared(imported: dict[str, set[str]], declared: set[str]) -> dict[str, object]:
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for module, files in sorted(imported.items()):
        distributions = {_normalised(d) for d in providers.get(module, ())}
        if not distributions:
            missing[module] = f"no installed distribution provides it ({sorted(files)[0]})"
        elif not distributions & declared:
            missing[module] = (sorted(distributions), sorted(files))
    return missing


@pytest.mark.parametrize(
    ("places", "requirements", "surely_imported"),
    [
        (("portal", "migrations", "wsgi.py"), "requirements.txt", "flask"),
        (("tests", "scripts"), "requirements-dev.txt", "pytest"),
    ],
)
def test_every_imported_third_party_module_is_declared(places, requirements, surely_imported):
    imported = _imported(*places)
    assert surely_imported in imported  # the walk found the imports
    assert _undeclared(imported, _declared(ROOT / requirements)) == {}
