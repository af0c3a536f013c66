"""Shared pytest fixtures.

Sections:

* PostgreSQL: a real throwaway server per test session, plus a fresh database
  per test.  See ``tests/support/pgserver.py``.
* Backends: ``backend`` is connected and migrated, parametrized over SQLite
  and PostgreSQL; ``backend_config`` is the same without connecting.

Importing ``tests.support`` requires the repository root on ``sys.path``
(pytest ``pythonpath = ["."]`` or ``PYTHONPATH=.``).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from synthorg.persistence import (
    PersistenceBackend,
    PersistenceConfig,
    PostgresConfig,
    SQLiteConfig,
    create_backend,
)
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


# ---------------------------------------------------------------------------
# Backends: every behavioural test runs on both, each against a fresh database
# ---------------------------------------------------------------------------

BACKENDS = ("sqlite", "postgres")


def make_config(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> PersistenceConfig:
    """A config for a fresh database of ``kind`` (SQLite file or new PG db)."""
    if kind == "sqlite":
        return PersistenceConfig(
            backend="sqlite", sqlite=SQLiteConfig(path=str(tmp_path / "test.db"))
        )
    server: PgServer = request.getfixturevalue("pg_server")
    database: str = request.getfixturevalue("pg_database")
    return PersistenceConfig(
        backend="postgres",
        postgres=PostgresConfig(
            host=server.host,
            port=server.port,
            database=database,
            username=server.user,
            password=SecretStr(server.password),
            pool_min_size=1,
            pool_max_size=8,
        ),
    )


@pytest.fixture(params=BACKENDS)
def backend_config(request: pytest.FixtureRequest, tmp_path: Path) -> PersistenceConfig:
    """Config of a fresh database on each backend (not connected)."""
    return make_config(str(request.param), tmp_path, request)


@pytest.fixture
async def backend(
    backend_config: PersistenceConfig,
) -> AsyncIterator[PersistenceBackend]:
    """A connected, migrated backend on a fresh database; each backend in turn."""
    instance = create_backend(backend_config)
    await instance.connect()
    await instance.migrate()
    try:
        yield instance
    finally:
        await instance.disconnect()
