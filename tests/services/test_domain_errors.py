"""Domain errors: each kind answered in each family's shape, and the request's one transaction.

An operation raises ``NotFound``, ``Forbidden``, ``Conflict`` or ``Invalid``; the pages answer
a friendly page (or flash and go back, for a form that says where back is), each JSON family
its documented error body, SCIM its error shape. The first tests raise each kind from routes
made for them on a real app; the rest go through the portal's own routes.
"""

from __future__ import annotations

import uuid

import pytest
from flask import Blueprint, abort, request
from flask.testing import FlaskClient
from scim2_models import (
    ForbiddenException,
    InvalidValueException,
    NotFoundException,
    UniquenessException,
)
from sqlalchemy import select
from support.account_helpers import devices_of, page_csrf, sessions_of, user_id

from portal.api.blueprints import ApiBlueprint
from portal.api.declarations import undocumented
from portal.api.errors import ENVELOPE, TOKEN_ROWS, says
from portal.errors import flash_back
from portal.extensions import csrf, db
from portal.models import Grant, User
from portal.scim import scim_exception
from portal.services import operations
from portal.services.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from portal.transaction import keep_refusal

KINDS = {
    "not-found": (NotFound("No such thing here"), 404),
    "forbidden": (Forbidden("Not for you"), 403),
    "conflict": (Conflict("Not now"), 409),
    "invalid": (Invalid("That value will not do", field="name"), 400),
}
TKT_CODES = {404: "not_found", 403: "forbidden", 409: "conflict", 400: "bad_request"}


def _raise(kind: str):
    raise KINDS[kind][0]


@pytest.fixture
def kinds_app(app):
    """The app with a page, a form and a route of each JSON family that raise a kind of
    domain error (or, for the transaction tests, write a grant and answer a status)."""
    pages = Blueprint("domain_error_pages", __name__, url_prefix="/kinds")

    @pages.get("/<kind>")
    def page(kind):
        _raise(kind)

    @pages.post("/form/<kind>")
    @flash_back(lambda: "/kinds-back")
    def form(kind):
        _raise(kind)

    @pages.post("/write/<int:status>")
    def write(status):
        user = db.session.execute(select(User).where(User.subject == "alice")).scalar_one()
        db.session.add(Grant(user_id=user.id, permission="viewAuditLog", granted_by="test"))
        db.session.flush()
        if request.args.get("keep"):
            keep_refusal()
        if request.args.get("raise"):
            abort(status)
        return "", status

    envelope = ApiBlueprint("domain_error_envelope", __name__, ENVELOPE)
    token_rows = ApiBlueprint("domain_error_token_rows", __name__, TOKEN_ROWS)

    throwaway = undocumented("a test's throwaway route, not part of the API")

    @envelope.get("/api/kinds/envelope/<kind>")
    @throwaway
    def envelope_route(kind):
        _raise(kind)

    @token_rows.get("/api/kinds/rows/<kind>")
    @throwaway
    def rows_route(kind):
        _raise(kind)

    @token_rows.get("/api/kinds/rows-said/<kind>")
    @says(NotFound, "Device session not found")
    @throwaway
    def rows_said(kind):
        _raise(kind)

    csrf.exempt(pages)  # the pages' CSRF check is not what these tests are about
    for bp in (pages, envelope, token_rows):
        app.register_blueprint(bp)
    return app


@pytest.fixture
def plain(kinds_app):
    """A plain test client: these routes are the test's, not documented ones."""
    return FlaskClient(kinds_app, use_cookies=True)


@pytest.mark.parametrize("kind", KINDS)
def test_a_page_answers_each_kind_with_its_status_page(plain, kind):
    error, status = KINDS[kind]
    response = plain.get(f"/kinds/{kind}")
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert b"Something went wrong" not in response.data  # a page of its own, not the generic
    if status in (400, 409):  # these pages say what was wrong
        assert error.message.encode() in response.data


@pytest.mark.parametrize("kind", ["conflict", "invalid"])
def test_a_form_that_says_where_back_is_flashes_a_mendable_mistake_and_goes_back(plain, kind):
    response = plain.post(f"/kinds/form/{kind}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/kinds-back"
    with plain.session_transaction() as cookie:
        assert cookie["_flashes"] == [("error", KINDS[kind][0].message)]


@pytest.mark.parametrize("kind", ["not-found", "forbidden"])
def test_a_form_still_answers_not_found_and_forbidden_with_their_pages(plain, kind):
    assert plain.post(f"/kinds/form/{kind}").status_code == KINDS[kind][1]


@pytest.mark.parametrize("kind", KINDS)
def test_the_envelope_family_answers_each_kind_in_its_documented_body(plain, kind):
    error, status = KINDS[kind]
    response = plain.get(f"/api/kinds/envelope/{kind}")
    assert response.status_code == status
    assert response.get_json() == {"success": False, "error": error.message}


@pytest.mark.parametrize("kind", KINDS)
def test_the_token_row_family_answers_each_kind_in_its_documented_body(plain, kind):
    error, status = KINDS[kind]
    response = plain.get(f"/api/kinds/rows/{kind}")
    assert response.status_code == status
    assert response.get_json() == {"error": {"code": TKT_CODES[status], "message": error.message}}


def test_a_route_says_a_kind_in_its_own_documented_words(plain):
    said = plain.get("/api/kinds/rows-said/not-found").get_json()
    assert said == {"error": {"code": "not_found", "message": "Device session not found"}}
    # Only the kind it declared: the others keep the operation's words.
    other = plain.get("/api/kinds/rows-said/conflict").get_json()
    assert other["error"]["message"] == "Not now"


def test_an_error_with_a_code_keeps_it_in_the_token_row_body(kinds_app, auth):
    response = kinds_app.test_client().get("/sign-ins?country=XYZ", headers=auth.bearer("admin"))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_filter"


@pytest.mark.parametrize(
    ("error", "scim"),
    [
        (NotFound("gone"), NotFoundException),
        (Forbidden("no"), ForbiddenException),
        (Conflict("taken"), UniquenessException),
        (Invalid("bad"), InvalidValueException),
    ],
)
def test_scim_says_each_kind_as_its_scim_error(error: DomainError, scim):
    said = scim_exception(error)
    assert type(said) is scim
    assert said.detail == error.message
    assert said.to_error().status == error.status


# -- the one transaction: a request that answers an error keeps nothing ------------------------


def _grants(app) -> int:
    with app.app_context():
        return len(db.session.execute(select(Grant).where(Grant.granted_by == "test")).all())


@pytest.fixture
def alice(kinds_app, auth):
    auth.new_client("alice")  # her user row exists
    return kinds_app


@pytest.mark.parametrize(
    ("query", "status", "kept"),
    [
        ("", 200, 1),  # a success is committed
        ("", 302, 1),  # a redirect too (post/redirect/get)
        ("", 400, 0),  # an answer that refuses is rolled back: no view rolls back itself
        ("?raise=1", 400, 0),  # a raised error too
        ("?keep=1", 403, 1),  # unless the request keeps its record of the refusal
    ],
)
def test_the_request_commits_a_success_and_rolls_back_an_error(alice, query, status, kept):
    response = FlaskClient(alice).post(f"/kinds/write/{status}{query}")
    assert response.status_code == status
    assert _grants(alice) == kept


# -- the portal's own operations ----------------------------------------------------------------


def test_another_users_device_is_not_found_on_a_page_and_in_both_families(app, auth):
    auth.new_client("bob")
    bobs = devices_of(app, "bob")
    alice = auth.new_client("alice")
    token = page_csrf(alice)
    page = alice.post(f"/account/devices/{bobs[0].id}/sign-out", data={"csrf_token": token})
    assert page.status_code == 404
    api = app.test_client()
    envelope = api.delete(f"/devices/{bobs[0].id}", headers=auth.bearer("alice"))
    assert envelope.status_code == 404
    assert envelope.get_json() == {"success": False, "error": "Device not found"}
    bobs_session = sessions_of(app, "bob")[0].id
    rows = api.delete(f"/auth/devices/{bobs_session}", headers=auth.bearer("alice"))
    assert rows.status_code == 404
    assert rows.get_json() == {"error": {"code": "not_found", "message": "Device not found"}}
    assert all(s.ended_at is None for s in sessions_of(app, "bob"))


def test_another_users_device_is_forbidden_to_an_actor_without_the_permission(app, auth):
    auth.new_client("bob")
    auth.new_client("alice")
    bob, alice = user_id(app, "bob"), user_id(app, "alice")
    alices = devices_of(app, "alice")[0].id
    with app.app_context():
        actor = operations.Actor(db.session.get(User, bob), via="page")
        with pytest.raises(Forbidden):
            operations.end_device_sessions(actor, alices, alice)
        db.session.rollback()
        # Not even its existence is told apart: an unknown id of that account is the same.
        with pytest.raises(Forbidden):
            operations.end_device_sessions(actor, uuid.uuid4(), alice)
        db.session.rollback()
        # The CLI acts for the operator.
        cli = operations.Actor(None, via="cli", label="cli:test")
        device, ended, _ = operations.end_device_sessions(cli, alices, alice)
        assert device.id == alices and ended == 1
        db.session.rollback()
