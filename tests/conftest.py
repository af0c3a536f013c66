"""Shared pytest fixtures.

Sections:

* PostgreSQL: a real throwaway server per test session, plus a fresh database
  per test.  See ``tests/support/pgserver.py``.

Importing ``tests.support`` requires the repository root on ``sys.path``
(pytest ``pythonpath = ["."]`` or ``PYTHONPATH=.``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.support.pgserver import PgServer, running_server

# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One real PostgreSQL server (fsync off) shared by the whole session."""
    with running_server() as server:
        yield server


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[str]:
    """Name of a fresh, empty database on ``pg_server``; dropped afterwards.

    Connect with ``pg_server.dsn(pg_database)``.
    """
    name = f"t_{secrets.token_hex(4)}"
    pg_server.create_database(name)
    try:
        yield name
    finally:
        # DROP DATABASE ... WITH (FORCE): also kicks out leaked connections.
        pg_server.drop_database(name)
