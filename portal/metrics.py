"""The portal's Prometheus metrics (prometheus-client): defined once here, counted where things
happen.

Low in the layers (it knows only the extensions), so the services, sign-in, SCIM and the worker
count in place. What a transaction decides (a sign-in, a session ended, an alert queued) is
counted when that transaction commits (``count_on_commit``): a request that is refused and
rolled back counts nothing. What happens whatever the database keeps (a refused sign-in, a
mail that left, a rate-limit refusal) is counted at once. Labels are fixed words (route
templates, reasons, outcomes), never an id, an address or a path parameter.

Under gunicorn every worker process counts apart; with ``PORTAL_METRICS_DIR`` set
(``use_directory``) each process writes its counts to files there (prometheus-client's
multiprocess mode) and a scrape adds them up (``portal.scrape``). The gauges a scrape reads
from the database are not here: ``portal.scrape`` computes them when asked.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
from typing import Any

from prometheus_client import Counter, Histogram, disable_created_metrics, values
from prometheus_client.multiprocess import mark_process_dead
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from .extensions import db

# No ``_created`` series: the multiprocess mode has none, so one process answers as many do.
disable_created_metrics()

# Request durations: buckets fine enough for the quickest probe and the slowest export alike.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)

REQUESTS = Counter(
    "portal_http_requests_total",
    "HTTP requests answered, by route template, method and status class",
    ["route", "method", "status_class"],
)
REQUEST_DURATION = Histogram(
    "portal_http_request_duration_seconds",
    "Time from the request reaching the app to its answer, by route template and method",
    ["route", "method"],
    buckets=DURATION_BUCKETS,
)
SIGN_INS = Counter(
    "portal_sign_ins_total", "Sign-ins at the portal, by how they ended", ["outcome"]
)
SESSIONS_ENDED = Counter(
    "portal_sessions_ended_total", "Sessions ended, by how (the end reason)", ["how"]
)
ALERTS = Counter(
    "portal_alerts_total", "Sign-in alert mail: queued, sent, failed attempts", ["state"]
)
SSF_EVENTS = Counter(
    "portal_ssf_events_total",
    "Shared Signals events, by direction (sent, failed, received) and event type",
    ["direction", "type"],
)
OUTBOX_GIVEN_UP = Counter(
    "portal_outbox_given_up_total",
    "Outbox messages given up for good (a permanent refusal, or every retry spent), by kind",
    ["kind"],
)
SCIM_REQUESTS = Counter(
    "portal_scim_requests_total", "SCIM requests, by operation and status", ["operation", "status"]
)
RATE_LIMITED = Counter(
    "portal_rate_limited_total", "Requests refused by a rate limit, by route family", ["family"]
)

COUNTERS = (SIGN_INS, SESSIONS_ENDED, ALERTS, SSF_EVENTS, OUTBOX_GIVEN_UP, SCIM_REQUESTS)
EVERY_METRIC = (REQUESTS, REQUEST_DURATION, RATE_LIMITED, *COUNTERS)

# The outcomes of a sign-in at the portal (``auth.signin``, ``operations.sign_in``).
SIGN_IN_OUTCOMES = (
    "signed_in",  # a browser signed in: a session opened
    "signed_in_api",  # an IdP access token's first use opened its API client's session
    "credentials_required",  # sent back to the IdP to give credentials again (after a revoke)
    "refused_reauthentication",  # the IdP answered that again with an old authentication
    "refused_deactivated",  # the account is deactivated
    "refused_state",  # the callback's state matched no sign-in this browser started
    "refused_nonce",  # the ID token's nonce was not the one sent
    "refused_identity",  # claims the portal cannot make a user of
    "idp_error",  # the IdP answered an error, or could not be reached or understood
)
ALERT_STATES = ("queued", "sent", "failed")
SSF_DIRECTIONS = ("sent", "failed", "received")
# Event types by the last segment of their URI (CAEP, RISC, SSF); any other is "other", so a
# sender cannot add series of its own.
SSF_EVENT_TYPES = frozenset(
    {
        "session-revoked",
        "credential-change",
        "token-claims-change",
        "assurance-level-change",
        "device-compliance-change",
        "session-established",
        "session-presented",
        "risk-level-change",
        "account-disabled",
        "account-enabled",
        "account-purged",
        "account-credential-change-required",
        "credential-compromise",
        "identifier-changed",
        "identifier-recycled",
        "opt-in",
        "opt-out-initiated",
        "opt-out-cancelled",
        "opt-out-effective",
        "recovery-activated",
        "recovery-information-changed",
        "sessions-revoked",
        "verification",
        "stream-updated",
    }
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
_STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}
_CONVERTER = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


# -- counting ------------------------------------------------------------------------------

_PENDING = "portal_metrics_pending"


def count_on_commit(counter: Any, amount: float = 1) -> None:
    """Count ``counter`` (a labelled child) when the current transaction commits; nothing when
    it rolls back."""
    if amount:
        db.session.info.setdefault(_PENDING, []).append((counter, amount))


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint was released: its transaction goes on
        return
    for counter, amount in session.info.pop(_PENDING, ()):
        counter.inc(amount)


@event.listens_for(Session, "after_transaction_end")
def _forget_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended without committing them
        session.info.pop(_PENDING, None)


def sign_in(outcome: str, *, on_commit: bool = False) -> None:
    """A sign-in ended this way (``SIGN_IN_OUTCOMES``): at once, or when it commits."""
    child = SIGN_INS.labels(outcome)
    if on_commit:
        count_on_commit(child)
    else:
        child.inc()


def sessions_ended(how: str, count: int) -> None:
    """``count`` sessions ended (``EndReason``), counted when their end commits."""
    count_on_commit(SESSIONS_ENDED.labels(how), count)


def alert(state: str, *, on_commit: bool = False) -> None:
    child = ALERTS.labels(state)
    if on_commit:
        count_on_commit(child)
    else:
        child.inc()


def ssf_event_type(uri: str) -> str:
    """An event type's label: its URI's last path segment when it is a known type."""
    last = uri.rstrip("/").rsplit("/", 1)[-1]
    return last if last in SSF_EVENT_TYPES else "other"


def ssf_event(direction: str, event_type_uri: str) -> None:
    SSF_EVENTS.labels(direction, ssf_event_type(event_type_uri)).inc()


def outbox_given_up(kind: str) -> None:
    """A message of ``kind`` was given up; counted when that is committed."""
    count_on_commit(OUTBOX_GIVEN_UP.labels(kind))


def scim_request(operation: str, status: int) -> None:
    SCIM_REQUESTS.labels(operation, str(status)).inc()


def rate_limited(family: str) -> None:
    RATE_LIMITED.labels(family).inc()


# -- requests --------------------------------------------------------------------------------

_route_labels: dict[str, str] = {}
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def route_label(rule: str | None) -> str:
    """A URL rule as a label: its template without converters (``/admin/users/<user_id>``);
    ``unmatched`` for a request no rule matched."""
    if rule is None:
        return UNMATCHED
    label = _route_labels.get(rule)
    if label is None:
        label = _route_labels[rule] = _CONVERTER.sub(r"<\1>", rule)
    return label


def observe_request(rule: str | None, method: str, status: int, seconds: float) -> None:
    """One answered request: counted, and its duration observed. The labelled children are
    kept by (rule, method, status class), so a request costs two dictionary reads and two
    increments."""
    key = (rule or "", method, status // 100)
    children = _request_children.get(key)
    if children is None:
        route = route_label(rule)
        verb = method if method in METHODS else "other"
        status_class = _STATUS_CLASSES.get(status // 100, "other")
        children = (
            REQUESTS.labels(route, verb, status_class),
            REQUEST_DURATION.labels(route, verb),
        )
        _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


# -- several processes -----------------------------------------------------------------------


def multiprocess_directory() -> str | None:
    """The directory this process writes its counts to, or None (counted in memory)."""
    if getattr(values.ValueClass, "_multiprocess", False):
        return os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return None


def use_directory(path: str) -> None:
    """Count into files under ``path`` from now on (prometheus-client's multiprocess mode), so
    that a scrape adds up every process of this machine: gunicorn's workers, the background
    worker. Done before the first count of the process (the app does it when it is built);
    the files of processes that are gone are removed first when no other process is
    writing (``clean_directory``)."""
    path = os.path.abspath(path)
    current = multiprocess_directory()
    if current is not None:
        if os.path.abspath(current) != path:
            raise RuntimeError(
                f"this process already counts into {current}; PORTAL_METRICS_DIR is {path}"
            )
        return
    os.makedirs(path, exist_ok=True)
    clean_directory(path)
    # The variable prometheus-client reads for the files' folder, and its value class: its
    # multiprocess mode is chosen by that variable when the library is imported, and the
    # portal's setting is read later, when the app is built.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    values.ValueClass = values.MultiProcessValue()
    for metric in EVERY_METRIC:  # children made before counted in memory: made again
        metric.clear()
    _request_children.clear()


def _pid_of(filename: str) -> int | None:
    stem = os.path.basename(filename).removesuffix(".db")
    tail = stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def clean_directory(path: str) -> bool:
    """Empty the folder of counts when no process that wrote there is still running: a new
    start counts from zero, as a restarted process would (Prometheus reads it as a reset). While
    another portal process of this machine runs (the background worker, when gunicorn
    restarts), every file stays, so the sums never go down. True when it emptied it."""
    files = glob.glob(os.path.join(path, "*.db"))
    pids = {_pid_of(f) for f in files} - {None, os.getpid()}
    if any(_running(pid) for pid in pids if pid is not None):
        return False
    for filename in files:
        with contextlib.suppress(FileNotFoundError):  # another process removed it first
            os.remove(filename)
    return True


def process_ended(pid: int, path: str) -> None:
    """A process that counted into ``path`` ended (gunicorn's ``child_exit`` hook): its live
    gauges go; its counters stay in the sums."""
    mark_process_dead(pid, path)
