"""Comments and docstrings say why; measured figures live in docs/performance.md (issue 29).

A figure in a comment goes stale the day the code around it changes, and nothing tests it;
docs/performance.md says when and how each was measured. Settings and limits (``at most
1,000 matches``, a lease of five minutes, a lock timeout of 2 s) are not measurements and may
stay.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("portal", "migrations", "wsgi.py")

# What a measurement reads like here: a duration below a second or in tenths of one, a rate,
# a ratio, a share of the cost or time, a percentage, a size the measurement was taken at.
MEASURED = re.compile(
    "|".join(
        (
            r"\b\d+(?:\.\d+)?\s?(?:ms|µs|us|ns)\b",
            r"\b\d+\.\d+\s?s\b",
            r"\breq(?:uests)?/s\b",
            r"\brequests? (?:a|per) second\b",
            r"\b\d+(?:\.\d+)?\s?x\b",
            r"\b(?:\d+(?:\.\d+)?|two|three|four|five|ten|twenty|a hundred) times "
            r"(?:faster|slower|cheaper|the|as|more|less|fewer)\b",
            r"\b(?:half|a third|two thirds|a quarter|three quarters|a fifth|a tenth)"
            r"(?: of)?(?: the| its| this| a)?(?: \w+'s)? (?:cost|time|work|CPU|steps)\b",
            r"\bmost of (?:this|the|its) (?:hook|request|route|page|time|cost|work)\b",
            r"\bmost of what\b",
            r"\bcosts? as much as\b",
            r"\d\s?%",
            r"\bper ?cent\b",
            r"\bat \d[\d,]* (?:users|sessions|rows)\b",
        )
    ),
    re.IGNORECASE,
)


def _files() -> Iterator[Path]:
    for name in SOURCES:
        path = ROOT / name
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _blocks(source: str) -> Iterator[list[tuple[int, str]]]:
    """Each docstring, and each run of comments on consecutive lines, as its numbered lines."""
    run: list[tuple[int, str]] = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        if run and token.start[0] != run[-1][0] + 1:
            yield run
            run = []
        run.append((token.start[0], token.string.lstrip("#")))
    if run:
        yield run
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            lines = first.value.value.splitlines()
            yield [(first.value.lineno + offset, line) for offset, line in enumerate(lines)]


def measured_figures(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line: text`` of every comment or docstring line of ``path`` that states a
    measurement, a phrase broken over two lines included (named by the line it starts on)."""
    name = path.relative_to(root)
    found = []
    for block in _blocks(path.read_text()):
        for index, (line, text) in enumerate(block):
            following = block[index + 1][1].strip() if index + 1 < len(block) else ""
            text = " ".join(text.split())
            if any(m.start() < len(text) for m in MEASURED.finditer(f"{text} {following}")):
                found.append(f"{name}:{line}: {text}")
    return found


def test_no_comment_or_docstring_states_a_measured_figure():
    files = list(_files())
    assert len(files) > 50, "no sources found"
    found = [hit for path in files for hit in measured_figures(path)]
    assert found == [], "\n".join(found)


def test_the_patterns_know_a_measurement_from_a_setting():
    said = [
        "# isoformat, not strftime: a fifth of the cost",
        '"""encoded again by Flask: half the cost of a list of devices."""',
        "# on every request, and that was most of this hook",
        "# The check reads every table (12.6 s at 100,003 users)",
        "# (about ten times the steps here)",
        "# 5.7 to 3.7 ms in sqlite3",
        "# 320 req/s",
        "# 0.69x to 0.79x",
        "# hooks add _security_headers 8%",
        "# (a third of the search's time at 100,000 users)",
        "# (building it per request cost as much as running it)",
    ]
    settings = [
        "# A page promises its 503 within 2 s: one lock wait",
        "# at most 1,000 matches",
        "# moves it forward by the lease: 5 minutes",
        "# a body nested deeper than the parser can go (``[`` x 5000)",
        "# one statement, whatever the page size",
        "# a worker that dies half-way leaves the row to be claimed",
        "# a hex id (0x1f) of 16 digits",
    ]
    assert [s for s in said if not MEASURED.search(s)] == []
    assert [s for s in settings if MEASURED.search(s)] == []


def test_a_figure_broken_over_two_lines_is_found(tmp_path):
    module = tmp_path / "module.py"
    lines = [
        '"""The list replayed every history (a third of the',
        "search's time).",
        '"""',
        "",
        "# isoformat: a fifth",
        "# of the cost.",
        "VALUE = 1  # at most 5 minutes",
    ]
    module.write_text("\n".join(lines) + "\n")
    assert measured_figures(module, tmp_path) == [
        "module.py:5: isoformat: a fifth",
        "module.py:1: The list replayed every history (a third of the",
    ]
