"""A pooled PostgreSQL connection pinged after sitting idle is handed out idle, not inside the
ping's transaction: a caller may still choose its isolation level (autocommit for VACUUM, or
for the migrations), and its first statement starts its own transaction. Runs on a cluster of
its own, whichever database the suite is on."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import text

from portal import create_app
from portal.extensions import PING_AFTER_IDLE_SECONDS, db


@pytest.fixture(scope="module")
def postgres_url():
    from support.postgres import PostgresServer

    server = PostgresServer.start()
    yield server.create_database("portal_ping")
    server.stop()


def test_a_connection_pinged_after_idling_is_handed_out_idle(postgres_url):
    app = create_app({"ENV": "testing", "DATABASE_URL": postgres_url})
    with app.app_context():
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        time.sleep(PING_AFTER_IDLE_SECONDS * 2)  # long enough to be pinged at checkout
        with db.engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            assert raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            assert autocommit.execute(text("SELECT 2")).scalar() == 2
        db.engine.dispose()
