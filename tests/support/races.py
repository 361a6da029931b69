"""Run jobs in threads that start together, for the tests of first uses that race each other
(``tests/auth/test_first_use_races.py``, and SCIM's in ``tests/scim/test_scim.py``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

AT_ONCE = 6


def all_at_once(jobs):
    """Run ``jobs`` in threads that start together (a barrier), and return their results."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        barrier.wait(timeout=30)
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))
