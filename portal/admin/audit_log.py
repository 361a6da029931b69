"""The audit log pages: the log in words, filtered by actor, target, action and dates, and
its CSV export with the raw codes (the export itself audited first)."""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app, flash, render_template, request
from flask_login import current_user

from ..authz import VIEW_AUDIT_LOG, require_permission
from ..models import utcnow
from ..services import operations
from ..services.audit import log
from ..services.audit import record as audit
from ..services.common import parse_id
from ..timefmt import iso_z
from .audit_words import action_words
from .blueprint import bp
from .csv_export import csv_response
from .request_args import page_number, text_arg

# Audit filter dates outside these bounds are ignored (and said so): the log holds nothing
# from before 1970, and a day after 9998 has no next day to end at.
EARLIEST_DATE, LATEST_DATE = date(1970, 1, 1), date(9998, 12, 31)


def _date_arg(name: str) -> date | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        flash(f"Ignored the {name} date “{value}”: use YYYY-MM-DD.", "error")
        return None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        flash(
            f"Ignored the {name} date “{value}”: use a date from {EARLIEST_DATE} to {LATEST_DATE}.",
            "error",
        )
        return None
    return day


# The page's date presets: how far back each reaches.
WITHIN = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
WITHIN_WORDS = {"1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days"}


def _audit_filter(*, looks: bool) -> log.AuditFilter:
    """The filter the query string asks for; ``looks`` says whether looks at a user's devices
    are in when ``?looks=`` does not say (the page leaves them out, a plain export keeps them;
    the page's Export CSV link says which it showed)."""
    known = audit.Actions.all()
    within = WITHIN.get(request.args.get("within", ""))
    return log.AuditFilter(
        actor=text_arg("actor", "actor filter"),
        target=text_arg("target", "target filter"),
        actions=tuple(a for a in dict.fromkeys(request.args.getlist("action")) if a in known),
        since=_date_arg("since"),
        until=_date_arg("until"),
        after=utcnow() - within if within else None,
        looks={"1": True, "0": False}.get(request.args.get("looks", ""), looks),
    )


@bp.get("/audit")
@require_permission(VIEW_AUDIT_LOG)
def audit_events():
    """The audit log, newest first, filtered by actor, target, actions and dates; looks at a
    user's devices only when asked."""
    filters = _audit_filter(looks=False)
    result = log.search_events(
        filters, page=page_number(), per_page=current_app.config["PAGE_SIZE"]
    )
    named = [parse_id(filters.actor), parse_id(filters.target)]
    people = log.people(i for i in named if i is not None)
    return render_template(
        "admin/audit.html",
        filters=filters,
        result=result,
        actions=sorted(audit.Actions.all(), key=action_words),
        within=request.args.get("within", "") if request.args.get("within") in WITHIN else "",
        within_words=WITHIN_WORDS,
        actor_ref=people.get(named[0]) if named[0] else None,
        target_ref=people.get(named[1]) if named[1] else None,
    )


def _audited_filters(f: log.AuditFilter) -> dict[str, str] | None:
    """The export's filters as its audit event keeps them (the actions as ``action``, comma
    separated; looks at a user's devices noted only when left out)."""
    values = {
        "actor": f.actor,
        "target": f.target,
        "action": ",".join(f.actions),
        "since": str(f.since or ""),
        "until": str(f.until or ""),
        "after": f.after.isoformat() if f.after else "",
        "looks": "left out" if f.hides_looks else "",
    }
    return {k: v for k, v in values.items() if v} or None


AUDIT_CSV_HEADER = [
    "occurred_at",
    "action",
    "actor_id",
    "actor",
    "target_user_id",
    "target",
    "device_id",
    "session_id",
    "ip_address",
    "detail",
]


@bp.get("/audit.csv")
@require_permission(VIEW_AUDIT_LOG)
def audit_export():
    """The filtered audit log as CSV, streamed (the export itself is audited first)."""
    import json

    filters = _audit_filter(looks=True)
    operations.export_csv(
        current_user.actor,
        "audit_log",
        filters=_audited_filters(filters),
    )

    def rows():
        for e in log.iter_events(filters):
            yield [
                iso_z(e.occurred_at),
                e.action,
                e.actor_id,
                e.actor_label,
                e.target_user_id,
                e.target_user.email if e.target_user else None,
                e.device_id,
                e.session_id,
                e.ip_address,
                json.dumps(e.detail or {}, sort_keys=True),
            ]

    return csv_response("audit-log.csv", AUDIT_CSV_HEADER, rows())
