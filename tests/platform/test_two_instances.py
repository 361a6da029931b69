"""Two portal instances behind nginx, on one PostgreSQL and one Redis: nothing that matters lives
in one process.

The layout of a production site, on loopback: two gunicorn instances of ``wsgi:app`` (two
workers each), Debian's nginx in front (one port balancing over both, and one port for each
instance, so a test can choose who answers; ``X-Upstream`` says who did), one PostgreSQL (this
suite's own on a PostgreSQL run, else a throwaway cluster) and one ``redis-server``, with the
real test IdP. Every instance shares ``PORTAL_SECRET_KEY``, ``PORTAL_DATABASE_URL`` and
``PORTAL_REDIS_URL``, and trusts one proxy (``PORTAL_TRUSTED_PROXIES=1``).

nginx, redis-server and PostgreSQL are required: without them these tests fail (never skip);
``scripts/install-test-deps.sh`` installs them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from support.idp import OidcProvider, free_port
from support.processes import (
    Process,
    empty_migrated_postgres,
    env_value,
    logs,
    spawn,
    wait_until_up,
)
from support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
API_LIMIT = 5  # PORTAL_RATELIMIT_API of these instances: "5 per minute"
SIGNED_IN = 'id="devices"'  # My devices
SIGNED_OUT = 'id="hero-sign-in"'  # the landing page's Sign in


def nginx_binary() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(found, os.X_OK):
        raise RuntimeError(
            "nginx not found (not on PATH, not /usr/sbin/nginx); run scripts/install-test-deps.sh "
            "(apt-get install nginx)"
        )
    return found


NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    proxy_max_temp_file_size 0;

    upstream portal {{ server 127.0.0.1:{a}; server 127.0.0.1:{b}; }}
    upstream portal_a {{ server 127.0.0.1:{a}; }}
    upstream portal_b {{ server 127.0.0.1:{b}; }}

    proxy_http_version 1.1;
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_set_header X-Forwarded-Port $server_port;
    add_header X-Upstream $upstream_addr always;

    server {{ listen 127.0.0.1:{balanced}; location / {{ proxy_pass http://portal; }} }}
    server {{ listen 127.0.0.1:{only_a}; location / {{ proxy_pass http://portal_a; }} }}
    server {{ listen 127.0.0.1:{only_b}; location / {{ proxy_pass http://portal_b; }} }}
}}
"""


@dataclass
class Site:
    """The running layout. ``a`` and ``b`` reach one instance each through nginx."""

    balanced: str
    a: str
    b: str
    upstream_a: str  # what X-Upstream says when instance A answered
    upstream_b: str
    redis: RedisServer
    processes: list[Process] = field(default_factory=list)

    def logs(self) -> str:
        return logs(self.processes)

    def reset_rate_limits(self) -> None:
        """Forget the counts (Flask-Limiter's keys only), so each test starts from zero."""
        client = self.redis.client()
        try:
            for key in client.scan_iter("LIMITS*"):
                client.delete(key)
        finally:
            client.close()


def _wait_until_up(site: Site, urls: list[str], timeout: float = 60.0) -> None:
    wait_until_up(site.processes, urls, timeout)


@pytest.fixture(scope="module")
def site(idp: OidcProvider, database_url):
    from support.app_setup import make_config

    nginx = nginx_binary()
    stack: list = []  # what to stop, in reverse
    work = Path(tempfile.mkdtemp(prefix="portal-two-instances-"))
    stack.append(lambda: shutil.rmtree(work, ignore_errors=True))
    try:
        url = empty_migrated_postgres(database_url, stack, "portal_two_instances")
        redis_server = RedisServer.start()
        stack.append(redis_server.stop)

        settings = make_config(
            idp,
            url,
            ENV="production",
            SECRET_KEY=secrets.token_urlsafe(32),  # one key for every instance
            REDIS_URL=redis_server.url,
            TRUSTED_PROXIES=1,
            RATELIMIT_API=f"{API_LIMIT} per minute",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
        env.update({f"PORTAL_{k}": env_value(v) for k, v in settings.items()})

        port_a, port_b = free_port(), free_port()
        balanced, only_a, only_b = free_port(), free_port(), free_port()
        site = Site(
            balanced=f"http://127.0.0.1:{balanced}",
            a=f"http://127.0.0.1:{only_a}",
            b=f"http://127.0.0.1:{only_b}",
            upstream_a=f"127.0.0.1:{port_a}",
            upstream_b=f"127.0.0.1:{port_b}",
            redis=redis_server,
        )
        for name, port in (("gunicorn A", port_a), ("gunicorn B", port_b)):
            process = spawn(
                name,
                [
                    *(sys.executable, "-m", "gunicorn", "--workers", "2"),
                    *("--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5"),
                    "wsgi:app",
                ],
                work / f"{name.replace(' ', '-')}.log",
                cwd=str(ROOT),
                env=env,
            )
            site.processes.append(process)
            stack.append(process.stop)

        (work / "tmp").mkdir()
        (work / "tmp").chmod(0o777)  # nginx's workers may run as nobody
        conf = work / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                dir=work, a=port_a, b=port_b, balanced=balanced, only_a=only_a, only_b=only_b
            )
        )
        process = spawn(
            "nginx",
            [
                nginx,
                *("-p", str(work), "-c", str(conf), "-e", str(work / "error.log")),
                "-g",
                "daemon off;",
            ],
            work / "nginx.out",
        )
        site.processes.append(process)
        stack.append(lambda: process.stop(signal.SIGQUIT))
        site.processes.append(Process("nginx error.log", process.proc, work / "error.log"))

        _wait_until_up(
            site, [f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}", site.balanced]
        )
        _wait_until_up(site, [site.a, site.b])
        yield site
    finally:
        for stop in reversed(stack):
            stop()


def _served_by(response: requests.Response) -> str:
    return response.headers.get("X-Upstream", "")


def sign_in(site: Site, idp: OidcProvider, login: str, *, start: str, finish: str):
    """A browser's sign-in: /login through ``start``, the IdP, /auth/callback through ``finish``.

    Returns the browser (its cookie jar) and the answers of /login and of the callback.
    """
    browser = requests.Session()
    begun = browser.get(f"{start}/login", params={"next": "/"}, allow_redirects=False, timeout=10)
    assert begun.status_code == 302, (begun.status_code, begun.text[:500], site.logs())
    callback = urlsplit(idp.login_through(requests.Session(), begun.headers["Location"], login))
    done = browser.get(
        f"{finish}{callback.path}?{callback.query}", allow_redirects=False, timeout=10
    )
    return browser, begun, callback, done


def test_nginx_balances_over_both_instances(site):
    answers = [requests.get(f"{site.balanced}/healthz", timeout=10) for _ in range(4)]
    assert {r.status_code for r in answers} == {200}
    assert {_served_by(r) for r in answers} == {site.upstream_a, site.upstream_b}


def test_a_sign_in_started_on_a_completes_on_b(site, idp):
    """The state, nonce and PKCE verifier travel in the signed session cookie A set, which B
    reads because both share PORTAL_SECRET_KEY; the session is a row both see."""
    browser, begun, callback, done = sign_in(site, idp, "alice", start=site.a, finish=site.b)

    assert _served_by(begun) == site.upstream_a
    # A built the redirect URI from the proxy's headers (PORTAL_TRUSTED_PROXIES=1).
    assert f"{callback.scheme}://{callback.netloc}" == site.a
    assert _served_by(done) == site.upstream_b
    assert done.status_code == 302, (done.status_code, done.text[:1000], site.logs())
    assert urlsplit(done.headers["Location"]).path == "/"
    for instance in (site.b, site.a, site.balanced):
        page = browser.get(f"{instance}/", timeout=10)
        assert page.status_code == 200 and SIGNED_IN in page.text, instance


def test_a_session_revoked_through_a_is_refused_by_b(site, idp):
    site.reset_rate_limits()
    browser, _, _, done = sign_in(site, idp, "bob", start=site.b, finish=site.b)
    assert done.status_code == 302, (done.text[:1000], site.logs())
    kept_token, revoking_token = idp.access_token("bob"), idp.access_token("bob")
    kept = {"Authorization": f"Bearer {kept_token}"}
    revoking = {"Authorization": f"Bearer {revoking_token}"}
    # B has seen both the browser and the token (and may keep what it can of them).
    for _ in range(2):  # both of B's workers, most likely
        assert SIGNED_IN in browser.get(f"{site.b}/", timeout=10).text
    assert requests.get(f"{site.b}/auth/devices", headers=kept, timeout=10).status_code == 200

    revoked = requests.post(f"{site.a}/sessions/revoke-all", headers=revoking, timeout=10)
    assert revoked.status_code == 200, (revoked.text, site.logs())
    assert _served_by(revoked) == site.upstream_a

    refused = requests.get(f"{site.b}/auth/devices", headers=kept, timeout=10)
    assert _served_by(refused) == site.upstream_b
    assert refused.status_code == 401, refused.text
    again = requests.get(f"{site.b}/devices", headers=revoking, timeout=10)
    assert again.status_code == 401, again.text
    for _ in range(2):
        page = browser.get(f"{site.b}/", timeout=10)
        assert SIGNED_IN not in page.text and SIGNED_OUT in page.text


def test_a_rate_limit_is_counted_across_both_instances(site, idp):
    """5 per minute in all: A and B answer 3 and 2 of the first five, then both refuse. With
    per-process counting neither would have refused yet."""
    site.reset_rate_limits()
    headers = {"Authorization": f"Bearer {idp.access_token('alice')}"}
    answered = []
    for n in range(API_LIMIT):
        instance = (site.a, site.b)[n % 2]
        r = requests.get(f"{instance}/devices", headers=headers, timeout=10)
        assert r.status_code == 200, (n, r.status_code, r.text[:300], site.logs())
        answered.append(_served_by(r))
    assert answered.count(site.upstream_a) == 3 and answered.count(site.upstream_b) == 2

    for instance, upstream in ((site.b, site.upstream_b), (site.a, site.upstream_a)):
        limited = requests.get(f"{instance}/devices", headers=headers, timeout=10)
        assert _served_by(limited) == upstream
        assert limited.status_code == 429, (limited.status_code, limited.text[:300])
        assert limited.json()["success"] is False
        assert "Retry-After" in limited.headers
    client = site.redis.client()
    try:
        assert any(True for _ in client.scan_iter("LIMITS*"))
    finally:
        client.close()
