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

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
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
    return _pg_config(server, database)


@pytest.fixture
def backend_config(
    request: pytest.FixtureRequest, backend_kind: str, tmp_path: Path
) -> PersistenceConfig:
    """Config of a fresh, empty database on each backend (not connected)."""
    return make_config(backend_kind, tmp_path, request)


def _pg_config(server: PgServer, database: str) -> PersistenceConfig:
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


def _migrate(config: PersistenceConfig) -> None:
    """Migrate a database once, on a private event loop in a worker thread.

    Template fixtures are requested lazily from inside the running test
    loop, where a nested ``asyncio.run`` is not allowed.
    """

    async def run() -> None:
        instance = create_backend(config)
        await instance.connect()
        try:
            await instance.migrate()
        finally:
            await instance.disconnect()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session; tests get copies of it."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(PersistenceConfig(sqlite=SQLiteConfig(path=str(path))))
    return path


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> Iterator[str]:
    """A PostgreSQL database migrated once per session, used as a template."""
    name = f"template_{secrets.token_hex(4)}"
    pg_server.create_database(name)
    _migrate(_pg_config(pg_server, name))
    yield name
    pg_server.drop_database(name)


@pytest.fixture
async def backend(
    request: pytest.FixtureRequest, backend_kind: str, tmp_path: Path
) -> AsyncIterator[PersistenceBackend]:
    """A connected, migrated backend on a fresh database; each backend in turn.

    The database is a copy of a template migrated once per session (a file
    copy on either side), so a test pays for one connect, not for every
    revision; ``migrate()`` still runs and finds nothing to apply.
    """
    dropped: str | None = None
    if backend_kind == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        config = PersistenceConfig(sqlite=SQLiteConfig(path=str(path)))
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        pg_template_name: str = request.getfixturevalue("pg_template")
        dropped = f"t_{secrets.token_hex(4)}"
        server.create_database(dropped, template=pg_template_name)
        config = _pg_config(server, dropped)
    instance = create_backend(config)
    await instance.connect()
    await instance.migrate()
    try:
        yield instance
    finally:
        await instance.disconnect()
        if dropped is not None:
            request.getfixturevalue("pg_server").drop_database(dropped)


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    """The backend a test runs on: ``sqlite`` or ``postgres``."""
    return str(request.param)
