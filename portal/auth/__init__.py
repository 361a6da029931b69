"""Who is calling: browser sign-in (``signin``), bearer tokens (``tokens``), one principal.

Importing this package loads no browser sign-in code: the JSON layer uses ``idp``,
``principal`` and ``tokens`` only.
"""

from __future__ import annotations


def init_app(app) -> None:
    from . import signin

    signin.init_app(app)
