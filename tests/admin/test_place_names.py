"""A place has one name on every page: the users list (which keeps only a country code for a
user's last place) names a country the way the session tables do ("Bhutan", never "BT")."""

from __future__ import annotations

from datetime import timedelta

from support.admin_helpers import BHUTAN, make_user, sign_in_at

from portal.extensions import db
from portal.models import utcnow
from portal.models.types import place_name


def test_a_country_without_a_city_is_named_alike_in_the_users_list_and_the_sessions(app, auth):
    with app.app_context():
        user = make_user("monk", email="monk@example.test", name="Pema Monk")
        sign_in_at(app, user, utcnow() - timedelta(hours=1), BHUTAN)
        db.session.commit()
        user_id = user.id
    viewer = auth.new_client("viewer")
    listed = viewer.get("/admin/users?q=monk").get_data(as_text=True)
    row = listed.split(f'data-user-id="{user_id}"', 1)[1].split("</tr>", 1)[0]
    assert "Bhutan" in row and ">BT<" not in row
    page = viewer.get(f"/admin/users/{user_id}").get_data(as_text=True)
    assert '<td data-label="Location">Bhutan</td>' in page


def test_place_names():
    assert place_name("London", "GB", "United Kingdom") == "London, GB"
    assert place_name(None, "BT") == "Bhutan"
    assert place_name(None, "BT", "Bhutan") == "Bhutan"
    assert place_name(None, None) is None
