"""Each request's id and its one access line, and the app's logging set up from its settings.

The request id is the caller's ``X-Request-Id`` when it is a plain token (it goes into logs
and back into a header as it is), else a new one; every line logged while the request is
handled carries it, with the route's rule (``/devices/<device_id>``, never the path with its
ids), the method, the client's address as the trusted proxy passed it (``ProxyFix``) and the
caller's user id once known. The access line is written last, after every other hook, so it
has the final status. Its hooks are registered before any other, so even a request an
extension refuses early (a rate limit, a CSRF failure) has its id and its line.
"""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import urlsplit

from flask import Flask, Response, g, has_request_context, request

from . import logs

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
# A development server's own line for each request ("GET /path?query HTTP/1.1" 200): the
# access line replaces it, and its raw path and query may hold a secret.
_SERVER_REQUEST_LINE = re.compile(r'"[A-Z]+ \S* HTTP/[0-9.]+" \d{3} ')

access_log = logging.getLogger("portal.access")


def init_app(app: Flask) -> None:
    """Set up logging from the settings (outside tests), then the request hooks."""
    if not app.testing:
        logs.configure(
            app.config["LOG_LEVEL"],
            app.config["LOG_FORMAT"],
            configured_secrets(app.config),
            drop=_server_request_line,
        )
    app.before_request(_begin)
    app.after_request(_access)  # after_request hooks run last-registered first: this one last
    app.teardown_request(_end)


def configured_secrets(config) -> list[str]:
    """The settings' secret values, which no log line may show even if some code put one
    into a message."""
    found = [
        config.get(name)
        for name in (
            "SECRET_KEY",
            "OIDC_CLIENT_SECRET",
            "SCIM_TOKEN",
            "SSF_RECEIVER_TOKEN",
            "MAIL_PASSWORD",
        )
    ]
    for name in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL"):
        try:
            found.append(urlsplit(config.get(name) or "").password)
        except ValueError:
            continue
    return [value for value in found if isinstance(value, str) and value]


def _server_request_line(record: logging.LogRecord) -> bool:
    """Whether ``record`` is Werkzeug's own line for a request (left out: see above)."""
    return (
        record.name == "werkzeug"
        and record.levelno == logging.INFO
        and bool(_SERVER_REQUEST_LINE.search(record.getMessage()))
    )


def user_id() -> str | None:
    """The caller's user id, when this request already knows who it is: a bearer token's
    principal or the browser's loaded session. Never loads anything itself."""
    if not has_request_context():
        return None
    principal = g.get("principal") or g.get("_login_user")
    found = getattr(principal, "user_id", None)
    return str(found) if found else None


def _begin() -> None:
    """The request's id, start and fields, bound for every line it logs."""
    given = request.environ.get("HTTP_X_REQUEST_ID")
    g.request_id = given if given and _REQUEST_ID.fullmatch(given) else logs.new_request_id()
    g.log_started = time.perf_counter()
    rule = request.url_rule
    g.log_context = logs.CONTEXT.set(
        {
            "request_id": g.request_id,
            "route": rule.rule if rule is not None else None,
            "method": request.method,
            "client": request.remote_addr,
            "user_id": user_id,
        }
    )


def _access(response: Response) -> Response:
    """The request's one access line, with the final status and how long it took."""
    started = g.get("log_started")
    duration = round((time.perf_counter() - started) * 1000, 2) if started else None
    route = request.url_rule.rule if request.url_rule is not None else None
    access_log.info(
        "%s %s %d",
        request.method,
        route or "(no route)",
        response.status_code,
        extra={"status": response.status_code, "duration_ms": duration},
    )
    return response


def _end(_error: BaseException | None) -> None:
    """What was bound before the request again (nothing, in a server's thread), so a pooled
    thread's next request starts clean. A request context that never ran the hooks (one a
    worker pushes to render a mail) leaves the worker's job as it was."""
    token = g.pop("log_context", None)
    if token is not None:
        try:
            logs.CONTEXT.reset(token)
        except ValueError:  # set in another context (not Flask's way): forget it all
            logs.CONTEXT.set(None)
