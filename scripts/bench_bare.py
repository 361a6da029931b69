"""The baseline of `make bench`: a bare Flask app with one route returning a small JSON object.

Served by the same gunicorn settings as the portal (``gunicorn --pythonpath scripts
bench_bare:app``), so the ratio to it is what the portal's own code costs per request.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return {"status": "ok"}
