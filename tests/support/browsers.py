"""Alice signed in on a laptop and a phone, each a real HTTP browser (``HttpBrowser``) with its
own IdP session: the fixtures of the revocation tests (``tests/auth/test_revocation.py``) and
the bulk sign-out's (``tests/worker/test_bulk_sign_out.py``), which import them."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import pytest

from support.account_helpers import devices_of
from support.http_browser import HttpBrowser


def next_second() -> None:
    """Wait for the wall clock's next second: ``auth_time`` has whole-second resolution, so a
    revocation only outdates sign-ins made in an earlier second."""
    time.sleep(1.02 - time.time() % 1)


@pytest.fixture
def browsers(live_server, idp):
    return lambda: HttpBrowser(live_server.url, idp)


@dataclass
class Alice:
    """Alice signed in on a laptop, then on a phone, each browser with its own IdP session."""

    laptop: HttpBrowser
    phone: HttpBrowser
    laptop_device: uuid.UUID
    phone_device: uuid.UUID


@pytest.fixture
def alice(app, browsers) -> Alice:
    laptop, phone = browsers(), browsers()
    assert 'id="devices"' in laptop.sign_in("alice").text
    assert 'id="devices"' in phone.sign_in("alice").text
    laptop_device, phone_device = (d.id for d in devices_of(app, "alice"))
    next_second()
    return Alice(laptop, phone, laptop_device, phone_device)
