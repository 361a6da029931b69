"""The audit log page reads as words: what was done, by whom and to whom (names linking to
their pages) and the detail as a short phrase; the CSV export keeps the raw codes."""

from __future__ import annotations

import csv
import io

from support.account_helpers import current_session_of, page_csrf
from support.admin_helpers import user_id_of


def test_the_audit_log_names_actions_people_and_details_in_words(app, auth):
    alice = auth.new_client("alice")
    device_id = current_session_of(alice, app).device_id
    alice.post(
        f"/account/devices/{device_id}/rename",
        data={"csrf_token": page_csrf(alice), "name": "Work laptop"},
    )
    admin = auth.new_client("admin")
    admin.get(f"/admin/users/{user_id_of(app, 'alice')}")  # a look at alice, audited
    page = admin.get("/admin/audit").get_data(as_text=True)
    row = page.split('data-action="rename_device"', 1)[1].split("</tr>", 1)[0]
    assert "Renamed a device" in row and "<code>rename_device</code>" not in row
    alice_link = f'<a href="/admin/users/{user_id_of(app, "alice")}">Alice Anders</a>'
    assert alice_link in row and "themself" in row
    assert "→ “Work laptop”" in row
    assert f"#device-{device_id}" in row  # the device, on alice's page
    assert f'title="Device {device_id}">Work laptop</a>' in row  # by its name, not its id
    assert 'data-action="view_user_devices"' not in page  # looks only when asked
    page = admin.get("/admin/audit?looks=1").get_data(as_text=True)
    look = page.split('data-action="view_user_devices"', 1)[1].split("</tr>", 1)[0]
    assert "Looked at a user&#39;s devices" in look and "Ada Admin" in look and alice_link in look
    assert '<input type="checkbox" name="action" value="rename_device"> Renamed a device' in page


def test_the_audit_csv_keeps_the_raw_codes(app, auth):
    alice = auth.new_client("alice")
    device_id = current_session_of(alice, app).device_id
    alice.post(
        f"/account/devices/{device_id}/rename",
        data={"csrf_token": page_csrf(alice), "name": "Work laptop"},
    )
    response = auth.new_client("admin").get("/admin/audit.csv?action=rename_device")
    [row] = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert row["action"] == "rename_device" and '"new_name": "Work laptop"' in row["detail"]
