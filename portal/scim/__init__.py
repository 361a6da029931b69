"""The SCIM 2.0 service at ``/scim/v2`` (RFC 7643/7644): the identity provider (Okta, Microsoft
Entra) provisions, updates, deactivates and deletes portal users.

scim2-flask serves the protocol (routing, ``ServiceProviderConfig``, ``ResourceTypes``,
``Schemas``, PATCH application, paging, the error shape) upon scim2-server; scim2-models parses
and serialises. The portal supplies a storage (``PortalUsers``; ``groups.PortalGroups`` for
the groups) whose every change is one function of ``services.operations``, audited with the
actor "SCIM". The request still commits once, in ``Portal.dispatch_request``: a view that
raised (every SCIM error is raised) is rolled back before the error is answered.

Authentication is one bearer secret, ``PORTAL_SCIM_TOKEN``, compared in constant time; without
it configured the service does not exist (404).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any, cast

import email_validator
from flask import Response, current_app, request
from pydantic import ValidationError
from scim2_flask import ScimServer
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    Error,
    ETag,
    External,
    Filter,
    ForbiddenException,
    InvalidValueException,
    NotFoundException,
    Patch,
    Reference,
    Resource,
    ResourceType,
    SCIMException,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    UnauthorizedException,
    UniquenessException,
)
from scim2_models import Group as ScimGroup
from scim2_models import User as ScimUser
from scim2_server.routing import Route
from scim2_server.service import ScimService
from scim2_server.storage import ScimStorage, SearchPage
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from ..authz import access_rule
from ..availability import RETRY_AFTER_SECONDS, database_unavailable
from ..extensions import csrf
from ..services import operations
from ..services.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from ..services.users import provisioning
from ..transaction import rollback_after_error
from . import metering, resources
from .errors import scim_error_of
from .groups import ByResourceType, PortalGroups, WithGroups, entra_member_removals
from .resources import EnterpriseUser, PortalUser, fields_of, filter_condition, to_resource

log = logging.getLogger(__name__)

URL_PREFIX = "/scim/v2"
ACCESS_RULE = "scim_bearer_token"
# The most users one page lists (``filter.maxResults``); Okta and Entra ask for far fewer.
MAX_RESULTS = 200


def _config() -> ServiceProviderConfig:
    return ServiceProviderConfig(
        documentation_uri=Reference[External]("https://www.rfc-editor.org/rfc/rfc7644"),
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="Bearer token",
                description="The secret configured as PORTAL_SCIM_TOKEN, as a bearer token",
                spec_uri=Reference[External]("https://www.rfc-editor.org/rfc/rfc6750"),
                primary=True,
            )
        ],
    )


def _actor() -> operations.Actor:
    return operations.scim_actor(request.remote_addr)


def _user(resource: Resource[Any]) -> ScimUser:
    """A resource of the User resource type the server hands the storage (``ScimStorage``
    types it as any resource)."""
    if not isinstance(resource, ScimUser):
        raise NotFoundException(detail="No such resource type")
    return resource


class PortalUsers(ScimStorage):
    """Portal users as SCIM ``User`` resources: reads from ``services.users.provisioning``, every
    change through one operation of ``services.operations``."""

    def get(self, resource_type: ResourceType, resource_id: str, *, response_parameters=None):
        # A PUT, PATCH or DELETE reads the user first and writes it back whole: locked from
        # that read on, so two changes to one user apply one after the other, never lost.
        changing = request.method in ("PUT", "PATCH", "DELETE")
        user = provisioning.get_visible(resource_id, lock=changing)
        if user is None:
            raise NotFoundException(detail=f"No user {resource_id!r}")
        return to_resource(user)

    def search(self, resource_types, search_request, *, position: Any = None) -> SearchPage:
        condition = filter_condition(search_request.filter)
        start = max(search_request.start_index or 1, 1)
        count = search_request.count if search_request.count is not None else MAX_RESULTS
        total, users = provisioning.search(condition, offset=start - 1, limit=count)
        return SearchPage(total=total, resources=[to_resource(u) for u in users])

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> ScimUser:
        return to_resource(operations.scim_provision_user(_actor(), fields_of(_user(resource))))

    def update(
        self, resource_type: ResourceType, resource: Resource[Any], *, expected_version=None
    ):
        user = provisioning.get_visible(resource.id or "")
        if user is None:
            raise NotFoundException(detail=f"No user {resource.id!r}")
        operations.scim_update_user(_actor(), user, fields_of(_user(resource)))
        return to_resource(user)

    def delete(self, resource_type: ResourceType, resource_id: str, *, expected_version=None):
        user = provisioning.get_visible(resource_id)
        if user is None:
            raise NotFoundException(detail=f"No user {resource_id!r}")
        operations.scim_delete_user(_actor(), user)


# Each kind of domain error as the SCIM error that says it (RFC 7644 3.12): an invalid value is
# scimType "invalidValue", a conflict (a userName another user has) "uniqueness".
SCIM_EXCEPTIONS: dict[type[DomainError], type[SCIMException]] = {
    NotFound: NotFoundException,
    Forbidden: ForbiddenException,
    Conflict: UniquenessException,
    Invalid: InvalidValueException,
}


def scim_exception(error: DomainError) -> SCIMException:
    """The SCIM error of a domain error an operation raised, with its message as detail."""
    kind = next(
        (scim for kind, scim in SCIM_EXCEPTIONS.items() if isinstance(error, kind)),
        InvalidValueException,
    )
    return kind(detail=error.message)


def _scim_error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    """An answer in SCIM's error shape (RFC 7644 3.12), ``status`` as a string."""
    body = Error(status=status, detail=detail).model_dump()
    # Flask types ``JSONProvider.response`` as werkzeug's base Response; it is the app's
    # response class (``flask.Response``).
    response = cast(Response, current_app.json.response(body))
    response.status_code = status
    response.mimetype = "application/scim+json"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# Microsoft Entra sets the enterprise extension's manager with its id alone, as a string.
MANAGER_PATH = f"{resources.EXTENSION_SCHEMA}:manager".lower()


def _entra_operations(body: bytes) -> bytes:
    """A PATCH body with Entra's manager shape (``"value": "<id>"``) as the schema has it
    (``"value": {"value": "<id>"}``); any other body as it came."""
    try:
        patch = json.loads(body)
    except ValueError:
        return body
    operations = patch.get("Operations") if isinstance(patch, dict) else None
    changed = False
    for operation in operations if isinstance(operations, list) else []:
        if (
            isinstance(operation, dict)
            and str(operation.get("path", "")).lower() == MANAGER_PATH
            and isinstance(operation.get("value"), str)
        ):
            operation["value"] = {"value": operation["value"]}
            changed = True
    return json.dumps(patch).encode() if changed else body


# The schemas a request may name: the resources' own and the User's enterprise extension.
SERVED_SCHEMAS = frozenset(
    str(schema).lower()
    for schema in (ScimUser.__schema__, ScimGroup.__schema__, resources.EXTENSION_SCHEMA)
)


def _without_empty_schemas(body: bytes) -> bytes:
    """A body without the schemas it names but holds no attribute of: Entra names Microsoft's
    own Group schema (``.../ADSCIM/2.0/Group``) in every group it creates, with nothing in it.
    A schema the body does fill stays, and is refused as a schema the service does not serve."""
    try:
        resource = json.loads(body)
    except ValueError:
        return body
    if not isinstance(resource, dict) or not isinstance(resource.get("schemas"), list):
        return body
    keys = {str(key).lower() for key in resource}
    kept = [
        schema
        for schema in resource["schemas"]
        if not isinstance(schema, str) or schema.lower() in SERVED_SCHEMAS or schema.lower() in keys
    ]
    if len(kept) == len(resource["schemas"]) or not kept:
        return body
    return json.dumps({**resource, "schemas": kept}).encode()


class PortalScimService(ScimService):
    """scim2-server's service, except that a PATCH answers 200 with the resource (RFC 7644
    3.5.2 allows that or a 204, and Okta expects the user back), that what it cannot read is
    answered in words a person reads (``scim.errors``), and that a PATCH takes Entra's shapes
    (a manager by its id, a Group's removal of members: ``groups.entra_member_removals``)."""

    def read_body(self, model, body, content_type, scim_ctx):
        self.ensure_json(content_type)
        try:
            return model.model_validate_json(_without_empty_schemas(body), scim_ctx=scim_ctx)
        except ValidationError as exception:
            raise scim_error_of(exception) from None

    def read_search(self, resource_types, payload):
        try:
            return super().read_search(resource_types, payload)
        except SCIMException as exception:
            # A query parameter pydantic refuses (``count=abc``): said in the service's words.
            if isinstance(exception.__cause__, ValidationError):
                raise scim_error_of(exception.__cause__) from None
            raise

    def read_patch(self, resource_type, body, content_type):
        if resource_type.name == "Group":
            body = entra_member_removals(body)
        return super().read_patch(resource_type, _entra_operations(body), content_type)

    def apply_patch(self, current, patch_op, conditions):
        # The operations apply to a copy: one that fails leaves nothing half-applied (and
        # nothing is written unless all of them apply).
        try:
            return super().apply_patch(current, patch_op, conditions)
        except ValidationError as exception:
            raise scim_error_of(exception, type(current)) from None
        except InvalidValueException as exception:
            # A value the resource's model refuses, which scim2-models reports with pydantic's
            # own words: said again in the service's.
            if isinstance(exception.__cause__, ValidationError):
                raise scim_error_of(exception.__cause__, type(current)) from None
            raise

    def patch_response(self, base_url, resource, response_parameters):
        return self.resource_response(
            self.publish(base_url, resource),
            Context.RESOURCE_REPLACEMENT_RESPONSE,
            response_parameters,
        )


class PortalScimServer(ScimServer):
    """scim2-flask's server, guarded by the SCIM token, with the portal's access-rule marks
    and with every failure (an outage, a bug) answered in SCIM's error shape too."""

    def _make_view(self, route: Route) -> Any:
        return access_rule(ACCESS_RULE)(super()._make_view(route))

    @access_rule(ACCESS_RULE)
    def _fallback_view(self, path: str) -> Response:
        return super()._fallback_view(path)

    def get_subject(self) -> Any:
        return "SCIM"

    def _create_service(self, app) -> ScimService:
        return PortalScimService(self.provider, secret=app.secret_key)

    def create_blueprint(self):
        blueprint = super().create_blueprint()
        blueprint.before_request(_require_token)
        blueprint.register_error_handler(
            DomainError, lambda error: self._handle_scim_exception(scim_exception(error))
        )
        blueprint.register_error_handler(DBAPIError, _failure)
        blueprint.register_error_handler(PoolTimeout, _failure)
        blueprint.register_error_handler(Exception, _failure)
        blueprint.after_request(_scim_media_type)
        blueprint.after_request(metering.count)
        return blueprint


def _require_token() -> None:
    """404 while no SCIM token is configured; else 401 unless the request brings it."""
    expected = current_app.config.get("SCIM_TOKEN")
    if not expected:
        raise NotFoundException(detail="Not found")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Digests of equal length, compared in constant time: not even the length leaks.
    given_digest = hashlib.sha256(given.strip().encode("utf-8", "surrogatepass")).digest()
    expected_digest = hashlib.sha256(expected.encode()).digest()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given_digest, expected_digest):
        raise UnauthorizedException(detail="A valid bearer token is required")


def _failure(error: Exception) -> Response:
    rollback_after_error()
    if database_unavailable(error):
        log.warning("database unavailable in %s: %s", request.endpoint, error)
        return _scim_error(
            503,
            "The service is unavailable for a moment; try again",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    log.exception("unexpected error in %s", request.endpoint)
    return _scim_error(500, "Internal server error")


def _scim_media_type(response: Response) -> Response:
    """Every SCIM answer with a body is ``application/scim+json`` (RFC 7644 3.1); one without
    (204, 304) has no Content-Type."""
    if response.status_code in (204, 304):
        del response.headers["Content-Type"]
    elif response.mimetype == "application/json":
        response.mimetype = "application/scim+json"
    return response


# Company directories hold addresses under internal domains (``corp.local``) and test ones
# (``example.test``); the identity provider is the authority on its users' addresses, so
# scim2-models' email check (email-validator) must not refuse those two special-use names.
ACCEPTED_SPECIAL_USE_DOMAINS = ("local", "test")


def _accept_directory_domains() -> None:
    names = email_validator.SPECIAL_USE_DOMAIN_NAMES
    names[:] = [name for name in names if name not in ACCEPTED_SPECIAL_USE_DOMAINS]


def init_app(app) -> None:
    _accept_directory_domains()
    storage = ByResourceType({"User": WithGroups(PortalUsers()), "Group": PortalGroups()})
    server = PortalScimServer(
        storage,
        ScimProvider(
            models=[ScimUser, EnterpriseUser, ScimGroup],
            resource_types=[
                ResourceType.from_resource(PortalUser),
                ResourceType.from_resource(ScimGroup),
            ],
            config=_config(),
        ),
        url_prefix=URL_PREFIX,
    )
    server.init_app(app)
    csrf.exempt(app.blueprints[server.name])
