"""Admin pages for incidents across users: every sign-in, filtered; sign out what matches.

The search is a read (``viewUserDevices``), audited on every page as a look at other people's
sign-ins; the bulk sign-out (``manageUserDevices``) is a confirm page, a POST that queues a job
for the background worker, and a progress page that refreshes itself (no JavaScript needed).
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from ..authz import MANAGE_USER_DEVICES, VIEW_USER_DEVICES, require_permission
from ..models import JobStatus
from ..services import operations
from ..services.incidents import bulk_jobs, search
from ..timefmt import iso_z
from .blueprint import bp
from .csv_export import csv_response

FILTER_ARGS = (
    "ip",
    "country",
    "flag",
    "device_type",
    "browser",
    "active",
    "since",
    "until",
    "user",
)
SAMPLE_SIZE = 10
# A job's page asks again this often while the job runs.
REFRESH_SECONDS = 2


def _filter_from(values) -> tuple[search.SignInFilter, str | None]:
    """The filter the query string (or form) asks for, and what is wrong with it if anything
    (then nothing matches: a search must never widen silently)."""
    try:
        return search.parse_filter(**{k: values.get(k) for k in FILTER_ARGS}), None
    except search.InvalidFilter as exc:
        return search.SignInFilter(), str(exc)


@lru_cache(maxsize=1024)  # keys: "" and the two-letter codes a filter accepts, by data
def _country_options(selected: str, present: tuple[str, ...]) -> Markup:
    """The country filter's options, rendered once per selected code and set of countries in
    the data rather than on every page: the countries sign-ins came from first, then every
    other current ISO country, each once."""
    option = Markup('<option value="{}"{}>{} ({})</option>')
    chosen = Markup(" selected")
    group = Markup('<optgroup label="{}">{}</optgroup>')
    groups = zip(
        ("Where sign-ins came from", "Other countries"),
        search.country_choices(present),
        strict=True,
    )
    return Markup("").join(
        group.format(
            label,
            Markup("").join(
                option.format(code, chosen if code == selected else "", name, code)
                for code, name in choices
            ),
        )
        for label, choices in groups
        if choices
    )


def _invalid_field(problem: str | None) -> str | None:
    """Which field a filter's problem is about ("ip must be..." is the IP box's)."""
    if not problem:
        return None
    field = problem.split(" must ", 1)[0].replace(" ", "_")
    return field if field in FILTER_ARGS else None


_NO_USER = uuid.UUID(int=0)


def _user_link_parts() -> tuple[str, str]:
    """A user page's address around the id, built once per page rather than once per row."""
    before, _, after = url_for("admin.user_detail", user_id=_NO_USER).partition(str(_NO_USER))
    return before, after


def _filter_args(values) -> dict[str, Any]:
    """The filter's fields as they were typed (for links and hidden fields). Strings, typed as
    ``url_for`` types its values: a ``**dict[str, str]`` could be its ``_external`` flag."""
    return {k: values[k] for k in FILTER_ARGS if values.get(k)}


@bp.get("/sign-ins")
@require_permission(VIEW_USER_DEVICES)
def sign_ins_search():
    """Every sign-in of every user, newest first, filtered; 50 a page by cursor."""
    f, problem = _filter_from(request.args)
    if problem:
        flash(f"{problem}. Nothing was searched.", "error")
        page, total, more = search.SignInPage([], None), 0, False
    else:
        try:
            page = search.search(
                f, after=request.args.get("cursor") or None, limit=current_app.config["PAGE_SIZE"]
            )
        except search.BadCursor:
            flash("That page link is not valid any more; showing the first page.", "error")
            page = search.search(f, limit=current_app.config["PAGE_SIZE"])
        total, more = search.capped_count(f)
    args = _filter_args(request.args)
    body = render_template(
        "admin/sign_ins.html",
        f=f,
        args=args,
        page=page,
        total=total,
        more=more,
        cap=search.COUNT_CAP,
        invalid=problem,
        first_page=not request.args.get("cursor"),
        invalid_field=_invalid_field(problem),
        country_options=_country_options(f.country, tuple(search.countries_in_data())),
        user_link=_user_link_parts(),
        flags={k: search.FLAG_LABELS[v] for k, v in search.FLAGS.items()},
        device_types=search.DEVICE_TYPES,
        can_manage=current_user.can(MANAGE_USER_DEVICES),
    )
    if not problem:
        operations.search_sign_ins(current_user.actor, f)
    return body


CSV_HEADER = [
    "signed_in_at",
    "session_id",
    "user_id",
    "email",
    "device_id",
    "device_name",
    "device_type",
    "browser",
    "os",
    "ip_address",
    "location",
    "login_method",
    "status",
    "ended_at",
    "flags",
]


@bp.get("/sign-ins.csv")
@require_permission(VIEW_USER_DEVICES)
def sign_ins_export():
    """The filtered sign-ins as CSV, streamed a page at a time (the export is audited first)."""
    f, problem = _filter_from(request.args)
    if problem:
        flash(f"{problem}. Nothing was exported.", "error")
        return redirect(url_for("admin.sign_ins_search", **_filter_args(request.args)))
    operations.export_csv(current_user.actor, "sign_ins", filters=f.as_dict() or None)

    def rows():
        for r in search.iter_rows(f):
            yield [
                iso_z(r.created_at),
                r.id,
                r.user_id,
                r.email,
                r.device_id,
                r.device_name,
                r.device_type,
                r.browser,
                r.os_name,
                r.ip_address,
                r.place,
                r.login_method,
                r.status,
                iso_z(r.ended_at),
                "; ".join(r.flag_labels),
            ]

    return csv_response("sign-ins.csv", CSV_HEADER, rows())


@bp.route("/sign-ins/sign-out", methods=["GET", "POST"])
@require_permission(MANAGE_USER_DEVICES)
def sign_ins_sign_out():
    """Confirm (GET), then queue (POST) the sign-out of every active session that matches."""
    values = request.form if request.method == "POST" else request.args
    f, problem = _filter_from(values)
    args = _filter_args(values)
    if problem or not f.narrows:
        problem = problem or "Choose at least one filter besides “active only”"
        flash(f"{problem}. Nothing was signed out.", "error")
        return redirect(url_for("admin.sign_ins_search", **args))
    if request.method == "POST":
        key = (request.form.get("idempotency_key") or "").strip()[:64] or None
        job, created = operations.start_bulk_sign_out(current_user.actor, f, idempotency_key=key)
        if not created:
            flash("That sign-out had already been started: here is its progress.", "info")
        return redirect(url_for("admin.job_progress", job_id=job.id))
    sessions_count, users_count = search.active_match_counts(f)
    sample = search.search(
        search.SignInFilter(**{**vars(f), "active": True}), limit=SAMPLE_SIZE
    ).rows
    return render_template(
        "admin/sign_out_confirm.html",
        f=f,
        args=args,
        sessions_count=sessions_count,
        users_count=users_count,
        sample=sample,
        idempotency_key=uuid.uuid4().hex,
    )


@bp.get("/jobs/<job_id>")
@require_permission(MANAGE_USER_DEVICES)
def job_progress(job_id: str):
    """A bulk job's progress; the page reloads itself until the job is over."""
    job = bulk_jobs.get_job(job_id)
    if job is None:
        abort(404)
    unfinished = job.status in (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
    return render_template(
        "admin/job.html",
        job=job,
        unfinished=unfinished,
        refresh=REFRESH_SECONDS if unfinished else None,
        search_args={
            k: ("1" if v is True else v) for k, v in job.filters.items() if k in FILTER_ARGS
        },
    )
