"""Reads hand pages and JSON routes one typed row per concept, never a model (issue 21).

A user is a ``users.summary.UserSummary`` and an audit event an ``audit.log.AuditEventRow``,
each built by one Core statement, whoever reads them: the user search and the user page's
header, the audit log page, its CSV export and the events feed. Models are for changes, so none
of these reads loads a ``User`` or an ``AuditEvent`` (SQLAlchemy's ``load`` event says when one is).
"""

from __future__ import annotations

from contextlib import contextmanager

from flask import template_rendered
from sqlalchemy import event
from support.account_helpers import bearer, make_token
from support.admin_helpers import user_id_of

from portal.extensions import db
from portal.models import AuditEvent, User
from portal.services.audit.log import AuditEventRow
from portal.services.users.summary import UserSummary


class _Loaded(set):
    users: set


@contextmanager
def models_loaded():
    """The classes of every model instance the ORM loads from a row inside the block (and in
    ``loaded.users`` the ids of the users among them)."""
    loaded = _Loaded()
    loaded.users = set()

    def on_load(instance, _context):
        loaded.add(type(instance))
        if isinstance(instance, User):
            loaded.users.add(instance.id)

    event.listen(db.Model, "load", on_load, propagate=True)
    try:
        yield loaded
    finally:
        event.remove(db.Model, "load", on_load)


@contextmanager
def rendered(app):
    """The context of every template rendered inside the block."""
    contexts: list[dict] = []

    def record(_sender, template, context, **_extra):
        contexts.append(context)

    template_rendered.connect(record, app)
    try:
        yield contexts
    finally:
        template_rendered.disconnect(record, app)


def test_the_user_search_lists_user_summaries_and_loads_no_user(app, auth):
    auth.new_client("bob")
    viewer = auth.new_client("viewer")
    viewer.get("/admin/users?q=bob")  # warm: the activity stamp may write on a first request
    with models_loaded() as loaded, rendered(app) as contexts:
        response = viewer.get("/admin/users?q=bob")
    assert response.status_code == 200 and "bob@example.test" in response.text
    rows = contexts[0]["result"].rows
    assert rows and all(type(r.user) is UserSummary for r in rows)
    assert User not in loaded


def test_the_user_page_header_is_a_user_summary(app, auth):
    auth.new_client("bob")
    bob = user_id_of(app, "bob")
    with rendered(app) as contexts:
        response = auth.new_client("viewer").get(f"/admin/users/{bob}")
    assert response.status_code == 200 and "bob@example.test" in response.text
    (page,) = [c for c in contexts if "history" in c]
    assert type(page["target"]) is UserSummary and page["target"].id == bob


def test_the_audit_log_page_shows_event_rows_and_loads_no_model(app, auth):
    auth.new_client("bob")
    admin = auth.new_client("admin")
    admin.get("/admin/audit")  # warm
    with models_loaded() as loaded, rendered(app) as contexts:
        response = admin.get("/admin/audit")
    assert response.status_code == 200 and "Signed in" in response.text
    events = contexts[0]["result"].events
    assert events and all(type(e) is AuditEventRow for e in events)
    assert any(e.actor is not None and e.actor.email == "bob@example.test" for e in events)
    assert loaded & {AuditEvent, User} == set(), loaded


def test_the_audit_log_csv_reads_event_rows_and_loads_no_model(app, auth):
    auth.new_client("bob")
    admin = auth.new_client("admin")
    admin.get("/admin/audit")  # warm
    with models_loaded() as loaded:
        response = admin.get("/admin/audit.csv")
        text = response.get_data(as_text=True)  # streamed: read inside the block
    assert response.status_code == 200 and "bob@example.test" in text
    assert loaded & {AuditEvent, User} == set(), loaded


def test_the_events_feed_reads_event_rows_and_loads_no_model(app, client, auth):
    auth.new_client("bob")
    headers = bearer(make_token(auth.new_client("admin"), name="siem", scopes=("audit:read",)))
    client.get("/audit/events", headers=headers)  # warm: the token's first use is noted
    with models_loaded() as loaded:
        response = client.get("/audit/events", headers=headers)
    assert response.status_code == 200
    assert any((e["actor"] or {}).get("email") == "bob@example.test" for e in response.json)
    # The personal token's check loads its owner (who is calling); the events load nobody.
    assert AuditEvent not in loaded
    assert loaded.users <= {user_id_of(app, "admin")}
