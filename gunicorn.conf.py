"""gunicorn's hooks for the portal (read by ``gunicorn wsgi:app`` run from this folder, or with
``-c gunicorn.conf.py``): the metrics of several worker processes.

With ``PORTAL_METRICS_DIR`` set every worker writes its counts to files there and a scrape adds
them up (``portal.metrics``). The master empties the folder when it starts, unless another
portal process of the machine (the background worker) is still writing to it, and forgets a
worker's live gauges when it exits. Nothing here when the setting is unset.
"""

import os


def _metrics_dir() -> str | None:
    return os.environ.get("PORTAL_METRICS_DIR") or None


def on_starting(server):
    path = _metrics_dir()
    if path:
        from portal import metrics

        os.makedirs(path, exist_ok=True)
        metrics.clean_directory(path)


def child_exit(server, worker):
    path = _metrics_dir()
    if path:
        from portal import metrics

        metrics.process_ended(worker.pid, path)
