"""The tokens page's expiry presets (7, 30, 90 days, or a date), the words a token's expiry is
said in ("Expires in 30 days" for a 30-day token, not the 29 a plain "how long" rounds down
to), and the secret's Copy button, which is there only with JavaScript: without it the
secret is plain text to select (issue 32, item 11)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from support.account_helpers import page_csrf

from portal.account.tokens import expires_in
from portal.extensions import db
from portal.models import PersonalToken, utcnow


def _make(browser, **fields):
    data = {
        "csrf_token": page_csrf(browser, "/account/tokens"),
        "name": fields.pop("name", "script"),
        "scopes": ["devices:read"],
        **fields,
    }
    return browser.post("/account/tokens", data=data)


def _lifetime(app, name: str) -> timedelta:
    with app.app_context():
        token = db.session.execute(
            select(PersonalToken).where(PersonalToken.name == name)
        ).scalar_one()
        return token.expires_at - token.created_at


@pytest.mark.parametrize("preset", ["7", "30", "90"])
def test_a_preset_makes_a_token_that_lives_that_many_days(app, auth, preset):
    browser = auth.new_client("alice")
    assert _make(browser, name=f"p{preset}", expires=preset).status_code == 303
    assert _lifetime(app, f"p{preset}") == timedelta(days=int(preset))


def test_a_date_makes_a_token_that_lives_until_that_day(app, auth):
    browser = auth.new_client("alice")
    day = (utcnow() + timedelta(days=45)).date().isoformat()
    assert _make(browser, name="dated", expires="date", expires_on=day).status_code == 303
    assert _lifetime(app, "dated") == timedelta(days=45)


def test_a_date_in_the_past_or_none_at_all_is_refused(app, auth):
    browser = auth.new_client("alice")
    past = (utcnow() - timedelta(days=2)).date().isoformat()
    assert _make(browser, name="past", expires="date", expires_on=past).status_code == 400
    assert _make(browser, name="nodate", expires="date").status_code == 400
    far = (utcnow() + timedelta(days=400)).date().isoformat()
    assert _make(browser, name="far", expires="date", expires_on=far).status_code == 400
    with app.app_context():
        assert db.session.execute(select(PersonalToken)).first() is None


def test_a_30_day_token_says_it_expires_in_30_days(app, auth):
    browser = auth.new_client("alice")
    page = browser.get("/account/tokens").get_data(as_text=True)
    assert 'id="expires-30" checked' in page  # the default preset
    _make(browser, name="monthly", expires="30")
    page = browser.get("/account/tokens").get_data(as_text=True)
    row = page.split('data-token-id="', 1)[1].split("</tr>", 1)[0]
    assert "Expires in 30 days" in row


def test_expiry_words_round_to_whole_days_and_hours():
    now = utcnow()
    assert expires_in(now + timedelta(days=30) - timedelta(seconds=5), now) == "Expires in 30 days"
    assert expires_in(now + timedelta(days=1, hours=2), now) == "Expires in 1 day"
    assert expires_in(now + timedelta(hours=5), now) == "Expires in 5 hours"
    assert expires_in(now - timedelta(seconds=1), now) == "Expired"


def test_the_copy_button_waits_for_javascript_and_the_secret_is_plain_text(app, auth):
    browser = auth.new_client("alice")
    _make(browser, name="copied")
    page = browser.get("/account/tokens").get_data(as_text=True)
    button = re.search(r'<button[^>]*id="copy-secret"[^>]*>', page).group(0)
    assert " hidden" in button and 'data-copy="token-secret"' in button
    assert re.search(r'<code id="token-secret">dpt_[A-Za-z0-9_-]+</code>', page)
    assert "js/copy.js" in page
