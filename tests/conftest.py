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
import queue
import secrets
import shutil
import threading
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


class DatabaseSupply:
    """Fresh copies of a migrated template, made ahead of use.

    ``CREATE DATABASE ... TEMPLATE`` and ``DROP DATABASE`` cost ~0.1 s each;
    a background thread keeps a few copies ready and another drops used
    ones, so a test waits for neither.
    """

    def __init__(self, server: PgServer, template: str, ready: int = 3) -> None:
        self._server = server
        self._template = template
        self._ready: queue.Queue[str] = queue.Queue(maxsize=ready)
        self._used: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._make, daemon=True),
            threading.Thread(target=self._drop, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _make(self) -> None:
        while not self._stop.is_set():
            name = f"t_{secrets.token_hex(4)}"
            self._server.create_database(name, template=self._template)
            while not self._stop.is_set():
                try:
                    self._ready.put(name, timeout=0.2)
                    break
                except queue.Full:
                    continue
            else:
                self._server.drop_database(name)

    def _drop(self) -> None:
        while (name := self._used.get()) is not None:
            self._server.drop_database(name)

    def take(self) -> str:
        return self._ready.get(timeout=60)

    def give_back(self, name: str) -> None:
        self._used.put(name)

    def close(self) -> None:
        self._stop.set()
        self._threads[0].join()
        while not self._ready.empty():
            self._used.put(self._ready.get())
        self._used.put(None)
        self._threads[1].join()


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> Iterator[str]:
    """A PostgreSQL database migrated once per session, used as a template."""
    name = f"template_{secrets.token_hex(4)}"
    pg_server.create_database(name)
    _migrate(_pg_config(pg_server, name))
    yield name
    pg_server.drop_database(name)


@pytest.fixture(scope="session")
def pg_supply(pg_server: PgServer, pg_template: str) -> Iterator[DatabaseSupply]:
    """Migrated databases, ready before the tests that need them."""
    supply = DatabaseSupply(pg_server, pg_template)
    yield supply
    supply.close()


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
        supply: DatabaseSupply = request.getfixturevalue("pg_supply")
        dropped = supply.take()
        config = _pg_config(server, dropped)
    instance = create_backend(config)
    await instance.connect()
    await instance.migrate()
    try:
        yield instance
    finally:
        await instance.disconnect()
        if dropped is not None:
            supply.give_back(dropped)


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    """The backend a test runs on: ``sqlite`` or ``postgres``."""
    return str(request.param)
