"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi ...``."""

import gc

from portal import create_app

app = create_app()
# What start-up made (the app, its routes, models, schemas and templates) lives as long as the
# process: kept out of the collector's full passes, which would otherwise walk all of it in the
# middle of some request now and then. What requests make is collected as before.
gc.freeze()
