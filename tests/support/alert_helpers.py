"""Fixtures and helpers of the sign-in alert tests: a real SMTP server process, the worker,
and the links of a received mail."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from portal.extensions import db
from portal.models import OutboxMessage, SignInAlert

ROOT = Path(__file__).resolve().parent.parent.parent
_LINK = re.compile(r"https?://[^/\s]+(/alerts/[A-Za-z0-9._-]+)")


def use_mail_server(app_config: dict, port: int) -> None:
    """The app under test sends to the SMTP server on ``port`` (127.0.0.1)."""
    app_config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=5)


def run_worker(app, *args: str) -> str:
    """``flask worker --once`` in this process (the app's own settings)."""
    result = app.test_cli_runner().invoke(args=["worker", "--once", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def worker_process(app, *args: str, once: bool = True) -> subprocess.Popen:
    """``flask --app wsgi worker [--once]`` as a process of its own, on the app's database."""
    cfg = app.config
    env = {
        **os.environ,
        "PORTAL_ENV": "testing",
        "PORTAL_SECRET_KEY": cfg["SECRET_KEY"],
        "PORTAL_DATABASE_URL": cfg["SQLALCHEMY_DATABASE_URI"],
        "PORTAL_DATABASE_LOCK_TIMEOUT": "10",
        "PORTAL_MAIL_SERVER": cfg["MAIL_SERVER"],
        "PORTAL_MAIL_PORT": str(cfg["MAIL_PORT"]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", *(["--once"] * once), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def outbox_rows(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = list(
            db.session.execute(select(OutboxMessage).order_by(OutboxMessage.created_at)).scalars()
        )
        db.session.expunge_all()
        return rows


def alert_rows(app) -> list[SignInAlert]:
    with app.app_context():
        rows = list(
            db.session.execute(select(SignInAlert).order_by(SignInAlert.created_at)).scalars()
        )
        db.session.expunge_all()
        return rows


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def links(message) -> dict[str, str]:
    """The mail's "yes" and "no" links, as paths the test client can open."""
    found = _LINK.findall(text_of(message))
    assert len(found) == 2, text_of(message)
    return {"yes": found[0], "no": found[1]}
