"""``make run``: the portal on http://127.0.0.1:5000 with an embedded development IdP.

The IdP is oidc-provider-mock, run in this process on http://127.0.0.1:9400. On its sign-in
page type a subject: ``admin`` (the demo admin) or ``employee`` (the demo employee).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from oidc_provider_mock import User, run_server_in_thread

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.services.demo import DEMO_USERS  # noqa: E402

IDP_PORT = int(os.environ.get("DEV_IDP_PORT", "9400"))
PORT = int(os.environ.get("PORT", "5000"))


def main() -> None:
    users = [
        User(sub=sub, claims={"email": email, "name": name, "groups": groups})
        for sub, email, name, groups in DEMO_USERS
    ]
    with run_server_in_thread(port=IDP_PORT, require_nonce=True, user_claims=users):
        from portal import create_app

        app = create_app()
        print(f"\n  Device Portal: http://127.0.0.1:{PORT}  (IdP: http://127.0.0.1:{IDP_PORT})")
        print("  Sign in by typing the subject 'admin' (demo admin) or 'employee'.")
        print(f"  Then make an API token at http://127.0.0.1:{PORT}/account/tokens and call")
        print(f'  curl -H "Authorization: Bearer dpt_..." http://127.0.0.1:{PORT}/devices')
        print(f"  (the API's documentation: http://127.0.0.1:{PORT}/api/docs)\n")
        app.run(host="127.0.0.1", port=PORT, debug=False, use_reloader=False)


if __name__ == "__main__":
    main()
