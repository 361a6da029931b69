"""``flask --app wsgi portal ...`` commands."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from .extensions import db

portal_cli = AppGroup("portal", help="Device Portal administration.")


@portal_cli.command("demo-data")
@click.option("--issuer", default=None, help="Issuer the demo users belong to.")
@click.option("--force", is_flag=True, help="Load even when users already exist.")
def demo_data(issuer: str | None, force: bool) -> None:
    """Load demo users, devices and sessions once (skipped when users exist)."""
    from .services import demo

    issuer = issuer or current_app.config.get("OIDC_ISSUER") or "http://127.0.0.1:9400"
    created = demo.load_demo_data(
        issuer,
        geoip_database=current_app.config.get("GEOIP_DATABASE"),
        force=force,
    )
    db.session.commit()
    click.echo(f"demo data: {created} users created" if created else "demo data: already loaded")


def init_app(app) -> None:
    app.cli.add_command(portal_cli)
