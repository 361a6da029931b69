"""schemathesis against a live portal: every operation of /openapi.json, all its checks, zero
failures. A fixed seed and a bounded number of examples per operation keep it repeatable and
to a few minutes; the calls carry a real personal token of a user who holds every permission
(``support/fuzz_hooks.py`` makes a new one whenever a call ended it)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.account_helpers import user_id
from support.app_setup import Auth

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261201
MAX_EXAMPLES = 50


@pytest.fixture
def app_config(app_config):
    app_config["RATELIMIT_API"] = "100000 per minute"
    return app_config


@pytest.fixture
def quiet_werkzeug():
    """The live server's thousands of request lines left out, for this test only."""
    werkzeug = logging.getLogger("werkzeug")
    before = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    yield
    werkzeug.setLevel(before)


def test_schemathesis_finds_no_failure(
    app, idp, live_server, database_url, tmp_path, quiet_werkzeug
):
    auth = Auth(app, idp)
    for _ in range(2):  # devices and sessions for the lists (and their links) to hand out
        auth.new_client("admin")
        auth.new_client("alice")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
        "SCHEMATHESIS_HOOKS": "support.fuzz_hooks",
        "FUZZ_DATABASE_URL": database_url,
        "FUZZ_SUBJECT": "admin",
        "FUZZ_USER_ID": str(user_id(app, "alice")),
    }
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(ROOT / "tests" / "schemathesis.toml"),
        "run",
        f"{live_server.url}/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    run = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    output = run.stdout + run.stderr
    print(output[-20000:])
    assert run.returncode == 0, output[-20000:]
