"""scim2-tester (the python-scim project's RFC 7643/7644 compliance checker, pinned in
requirements-dev.txt) against a live portal: the app served over real HTTP on a real port,
with the suite's real database (SQLite, or PostgreSQL with ``PORTAL_TEST_DATABASE``).

Every check it has must pass: none may end as an error (a MUST of the RFCs broken) or a
critical one. Deviations from a SHOULD are listed in the failure message too when an error
happens, so the whole picture is there to read.
"""

from __future__ import annotations

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

TOKEN = "scim-test-token-0123456789abcdef0123456789"

# The resource types the portal serves: every one is checked.
RESOURCE_TYPES = ["User", "Group"]

FAILED = {Status.ERROR, Status.CRITICAL}


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SCIM_TOKEN": TOKEN}


def _report(results) -> str:
    lines = []
    for result in results:
        if result.status in FAILED or result.status == Status.DEVIATION:
            where = f"[{result.resource_type}] " if result.resource_type else ""
            lines.append(f"{result.status.name} {where}{result.title}: {result.reason}")
    return "\n".join(lines)


def test_scim2_tester_finds_no_error(live_server):
    http = httpx2.Client(
        base_url=f"{live_server.url}/scim/v2",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    with http:
        client = SyncSCIMClient(http)
        client.discover()
        results = check_server(client, resource_types=RESOURCE_TYPES)

    counts: dict[str, int] = {}
    for result in results:
        counts[result.status.name] = counts.get(result.status.name, 0) + 1
    print("scim2-tester:", len(results), "checks", counts)
    print(_report(results))
    failed = [r for r in results if r.status in FAILED]
    assert not failed, f"{len(failed)} of {len(results)} checks failed:\n{_report(results)}"
    assert len(results) > 50  # the checks did run (discovery, CRUD, PATCH, attributes)
