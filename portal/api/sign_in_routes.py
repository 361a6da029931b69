"""Sign-ins across all users (``GET /sign-ins``) and bulk sign-out (``POST /sign-ins/revoke``,
``GET /jobs/{jobId}``).

These are token-row routes: admin routes over other users' sessions, as ``/devices/users/...``
and the events feed ``/audit/events`` are, so their errors take the same
``{"error": {"code", "message"}}`` shape a client of those already handles, and the list is a
bare array paged by an opaque cursor in a ``Link`` header exactly as the events feed's is. The
total, when cheap to know, is a header (``X-Total-Count``, or ``X-Total-Count-Exceeds`` past
the cap), so the body stays a bare array.
"""

from __future__ import annotations

from typing import cast
from urllib.parse import urlencode

from flask import request, url_for

from ..authz import MANAGE_USER_DEVICES, VIEW_USER_DEVICES
from ..services import operations
from ..services.incidents import bulk_jobs, search
from .auth import bearer
from .blueprints import token_rows
from .declarations import ADMIN_TAG, Header, documented, parsed_body, parsed_query
from .errors import ApiError, failure
from .shapes.sign_ins import (
    JobStarted,
    JobState,
    JobStatus,
    SignIn,
    SignInList,
    SignInQuery,
    SignInSearch,
)

_INVALID = {400: "Invalid filter, limit or cursor"}


def _filter(query: SignInQuery) -> search.SignInFilter:
    """The search's filter (``sign_ins.InvalidFilter``, a domain error, answers 400)."""
    return search.parse_filter(**query.filter_values())


@token_rows.get("/sign-ins")
@documented(
    "Every user's sign-ins, newest first, filtered (audited)",
    ok=SignInList,
    errors=(400, 401, 403),
    error_texts=_INVALID,
    query=SignInSearch,
    headers={
        "Link": Header('The next page: `<URL>; rel="next"` (absent on the last page).'),
        "X-Total-Count": Header(
            "How many sign-ins match (when at most 10,000).", schema={"type": "integer"}
        ),
        "X-Total-Count-Exceeds": Header(
            "Sent instead of X-Total-Count when more than this many match.",
            schema={"type": "integer"},
        ),
    },
    tag=ADMIN_TAG,
)
@failure("Failed to search sign-ins")
@bearer("devices:read", permission=VIEW_USER_DEVICES)
def list_sign_ins(principal):
    """Every user's sign-ins matching the filters, newest first, a page at a time; audited."""
    asked: SignInSearch = parsed_query()
    given = {k: request.args[k] for k in SignInQuery.QUERY_PARAMETERS if k in request.args}
    f = _filter(asked)
    limit = asked.limit
    page = search.search(f, after=asked.cursor, limit=limit)  # BadCursor: a domain error
    total, more = search.capped_count(f)
    operations.search_sign_ins(principal.actor, f)
    response = SignInList([SignIn.of(r) for r in page.rows]).answer()
    if page.next_cursor:
        query = {**given, "limit": limit, "cursor": page.next_cursor}
        next_url = url_for("api_token_rows.list_sign_ins", _external=True) + "?" + urlencode(query)
        response.headers["Link"] = f'<{next_url}>; rel="next"'
    if more:
        response.headers["X-Total-Count-Exceeds"] = str(search.COUNT_CAP)
    else:
        response.headers["X-Total-Count"] = str(total)
    return response


@token_rows.post("/sign-ins/revoke")
@documented(
    "Sign out every active session matching the filters (a background job)",
    ok=JobStarted,
    status=202,
    errors=(400, 401, 403),
    error_texts={400: "Invalid or missing filters"},
    body=SignInQuery,
    headers={"Location": Header("The job: `GET /jobs/{jobId}`.")},
    tag=ADMIN_TAG,
)
@failure("Failed to start the sign-out")
@bearer("devices:write", permission=MANAGE_USER_DEVICES)
def revoke_sign_ins(principal):
    """Queue the sign-out of every active session matching the body's filters: 202, with the
    job in ``Location``. At least one filter is required (everyone is never one click away);
    an ``Idempotency-Key`` header makes a retried request answer with the first job."""
    f = _filter(parsed_body())
    if not f.narrows:
        raise ApiError(400, "Give at least one filter", "invalid_filter")
    key = (request.headers.get("Idempotency-Key") or "").strip()[:64] or None
    job, _ = operations.start_bulk_sign_out(principal.actor, f, idempotency_key=key)
    response = JobStarted(job_id=job.id, matched=job.total).answer(202)
    response.headers["Location"] = url_for("api_token_rows.get_job", jobId=job.id)
    return response


@token_rows.get("/jobs/<jobId>")
@documented("Where a bulk sign-out job is", ok=JobState, errors=(401, 403, 404), tag=ADMIN_TAG)
@failure("Failed to read the job")
@bearer("devices:read", permission=MANAGE_USER_DEVICES)
def get_job(principal, jobId: str):
    """Where a bulk job is: queued, running, done or failed, and how many of its items are done."""
    job = bulk_jobs.get_job(jobId)
    if job is None:
        raise ApiError(404, "Job not found")
    status = cast(JobStatus, job.status)
    return JobState(status=status, done=job.done, total=job.total).answer()
