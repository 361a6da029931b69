"""Every documented JSON shape, declared once as a Pydantic model, one module per route family.

A response body is a model dumped to JSON (``body``, ``answer``), and ``/openapi.json`` takes its
component schemas from the same models' JSON Schema (``openapi``), so the bodies and the
document cannot tell different stories. Routes answer with these models rather than spell a
documented key themselves.

*Envelope* shapes (``envelope``) come from the Flashback "device-session-management" document;
*token-row* shapes (``token_rows``) from the TKT "auth/devices" document; the audit events feed
(``audit``) and the sign-ins search and its bulk jobs (``sign_ins``) answer in the token-row
family. ``base`` holds what every shape and request shares, ``errors`` each family's error body,
``paging`` a page's size and cursor as query parameters. Keys keep the order the documents give
them: the order fields are declared in is the order they are sent in (``app.json.sort_keys`` is
off).
"""
