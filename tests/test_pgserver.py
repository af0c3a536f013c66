"""Smoke tests for the real throwaway PostgreSQL server used by the suite."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support.pgserver import PgServer


def test_connect_with_password(pg_server: PgServer, pg_database: str) -> None:
    dsn = pg_server.dsn(pg_database)
    assert conninfo_to_dict(dsn)["host"] == "127.0.0.1"
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SELECT current_database()").fetchone() == (pg_database,)
        # The test server trades durability for speed.
        assert conn.execute("SHOW fsync").fetchone() == ("off",)


def test_wrong_password_is_refused(pg_server: PgServer) -> None:
    dsn = make_conninfo(pg_server.dsn(), password=pg_server.password + "-wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication"):
        psycopg.connect(dsn, connect_timeout=5)
