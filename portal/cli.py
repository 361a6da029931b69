"""``flask --app wsgi portal ...`` commands, and ``flask --app wsgi worker``."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.exc import OperationalError

from .extensions import db

portal_cli = AppGroup("portal", help="Device Portal administration.")


@portal_cli.command("demo-data")
@click.option("--issuer", default=None, help="Issuer the demo users belong to.")
@click.option("--force", is_flag=True, help="Load even when users already exist.")
def demo_data(issuer: str | None, force: bool) -> None:
    """Load demo users, devices and sessions once (skipped when users exist)."""
    from . import demo

    issuer = issuer or current_app.config.get("OIDC_ISSUER") or "http://127.0.0.1:9400"
    created = demo.load_demo_data(
        issuer,
        geoip_database=current_app.config.get("GEOIP_DATABASE"),
        force=force,
    )
    db.session.commit()
    click.echo(f"demo data: {created} users created" if created else "demo data: already loaded")


def _cli_actor():
    """Who ran the command, for the audit log: the operating-system account."""
    import getpass

    from .services.operations import Actor

    try:
        label = f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        label = "cli"
    return Actor(None, via="cli", label=label)


def _user_or_exit(email: str):
    from sqlalchemy.exc import MultipleResultsFound

    from .services.users import identity

    try:
        user = identity.find_user_by_email(email)
    except MultipleResultsFound:
        # Users are (issuer, subject); two issuers may know the same address.
        raise click.ClickException(
            f"more than one user has the email {email!r}; nothing was changed"
        ) from None
    if user is None:
        raise click.ClickException(
            f"no user with email {email!r} (users appear after their first sign-in)"
        )
    return user


def _permission_or_exit(permission: str) -> str:
    from .services.users import identity

    try:
        return identity.check_permission_name(permission)
    except identity.UnknownPermission as exc:
        raise click.ClickException(str(exc)) from None


@portal_cli.command("grant")
@click.argument("email")
@click.argument("permission")
def grant_command(email: str, permission: str) -> None:
    """Give PERMISSION to the user with EMAIL, on top of what their groups give."""
    from .services import operations

    permission = _permission_or_exit(permission)
    user = _user_or_exit(email)
    if not operations.grant_permission(_cli_actor(), user, permission):
        click.echo(f"{user.email} already has a local grant of {permission}")
        return
    db.session.commit()
    click.echo(f"granted {permission} to {user.email}")


@portal_cli.command("revoke-grant")
@click.argument("email")
@click.argument("permission")
def revoke_grant_command(email: str, permission: str) -> None:
    """Take a local grant of PERMISSION away from the user with EMAIL."""
    from .services import operations

    permission = _permission_or_exit(permission)
    user = _user_or_exit(email)
    if not operations.revoke_permission(_cli_actor(), user, permission):
        click.echo(f"{user.email} has no local grant of {permission}")
        return
    db.session.commit()
    click.echo(f"revoked the local grant of {permission} from {user.email}")


@portal_cli.command("grants")
@click.argument("email", required=False)
def grants_command(email: str | None) -> None:
    """List local grants (all, or one user's, with the permissions their groups give)."""
    from sqlalchemy import select

    from .models import Grant, User
    from .services.users import groups, identity

    if email:
        user = _user_or_exit(email)
        rows = sorted(user.grants, key=lambda g: g.permission)
        for g in rows:
            granted = f"{g.granted_at:%Y-%m-%d}\t{g.granted_by or ''}"
            click.echo(f"{user.email}\t{g.permission}\t{granted}")
        if not rows:
            click.echo(f"{user.email} has no local grants")
        scim = groups.scim_groups_of(user.id)  # None unless SCIM decides their groups
        effective = identity.permissions_for(
            user,
            groups.effective_groups(user.groups, scim),
            current_app.config["GROUP_PERMISSIONS"],
        )
        source = "SCIM groups" if scim is not None else "groups at last sign-in"
        click.echo(f"effective ({source} + grants): " + (", ".join(sorted(effective)) or "none"))
        return
    every = db.session.execute(
        select(User.email, Grant.permission, Grant.granted_at, Grant.granted_by)
        .join(Grant, Grant.user_id == User.id)
        .order_by(User.email, Grant.permission)
    ).all()
    for user_email, permission, granted_at, granted_by in every:
        click.echo(f"{user_email}\t{permission}\t{granted_at:%Y-%m-%d}\t{granted_by or ''}")
    if not every:
        click.echo("no local grants")


@portal_cli.command("prune")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Sessions per transaction.",
)
def prune_command(batch_size: int) -> None:
    """End sessions that ran out, and delete those ended over PORTAL_HISTORY_DAYS ago.

    Safe from cron on any instance while the portal serves: one short transaction per batch.
    The audit log, devices and users are kept.
    """
    try:
        _prune(batch_size)
    except OperationalError as exc:  # a lock held past PORTAL_DATABASE_LOCK_TIMEOUT, an outage
        raise click.ClickException(
            "the database is busy or unavailable; this batch changed nothing, the ones before "
            f"it are kept: run the prune again ({exc.orig})"
        ) from None


def _prune(batch_size: int) -> None:
    from .models import utcnow
    from .services.sessions import retention
    from .services.sessions.policy import SessionPolicy

    config = current_app.config
    now = utcnow()
    policy = SessionPolicy.from_config(config)
    cutoff = retention.history_cutoff(now, config["HISTORY_DAYS"])

    expired = 0
    while True:
        found = _transaction(lambda: retention.expire_sessions(policy, now=now, limit=batch_size))
        expired += found
        if found < batch_size:
            break
    click.echo(f"ended {expired} expired sessions")

    deleted = 0
    while True:
        found = _transaction(
            lambda: retention.delete_ended_sessions(before=cutoff, limit=batch_size)
        )
        deleted += found
        if found < batch_size:
            break
    click.echo(
        f"deleted {deleted} sessions that ended before {cutoff:%Y-%m-%d %H:%M} UTC "
        f"(PORTAL_HISTORY_DAYS={config['HISTORY_DAYS']}); the audit log and devices are kept"
    )


users_cli = AppGroup("users", help="Deactivate and reactivate user accounts.")


@users_cli.command("deactivate")
@click.argument("email")
def deactivate_command(email: str) -> None:
    """Deactivate the user with EMAIL: every session and token ends now, sign-in is refused."""
    from .services import operations

    user = _user_or_exit(email)
    ended = operations.deactivate_user(_cli_actor(), user)
    if ended is None:
        click.echo(f"{user.email} is already deactivated")
        return
    db.session.commit()
    click.echo(f"deactivated {user.email}: {ended} session{'' if ended == 1 else 's'} ended")


@users_cli.command("reactivate")
@click.argument("email")
def reactivate_command(email: str) -> None:
    """Reactivate the user with EMAIL: they may sign in again (nothing that ended comes back)."""
    from .services import operations

    user = _user_or_exit(email)
    if not operations.reactivate_user(_cli_actor(), user):
        click.echo(f"{user.email} is not deactivated")
        return
    db.session.commit()
    click.echo(f"reactivated {user.email}")


def _transaction(step):
    """Run one step (a prune batch, a step of the worker's work) in a transaction of its own:
    committed when it returns, rolled back when it raises. The one place a command rolls
    back."""
    try:
        result = step()
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return result


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Do what is due now, then exit.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Items of each kind claimed at a time.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    help="Seconds to wait when nothing was due.",
)
def worker_command(once: bool, batch_size: int, interval: float) -> None:
    """Send due mail (sign-in alerts), push due events to the IdP (session-revoked), poll
    transmitters for security events and run due jobs, until stopped (Ctrl-C, SIGTERM).

    Several may run at once, on one machine or many: each item is claimed by one of them.
    """
    import logging
    import signal
    import time

    from . import worker

    log = logging.getLogger("portal.worker")
    if not current_app.config["ALERTS_ENABLED"]:
        log.warning("PORTAL_MAIL_SERVER is not set: no mail is sent")
    if once:
        total = 0
        while done := worker.run_due(_transaction, batch_size):
            total += done
        click.echo(f"worker: {total} items handled")
        return
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    click.echo("worker: running (Ctrl-C stops it)")
    try:
        while not stopping:
            try:
                done = worker.run_due(_transaction, batch_size)
            except OperationalError as exc:  # the database is away: wait, then try again
                # (its step was rolled back; the session is removed below)
                log.warning("worker: database unavailable, retrying: %s", exc.orig)
                done = 0
            finally:
                db.session.remove()
            if not done:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass
    click.echo("worker: stopped")


@portal_cli.command("run-jobs")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Sessions per transaction.",
)
def run_jobs_command(batch_size: int) -> None:
    """Work through the queued bulk jobs (sign-outs) until none is left, then stop.

    The background worker does the same continuously; this is for a deployment without it,
    or to drain the queue by hand. One short transaction per batch; safe beside a worker.
    """
    from . import worker

    batches = 0
    while worker.bulk_sign_outs(_transaction, 0, batch_size=batch_size):
        batches += 1
    click.echo(f"ran {batches} batches; no bulk job has work left")


ssf_cli = AppGroup("ssf", help="The portal as a Shared Signals receiver.")


@ssf_cli.command("subscribe")
@click.option("--issuer", default=None, help="The transmitter (default: the first with a token).")
@click.option(
    "--endpoint-url",
    default=None,
    help="Where it pushes (default: <PORTAL_SSF_ISSUER, else the audience>/ssf/events).",
)
@click.option(
    "--poll",
    is_flag=True,
    help="A poll stream (RFC 8936) instead, for the worker to poll (PORTAL_SSF_RECEIVE_POLL_URL).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Seconds to wait for the verification event.",
)
def ssf_subscribe_command(
    issuer: str | None, endpoint_url: str | None, poll: bool, timeout: float
) -> None:
    """Create the portal's stream at a transmitter (SSF 1.0), and wait for its verification."""
    from .ssf.subscribe import subscribe

    subscribe(issuer, endpoint_url, poll, timeout, _transaction)


def init_app(app) -> None:
    app.cli.add_command(portal_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(ssf_cli)
