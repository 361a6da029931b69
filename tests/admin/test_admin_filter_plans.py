"""Every filter of the admin pages of issue 32 is answered from an index, on SQLite and on
PostgreSQL: the audit log without looks at a user's devices (a partial index), by several
actions and by a preset period, and the countries the sign-ins came from (a hop through the
country index per country, never a read of every session)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, text

from portal.extensions import db
from portal.models import utcnow
from portal.services.audit import log
from portal.services.incidents import search


def _plan(query) -> str:
    """The database's plan of a statement, as text; PostgreSQL is told not to scan tables
    (the test's tables are small enough that it would)."""
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))
            compiled = query.compile(db.engine, compile_kwargs={"render_postcompile": True})
            rows = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
            return "\n".join(r[0] for r in rows)
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        return "\n".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))


def _audit_page(f: log.AuditFilter):
    terms = log._conditions(f)
    return log.event_select(*terms, order=log._newest_first, limit=50, source=log.WITH_PEOPLE)


def _audit_count(f: log.AuditFilter):
    return select(func.count()).select_from(log.WITH_PEOPLE).where(*log._conditions(f))


def _scans_audit_events(plan: str) -> bool:
    """Whether the plan reads audit_events whole rather than through an index."""
    if db.engine.dialect.name == "postgresql":
        return "Seq Scan on audit_events" in plan
    return any(
        line.strip().startswith("SCAN audit_events") and "INDEX" not in line
        for line in plan.splitlines()
    )


def test_the_audit_log_without_looks_reads_its_partial_index(app):
    with app.app_context():
        for query in (_audit_page(log.AuditFilter()), _audit_count(log.AuditFilter())):
            plan = _plan(query)
            assert "ix_audit_shown_occurred" in plan, plan
            assert not _scans_audit_events(plan), plan


def test_the_audit_log_by_actions_and_by_a_preset_period_reads_an_index(app):
    with app.app_context():
        hour_ago = utcnow() - timedelta(hours=1)
        for f in (
            log.AuditFilter(actions=("sign_in", "sign_out"), looks=True),
            log.AuditFilter(actions=("sign_in", "revoke_session")),
            log.AuditFilter(after=hour_ago),
            log.AuditFilter(after=hour_ago, looks=True),
        ):
            for query in (_audit_page(f), _audit_count(f)):
                plan = _plan(query)
                assert "ix_audit_" in plan and not _scans_audit_events(plan), (f, plan)


def test_the_countries_of_the_sign_ins_hop_through_the_country_index(app):
    with app.app_context():
        plan = _plan(search.COUNTRIES_IN_DATA)
        assert "ix_sessions_country_created" in plan, plan
        if db.engine.dialect.name == "postgresql":
            assert "Seq Scan on sessions" not in plan, plan
        else:
            assert not any(
                line.strip().startswith("SCAN sessions") and "INDEX" not in line
                for line in plan.splitlines()
            ), plan
