"""My devices and a device page; the services do the work, these views only render."""

from __future__ import annotations

from flask import abort, render_template
from flask_login import current_user

from ..authz import signed_in
from ..services import devices
from . import bp


def my_devices():
    """My devices (served at ``/``): every device, this one first, with active-session counts."""
    current_device_id = current_user.session.device_id
    rows = devices.list_devices(current_user.user.id, current_device_id=current_device_id)
    return render_template(
        "account/devices.html",
        rows=rows,
        current_device_id=current_device_id,
        active_total=sum(r.active_sessions for r in rows),
    )


@bp.get("/devices/<device_id>")
@signed_in
def device(device_id: str):
    """One of my devices with its whole login history; anyone else's is a 404."""
    found = devices.get_device(current_user.user.id, device_id)
    if found is None:
        abort(404)
    return render_template(
        "account/device.html",
        device=found,
        sessions=devices.device_sessions(found),
        is_current=found.id == current_user.session.device_id,
    )
