"""Fixtures of the platform tests alone (the migrations and the probes)."""

from __future__ import annotations

import itertools

import pytest
from support.app_setup import database_kind
from support.browsers import alice, browsers  # noqa: F401  (fixtures of the metrics tests)

_fresh_databases = itertools.count(1)


@pytest.fixture
def fresh_database_url(request, tmp_path):
    """A new, empty, unmigrated database of the kind under test, for this test alone
    (PostgreSQL: a database of its own on the session's cluster, dropped afterwards)."""
    if database_kind() == "sqlite":
        yield "sqlite:///" + str(tmp_path / "fresh.db")
        return
    server = request.getfixturevalue("postgres_server")
    name = f"portal_fresh_{next(_fresh_databases)}"
    yield server.create_database(name)
    server.psql(f'drop database "{name}" with (force)')  # and any connection a test left open
