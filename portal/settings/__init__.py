"""Every ``PORTAL_*`` variable as one field of a typed settings object (pydantic-settings).

A field is named as the variable without its prefix (``SESSION_LIFETIME`` is read from
``PORTAL_SESSION_LIFETIME``) and has its type, its default and a one-line description;
``docs/configuration.md`` is generated from them (``python -m scripts.config_doc``). Each value
is parsed by its type (``parsers``); ``Settings`` then checks the values that go together.
``portal.config`` turns the result into Flask's settings and reports a refusal.
"""

from __future__ import annotations

from pydantic import model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from . import ssf
from .parsers import (
    ALERT_MODES,
    ENVIRONMENTS,
    PERMISSIONS,
    AlertMode,
    Bind,
    Count,
    DatabaseURL,
    Environment,
    ExistingFile,
    Flag,
    FlaskEnvironment,
    GroupPermissions,
    HttpURL,
    Issuer,
    LogFormat,
    LogLevel,
    MailAddress,
    MaybeFlag,
    MaybePositive,
    Name,
    Origin,
    PollWait,
    Positive,
    RateLimit,
    ReceiveToken,
    RedisURL,
    SameSite,
    ScimToken,
    Scopes,
    Seconds,
    Stripped,
    Text,
    Transmitters,
    database_url,
    setting,
)

__all__ = ["ALERT_MODES", "ENVIRONMENTS", "PERMISSIONS", "Settings", "database_url"]

DEVELOPMENT_SECRET_KEY = "development-only-secret-key"


class Settings(BaseSettings):
    """The portal's settings, from ``PORTAL_*`` variables (values given to it win)."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_", case_sensitive=True, extra="ignore")

    # -- the instance
    ENV: Environment = setting("production", "`production`, `development` or `testing`")
    SECRET_KEY: Text = setting(
        None,
        "signs the session cookie and the alert mails' links; required in production (a long "
        "random string), the same on every instance",
        shown="— (a fixed development key outside production)",
    )
    DATABASE_URL: DatabaseURL = setting(
        None,
        "`postgresql://...` in production (`postgres://` and `postgresql://` use psycopg 3); "
        "`sqlite:///...` for one development process",
        shown="SQLite in `instance/portal.db`",
    )
    DATABASE_LOCK_TIMEOUT: Seconds = setting(
        1.0,
        "seconds a statement waits for a lock (SQLite busy timeout, PostgreSQL `lock_timeout`) "
        "before the request answers 503",
    )
    DATABASE_STATEMENT_TIMEOUT: Seconds = setting(
        10, "seconds any PostgreSQL statement may run (`statement_timeout`)"
    )
    LOG_FORMAT: LogFormat = setting(
        "text",
        "`json`: one JSON object a line (time, level, logger, message, request id, route, "
        "user id, client; status and duration on the access line; see operating.md, Logs); `text`: "
        "a line a person reads",
    )
    LOG_LEVEL: LogLevel = setting(
        "INFO", "`DEBUG`, `INFO` (one access line a request), `WARNING` or `ERROR`"
    )
    # -- signing in (OpenID Connect) and permissions
    OIDC_ISSUER: Issuer = setting(
        None,
        "the IdP; required in production; discovery at `<issuer>/.well-known/openid-configuration`",
    )
    OIDC_CLIENT_ID: Text = setting(
        None,
        "the portal's client at the IdP (redirect URI `<portal origin>/auth/callback`); required "
        "with an issuer",
    )
    OIDC_CLIENT_SECRET: Text = setting(None, "that client's secret")
    OIDC_SCOPES: Scopes = setting("openid email profile", "scopes asked for; must include openid")
    OIDC_MAX_AGE: Positive = setting(
        24 * 3600,
        "seconds; sent as `max_age` on every authorization request, so the ID token carries "
        "`auth_time`",
    )
    OIDC_TIMEOUT: Positive = setting(10, "seconds the portal waits on the IdP")
    BACKCHANNEL_LOGOUT_MAX_AGE: Positive = setting(
        300, "seconds a back-channel logout token may be old (by `iat`)"
    )
    OIDC_GROUPS_CLAIM: Name = setting(
        "groups", "claim holding groups or roles (dotted paths like `realm_access.roles` work)"
    )
    GROUP_PERMISSIONS: GroupPermissions = setting(
        {},
        "JSON: group → list of `viewUserDevices`, `manageUserDevices`, `viewAuditLog` (see below)",
    )
    API_AUDIENCE: Text = setting(
        None, "the `aud` API access tokens must carry; without it bearer tokens are refused"
    )
    GEOIP_DATABASE: ExistingFile = setting(None, "a MaxMind City `.mmdb` file for country and city")
    TRUSTED_PROXIES: Count = setting(
        0, "how many proxies' `X-Forwarded-*` headers to trust (see below)"
    )
    # -- sessions, devices and cookies
    SESSION_LIFETIME: Positive = setting(
        8 * 3600,
        "seconds a session lasts; heartbeats slide it, in steps of 5% of it (at least a minute)",
    )
    SESSION_IDLE_TIMEOUT: Positive = setting(
        2 * 3600, "seconds without activity before a browser session ends"
    )
    SESSION_ABSOLUTE_LIFETIME: Positive = setting(
        24 * 3600,
        "seconds: the cap no heartbeat can pass (raised to `PORTAL_SESSION_LIFETIME` if lower)",
    )
    DEVICE_TRUST_DAYS: Positive = setting(30, "days a device's trust (High, Medium or Low) lasts")
    DEVICE_COOKIE_DAYS: Positive = setting(400, "days the browser keeps the device cookie")
    SESSION_COOKIE_SECURE: MaybeFlag = setting(
        None,
        "cookies are then `Secure` and `__Host-` prefixed (and answers carry HSTS)",
        shown="`true` in production",
    )
    SESSION_COOKIE_HTTPONLY: Flag = setting(True, "the session cookie is `HttpOnly`")
    SESSION_COOKIE_SAMESITE: SameSite = setting(
        "Lax", "the session cookie's `SameSite`: `Lax`, `Strict` or `None`"
    )
    SESSION_COOKIE_NAME: Text = setting(
        None,
        "the session cookie's name",
        shown="`__Host-portal_session` when secure, else `portal_session`",
    )
    DEVICE_COOKIE_NAME: Text = setting(
        None,
        "the device cookie's name",
        shown="`__Host-portal_device` when secure, else `portal_device`",
    )
    WTF_CSRF_TIME_LIMIT: MaybePositive = setting(
        None, "seconds a form's CSRF token is good for; unset: as long as the session"
    )
    # -- requests
    PAGE_SIZE: Positive = setting(50, "rows on a page of the admin lists")
    MAX_BODY_BYTES: Positive = setting(
        64 * 1024,
        "largest request body in bytes; a bigger one (declared or chunked) answers 413",
    )
    RATELIMIT_SIGN_IN: RateLimit = setting(
        "30 per minute", "sign-in, callback and sign-out requests per client address"
    )
    RATELIMIT_API: RateLimit = setting(
        "300 per minute", "JSON requests per client address (each route family counted apart)"
    )
    REDIS_URL: RedisURL = setting(
        None,
        "`redis://host:6379/0` (or `rediss://`, `unix://`): rate limits and the token cache "
        "shared by every instance and worker",
    )
    RATELIMIT_STORAGE_URI: Stripped = setting(
        None,
        "Flask-Limiter storage; set it only to keep the limits somewhere else than "
        "`PORTAL_REDIS_URL` (memory counts per process)",
        shown="`PORTAL_REDIS_URL`, else `memory://`",
    )
    # -- sign-in alerts by mail
    MAIL_SERVER: Stripped = setting(
        None,
        "SMTP server for sign-in alerts; without it alerts are off (in development the worker "
        "prints each mail)",
    )
    MAIL_PORT: Positive = setting(25, "its port")
    MAIL_USE_TLS: Flag = setting(False, "STARTTLS after connecting (usually port 587)")
    MAIL_USE_SSL: Flag = setting(
        False, "TLS from the start (usually port 465); not with `PORTAL_MAIL_USE_TLS`"
    )
    MAIL_USERNAME: Text = setting(None, "SMTP login, when the server wants one")
    MAIL_PASSWORD: Text = setting(None, "its password")
    MAIL_FROM: MailAddress = setting(
        "Device Portal <device-portal@localhost>",
        "the alerts' sender; its domain also names each `Message-ID`",
    )
    MAIL_TIMEOUT: Seconds = setting(
        10, "seconds the worker waits on the SMTP server before trying later"
    )
    ALERTS_DEFAULT: AlertMode = setting(
        "new_device",
        "which sign-ins are mailed to users who chose nothing: `new_device` (new devices and "
        "flagged sign-ins), `flagged` or `none`",
    )
    ALERTS_FORCE_FLAGGED: Flag = setting(
        False,
        "`true`: users cannot turn off mail about flagged sign-ins (new country, impossible "
        "travel)",
    )
    # -- telling the IdP about ended sessions (Shared Signals)
    SSF_RECEIVER_URL: HttpURL = setting(
        None,
        "the IdP's Shared Signals push endpoint (RFC 8935) for session-revoked events; unset: "
        "no IdP is told and nothing is queued",
    )
    SSF_ISSUER: Origin = setting(
        None,
        "required with a receiver: the portal's public origin (`https://devices.example.com`), "
        "the events' `iss`; `/.well-known/ssf-configuration` is under it",
    )
    SSF_AUDIENCE: Stripped = setting(
        None, "the events' `aud`, as the receiver expects it", shown="`PORTAL_OIDC_ISSUER`"
    )
    SSF_RECEIVER_TOKEN: Stripped = setting(
        None, "a bearer token the receiver wants (`Authorization: Bearer ...`)"
    )
    SSF_SIGNING_KEY_FILE: Text = setting(
        None,
        "the private key events are signed with: a JWK (JSON) or PEM, RSA of 2048 bits or more "
        "(RS256, as the CAEP Interoperability Profile requires; an EC P-256 key, ES256, is read "
        "too); required in production with a receiver; its public half is served at "
        "`/ssf/jwks.json`",
        shown="a 2048-bit RSA key generated into `instance/ssf-signing-key.json` outside "
        "production",
    )
    SSF_PREVIOUS_KEY_FILE: Text = setting(
        None,
        "during a key rotation, the key signing before (JWK or PEM; its public half is enough): "
        "`/ssf/jwks.json` keeps publishing it beside the new one, which alone signs; remove it "
        "once the events signed with it are delivered (`docs/ssf.md`)",
    )
    SSF_STREAMS: Flag = setting(
        False,
        "receivers manage their own Shared Signals streams (`/ssf/streams`, SSF 1.0 section 8) "
        "with the IdP's client-credentials tokens (scopes `ssf.manage`, `ssf.read`); needs "
        "`PORTAL_SSF_ISSUER` and `PORTAL_API_AUDIENCE`",
    )
    SSF_POLL_WAIT: PollWait = setting(
        10,
        "seconds a receiver's poll (RFC 8936) with `returnImmediately` false is held at most "
        "while no event is there; `0` answers every poll at once",
    )
    SSF_TIMEOUT: Seconds = setting(
        10, "seconds the worker waits on the receiver before trying later"
    )
    # -- receiving events from the IdP or another transmitter (Shared Signals)
    SSF_RECEIVE_TOKEN: ReceiveToken = setting(
        None,
        "the bearer a transmitter's push to `POST /ssf/events` must carry (32 characters or "
        "more); this or a poll URL turns receiving on",
    )
    SSF_RECEIVE_ISSUER: Issuer = setting(
        None, "the transmitter's issuer (the SETs' `iss`)", shown="`PORTAL_OIDC_ISSUER`"
    )
    SSF_RECEIVE_AUDIENCE: Stripped = setting(
        None,
        "the `aud` the SETs must carry",
        shown="`PORTAL_SSF_ISSUER` (the portal's public origin)",
    )
    SSF_RECEIVE_JWKS_URL: HttpURL = setting(
        None,
        "the transmitter's keys",
        shown="its SSF metadata's `jwks_uri` (the OIDC issuer's without SSF metadata)",
    )
    SSF_RECEIVE_POLL_URL: HttpURL = setting(
        None, "the transmitter's poll endpoint (RFC 8936): the worker polls it"
    )
    SSF_RECEIVE_CLIENT_ID: Text = setting(
        None,
        "an OAuth client (client credentials, scope `ssf.manage`) for polling and "
        "`flask ssf subscribe`",
    )
    SSF_RECEIVE_CLIENT_SECRET: Text = setting(None, "its secret")
    SSF_RECEIVE_TOKEN_URL: HttpURL = setting(
        None, "where that client gets tokens", shown="the OIDC issuer's `token_endpoint`"
    )
    SSF_RECEIVE_RESOURCE: Stripped = setting(
        None, "the `resource` its tokens are asked for (RFC 8707), when the IdP wants one"
    )
    SSF_RECEIVE_TRANSMITTERS: Transmitters = setting(
        [],
        "JSON list: more transmitters, each an object of `issuer`, `token`, `audience`, "
        "`jwks_url`, `poll_url`, `client_id`, `client_secret`, `token_url`, `resource` and "
        "`events` (the event types it may send; default all)",
    )
    SSF_RECEIVE_MAX_AGE: Positive = setting(
        7 * 24 * 3600,
        "seconds a received SET may be old (by `iat`); its `jti` is remembered that long",
    )
    # -- retention and provisioning
    HISTORY_DAYS: Positive = setting(
        180,
        "days an ended session stays in the login history; `flask --app wsgi portal prune` "
        "deletes older ones (the audit log is kept)",
    )
    SCIM_TOKEN: ScimToken = setting(
        None,
        "the bearer secret the IdP's SCIM client sends to `/scim/v2` (at least 32 characters, "
        "e.g. `openssl rand -hex 32`); unset: no SCIM service (404)",
    )

    # -- metrics (Prometheus)
    METRICS_TOKEN: ScimToken = setting(
        None,
        "the bearer secret a scrape of `/metrics` must send (at least 32 characters); unset: "
        "`/metrics` answers 404",
    )
    METRICS_BIND: Bind = setting(
        None,
        "`host:port` where `flask --app wsgi metrics-serve` serves the metrics (e.g. "
        "`127.0.0.1:9464`); needs `PORTAL_METRICS_DIR`",
    )
    METRICS_DIR: Text = setting(
        None,
        "a folder (on tmpfs) where every portal process of the machine writes its counts, "
        "added up by each scrape: required under gunicorn with several workers",
        shown="— (each process counts in memory)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Values given to ``Settings(...)`` first, then the environment as Flask reads it
        (no dotenv or secrets files)."""
        return init_settings, FlaskEnvironment(settings_cls)

    @model_validator(mode="after")
    def _together(self) -> Settings:
        """The values that depend on each other, and those worked out from others."""
        production = self.ENV == "production"
        if not self.SECRET_KEY:
            if production:
                raise ValueError(
                    "PORTAL_SECRET_KEY is required in production (a long random string); "
                    "set PORTAL_ENV=development for a local run"
                )
            self.SECRET_KEY = DEVELOPMENT_SECRET_KEY
        self.SESSION_ABSOLUTE_LIFETIME = max(self.SESSION_ABSOLUTE_LIFETIME, self.SESSION_LIFETIME)
        if self.SESSION_COOKIE_SECURE is None:
            self.SESSION_COOKIE_SECURE = production
        # A __Host- cookie is host-only, Secure and Path=/: the strongest scope a browser offers.
        prefix = "__Host-" if self.SESSION_COOKIE_SECURE else ""
        self.SESSION_COOKIE_NAME = self.SESSION_COOKIE_NAME or prefix + "portal_session"
        self.DEVICE_COOKIE_NAME = self.DEVICE_COOKIE_NAME or prefix + "portal_device"
        if self.OIDC_ISSUER and not self.OIDC_CLIENT_ID:
            raise ValueError("PORTAL_OIDC_CLIENT_ID is required when PORTAL_OIDC_ISSUER is set")
        if not self.OIDC_ISSUER and production:
            raise ValueError("PORTAL_OIDC_ISSUER is required in production")
        self.RATELIMIT_STORAGE_URI = self.RATELIMIT_STORAGE_URI or self.REDIS_URL or "memory://"
        if self.MAIL_USE_TLS and self.MAIL_USE_SSL:
            raise ValueError("PORTAL_MAIL_USE_TLS and PORTAL_MAIL_USE_SSL cannot both be true")
        if self.METRICS_BIND and not self.METRICS_DIR:
            raise ValueError(
                "PORTAL_METRICS_DIR is required with PORTAL_METRICS_BIND: the metrics server is "
                "a process of its own and reads the other processes' counts from that folder"
            )
        ssf.check(self, production)
        return self

    def transmitters(self) -> list[dict]:
        """Every transmitter the portal receives from (``ssf.transmitters``)."""
        return ssf.transmitters(self)
