"""docs/configuration.md, generated from the settings object (``portal.settings.Settings``).

    python -m scripts.config_doc > docs/configuration.md     (or: make config-doc)

The table is the fields' names, types, defaults and descriptions; the prose around it is fixed
here. ``tests/platform/test_config_doc.py`` fails while the committed file differs from this output.
"""

from __future__ import annotations

import json

from pydantic.fields import FieldInfo

from portal.settings import Settings
from portal.settings.parsers import Kind

PREFIX = Settings.model_config["env_prefix"]

INTRO = """\
# Configuration

<!-- Generated from portal/settings (the Settings fields) by `make config-doc`; do not edit by
hand: tests/platform/test_config_doc.py fails while this file differs from what the settings
say. -->

The portal reads environment variables with the `PORTAL_` prefix, once, at start-up. Each one is
a field of the typed settings object `portal.settings.Settings` (pydantic-settings) and lands in
`app.config` under its name without the prefix. Values are parsed as JSON when they can be (as
Flask's `from_prefixed_env` does), so numbers, `true`/`false` and JSON objects need no quoting;
a boolean also takes `1`/`0`, `yes`/`no`, `on`/`off`. Flask's own settings and its extensions'
work through the same prefix too (e.g. `PORTAL_PREFERRED_URL_SCHEME=https`, or
`PORTAL_SQLALCHEMY_ENGINE_OPTIONS__pool_size=10` for one key inside a dict setting).

**A missing or malformed value stops start-up** with a message naming the variable, e.g.
`PORTAL_SESSION_IDLE_TIMEOUT must be a whole number >= 1, got 'soon'`.

## Variables

| variable | type | default | meaning |
|---|---|---|---|
"""

OUTRO = """
## Permissions (`PORTAL_GROUP_PERMISSIONS`)

A JSON object from a group name, as the IdP sends it in the `PORTAL_OIDC_GROUPS_CLAIM` claim (or
as a SCIM group's `displayName`, for users the IdP provisions once it pushes groups: see
[SCIM groups](operating.md#groups-and-permissions)), to the permissions its members hold:

```sh
export PORTAL_GROUP_PERMISSIONS='{
  "portal-admins": ["viewUserDevices", "manageUserDevices", "viewAuditLog"],
  "helpdesk": ["viewUserDevices"]
}'
```

`viewUserDevices` opens the admin pages and API routes that read any user's devices and
sign-ins, `manageUserDevices` those that sign them out, deactivate users and run bulk
sign-outs, and `viewAuditLog` the audit log (and `GET /audit/events`). An unknown permission
name stops start-up. Permissions can also be granted to one account, whatever its groups:

```sh
flask --app wsgi portal grant EMAIL PERMISSION
flask --app wsgi portal revoke-grant EMAIL PERMISSION
flask --app wsgi portal grants [EMAIL]
```

## Development

`make run` sets `PORTAL_ENV=development`, the embedded development IdP
(`PORTAL_OIDC_ISSUER=http://127.0.0.1:9400`, client `device-portal-dev`), two groups' permissions
and the test GeoIP database (the Makefile's `DEV_ENV`). Outside production the portal also
starts without `PORTAL_SECRET_KEY` (a fixed development key), `PORTAL_OIDC_ISSUER`, or
`PORTAL_SSF_SIGNING_KEY_FILE` (a 2048-bit RSA key generated once into the instance folder).

## Production

```sh
export PORTAL_SECRET_KEY=... PORTAL_DATABASE_URL=postgresql://... PORTAL_REDIS_URL=redis://... \\
       PORTAL_OIDC_ISSUER=... PORTAL_OIDC_CLIENT_ID=... PORTAL_OIDC_CLIENT_SECRET=... \\
       PORTAL_API_AUDIENCE=... PORTAL_TRUSTED_PROXIES=1
```

- `PORTAL_TRUSTED_PROXIES` is how many proxies stand in front of gunicorn (1 for one nginx, 2 for
  a load balancer and nginx): too high and clients choose their own address (rate limits, audit
  log), too low and every client looks like the proxy.
- **Every instance has the same `PORTAL_SECRET_KEY`**: a sign-in may start on one instance and
  finish on another (its state travels in the signed session cookie).
- **Redis** (`PORTAL_REDIS_URL`) counts the rate limits for every instance and worker together
  and shares the verified-token cache; without it, limits are per worker.
- **Outages**: locks wait `PORTAL_DATABASE_LOCK_TIMEOUT` (1 s), statements run at most
  `PORTAL_DATABASE_STATEMENT_TIMEOUT` (10 s), and connecting gives up after 2 s; past them a
  request answers 503.
- **Shared Signals**: with `PORTAL_SSF_RECEIVER_URL` set, `PORTAL_SSF_ISSUER` is required, and in
  production `PORTAL_SSF_SIGNING_KEY_FILE` too; the key is read at start-up, so a missing,
  public-only or unsuitable key (RSA under 2048 bits among them) stops the portal rather than
  the first event. To rotate it, move the old key's file to `PORTAL_SSF_PREVIOUS_KEY_FILE` and
  put the new one in its place (`docs/ssf.md`, "Delivery").
  `PORTAL_SSF_STREAMS=true` lets receivers manage their own streams with the IdP's
  client-credentials tokens (needs `PORTAL_SSF_ISSUER` and `PORTAL_API_AUDIENCE`, and in
  production `PORTAL_SSF_SIGNING_KEY_FILE`; see `docs/ssf.md`).
- **Receiving Shared Signals**: `PORTAL_SSF_RECEIVE_TOKEN` (push to `/ssf/events`) or
  `PORTAL_SSF_RECEIVE_POLL_URL` (the worker polls) turns receiving on, from the OIDC issuer
  unless `PORTAL_SSF_RECEIVE_ISSUER` names another transmitter; the SETs' audience is
  `PORTAL_SSF_RECEIVE_AUDIENCE`, else `PORTAL_SSF_ISSUER`, one of which is then required. More
  transmitters go in `PORTAL_SSF_RECEIVE_TRANSMITTERS`, each with a push token of its own
  ([ssf.md](ssf.md#receiving-events)).
- **SCIM**: `PORTAL_SCIM_TOKEN` turns on `/scim/v2`; give the same value to the IdP's SCIM
  client as its bearer token.
- **Retention**: `flask --app wsgi portal prune [--batch-size 1000]` from cron deletes sessions
  that ended more than `PORTAL_HISTORY_DAYS` ago.
- **Mail**: `flask --app wsgi worker [--once] [--batch-size 20] [--interval 2]` sends the sign-in
  alerts through `PORTAL_MAIL_SERVER` (and pushes the Shared Signals events, and runs bulk jobs).
- **Metrics**: none are served by default. `PORTAL_METRICS_TOKEN` serves `/metrics` to a scrape
  bringing it; `PORTAL_METRICS_BIND` is where `flask --app wsgi metrics-serve` serves them; under
  gunicorn with several workers set `PORTAL_METRICS_DIR` (on tmpfs) so every process's counts add
  up ([operating.md](operating.md#metrics)).
"""


def _kind(field: FieldInfo) -> str:
    """The field's type in words (every field's type names one: ``parsers.Kind``)."""
    return next(meta.text for meta in field.metadata if isinstance(meta, Kind))


def _default(field: FieldInfo) -> str:
    shown = (field.json_schema_extra or {}).get("shown_default")
    if shown:
        return str(shown)
    value = field.default
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, dict):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def rows() -> list[str]:
    return [
        f"| `{PREFIX}{name}` | {_kind(field)} | {_default(field)} | {field.description} |"
        for name, field in Settings.model_fields.items()
    ]


def render() -> str:
    """The whole of docs/configuration.md."""
    return INTRO + "\n".join(rows()) + "\n" + OUTRO


if __name__ == "__main__":
    print(render(), end="")
