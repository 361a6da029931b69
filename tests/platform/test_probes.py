"""The probes of load balancers: /livez (the process answers; /healthz is its older name) and
/readyz (the database answers and its schema is at the migrations' head)."""

from __future__ import annotations

import pytest
from flask_migrate import upgrade
from support.queries import count_queries

from portal import create_app
from portal.authz import ACCESS_RULE_ATTR
from portal.availability import migration_heads
from portal.extensions import db


@pytest.mark.parametrize("path", ["/livez", "/healthz"])
def test_livez_answers_without_the_database_or_the_session(app, auth, path):
    browser = auth.new_client("alice")  # a session cookie the probe must not load
    with app.app_context():
        engine = db.engine
    with count_queries(engine) as statements:
        response = browser.get(path)

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert statements == []
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_answers_ready_when_the_database_is_migrated(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}


def test_the_probes_are_public(app):
    rules = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules()}
    for path in ("/livez", "/healthz", "/readyz"):
        assert getattr(app.view_functions[rules[path]], ACCESS_RULE_ATTR) == "public"


def test_readyz_says_unavailable_until_the_schema_is_at_the_migrations_head(fresh_database_url):
    """On a new database of the kind under test: each dialect says "no such table" its way."""
    app = create_app({"ENV": "testing", "DATABASE_URL": fresh_database_url})
    client = app.test_client()

    def readiness():
        response = client.get("/readyz")
        return response.status_code, response.get_json()

    assert readiness() == (
        503,
        {"status": "unavailable", "reason": "the database has not been migrated"},
    )
    with app.app_context():
        upgrade(revision="0004_sessions_ended")
    assert readiness() == (
        503,
        {
            "status": "unavailable",
            "reason": "the database schema is not at the migrations' head: at "
            f"0004_sessions_ended, head {', '.join(sorted(migration_heads()))}",
        },
    )
    assert client.get("/readyz").headers["Retry-After"]
    with app.app_context():
        upgrade()
    assert readiness() == (200, {"status": "ready"})
    assert client.get("/livez").status_code == 200
    with app.app_context():
        db.engine.dispose()
