"""``make run``: the portal on http://127.0.0.1:5000 with an embedded development IdP, the
background worker, and a local mail catcher.

The IdP is oidc-provider-mock, run in this process on http://127.0.0.1:9400 (``dev_idp``: its
ID tokens carry a ``sid``, and it receives the portal's Shared Signals events at
``/ssf/events`` and prints them here). On its sign-in page type a subject: ``admin`` (the demo
admin) or ``employee`` (the demo employee). Revoke a session on a device page and the worker
pushes its CAEP session-revoked event within a second or two.
The worker (``flask --app wsgi worker``) and the mail catcher (aiosmtpd on 127.0.0.1:8025,
``scripts/mail_catcher.py``) are processes of their own; the catcher prints each sign-in alert
with its links here, so "No, secure my account" can be clicked in the terminal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from oidc_provider_mock import User

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dev_idp import serve_in_thread  # noqa: E402

from portal.demo import DEMO_USERS  # noqa: E402

IDP_PORT = int(os.environ.get("DEV_IDP_PORT", "9400"))
PORT = int(os.environ.get("PORT", "5000"))
SMTP_PORT = int(os.environ.get("DEV_SMTP_PORT", "8025"))
AIOSMTPD = [sys.executable, "-m", "aiosmtpd", "-n"]


def start_mail_catcher() -> subprocess.Popen:
    """aiosmtpd on 127.0.0.1:SMTP_PORT, printing each mail to this terminal."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    return subprocess.Popen(
        [*AIOSMTPD, "-l", f"127.0.0.1:{SMTP_PORT}", "-c", "mail_catcher.PrintMail"],
        env=env,
        cwd=ROOT,
    )


def start_worker() -> subprocess.Popen:
    """The background worker that sends the outbox's mail (``flask --app wsgi worker``)."""
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--interval", "1"], cwd=ROOT
    )


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # so the helpers stop with us
    os.environ.setdefault("PORTAL_MAIL_SERVER", "127.0.0.1")
    os.environ.setdefault("PORTAL_MAIL_PORT", str(SMTP_PORT))
    # The portal tells the development IdP (the receiver in dev_idp) which sessions it ended.
    os.environ.setdefault("PORTAL_SSF_RECEIVER_URL", f"http://127.0.0.1:{IDP_PORT}/ssf/events")
    os.environ.setdefault("PORTAL_SSF_ISSUER", f"http://127.0.0.1:{PORT}")
    helpers = [start_mail_catcher(), start_worker()]
    try:
        serve()
    finally:
        for process in helpers:
            process.terminate()
        for process in helpers:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()


def serve() -> None:
    time.sleep(0.5)  # let the catcher and the worker print their first lines first
    users = [
        User(sub=sub, claims={"email": email, "name": name, "groups": groups})
        for sub, email, name, groups in DEMO_USERS
    ]
    jwks_url = f"http://127.0.0.1:{PORT}/ssf/jwks.json"
    with serve_in_thread(IDP_PORT, users, transmitter_jwks_url=jwks_url):
        from portal import create_app

        app = create_app()
        print(f"\n  Device Portal: http://127.0.0.1:{PORT}  (IdP: http://127.0.0.1:{IDP_PORT})")
        print("  Sign in by typing the subject 'admin' (demo admin) or 'employee'.")
        print(f"  Then make an API token at http://127.0.0.1:{PORT}/account/tokens and call")
        print(f'  curl -H "Authorization: Bearer dpt_..." http://127.0.0.1:{PORT}/devices')
        print(f"  (the API's documentation: http://127.0.0.1:{PORT}/api/docs)")
        print(f"  Sign-in alerts go to a mail catcher on 127.0.0.1:{SMTP_PORT}, printed here,")
        print("  and the Shared Signals events the portal sends to the IdP are printed too.\n")
        app.run(host="127.0.0.1", port=PORT, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
