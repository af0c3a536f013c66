"""pytest plugin: migrated SQLite and PostgreSQL backends for your tests.

Installed with the package and registered through the ``pytest11`` entry
point ``synthorg_persistence`` (disable with ``-p no:synthorg_persistence``).
Fixtures (see ``docs/testing.md``):

* ``sqlite_backend``: connected and migrated, in memory.
* ``sqlite_file_backend``: connected and migrated, a file under ``tmp_path``
  (a copy of a template migrated once per session).
* ``postgres_backend``: connected and migrated, a throwaway database (a
  ``CREATE DATABASE ... TEMPLATE`` copy made ahead of use) on a real
  PostgreSQL server started for the session.
* ``synthorg_backend_factory``: ``await factory("sqlite" | "sqlite_file" |
  "postgres", migrated=True)`` for more than one backend in a test, or an
  empty database; ``factory.config(...)`` for a configuration only.
* building blocks: ``synthorg_pg_server`` (session server),
  ``synthorg_pg_database`` (a fresh empty database on it),
  ``synthorg_pg_supply`` (migrated copies), ``synthorg_sqlite_template``.

The PostgreSQL server starts only when a test requests a PostgreSQL
fixture. When no server binaries are found the fixture fails (never skips)
with a message saying what to install or set.

The backend fixtures are async: they need pytest-asyncio (any mode; they
are declared with ``pytest_asyncio.fixture``). Importing this module
imports ``synthorg.persistence`` (its parent package) but neither psycopg
nor the server starter: those load when a PostgreSQL fixture is first used.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from synthorg.persistence import PersistenceBackend, PersistenceConfig
    from synthorg.persistence.testing.databases import DatabaseSupply
    from synthorg.persistence.testing.pgserver import PgServer

__all__ = [
    "BackendFactory",
    "BackendKind",
    "postgres_backend",
    "sqlite_backend",
    "sqlite_file_backend",
    "synthorg_backend_factory",
    "synthorg_pg_database",
    "synthorg_pg_server",
    "synthorg_pg_supply",
    "synthorg_sqlite_template",
]

BackendKind = Literal["sqlite", "sqlite_file", "postgres"]
"""``sqlite`` (in memory), ``sqlite_file`` (temp file) or ``postgres``."""

_KINDS: tuple[str, ...] = ("sqlite", "sqlite_file", "postgres")

# The kinds whose database can be migrated before connecting: an in-memory
# one lives only as long as its connection, so it is migrated after.
_PREMIGRATED: tuple[str, ...] = ("sqlite_file", "postgres")

_F = TypeVar("_F", bound=Callable[..., Any])


def _async_fixture(func: _F) -> _F:
    """``pytest_asyncio.fixture``, or a fixture explaining it is missing."""
    try:
        import pytest_asyncio
    except ImportError:

        @functools.wraps(func)
        def missing(*args: object, **kwargs: object) -> None:
            pytest.fail(
                f"synthorg.persistence.testing: the fixture {func.__name__!r} is "
                "async and needs pytest-asyncio: pip install pytest-asyncio",
                pytrace=False,
            )

        return cast(_F, pytest.fixture(missing))
    return cast(_F, pytest_asyncio.fixture(func))


# ---------------------------------------------------------------------------
# PostgreSQL: one server per session, started on first use
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def synthorg_pg_server() -> Iterator[PgServer]:
    """A real, throwaway PostgreSQL server for the session (``fsync`` off).

    Started on first request with the ``initdb``/``pg_ctl`` found by
    :func:`synthorg.persistence.testing.pgserver.find_bindir` (or
    ``$SYNTHORG_PG_BINDIR``); run as the ``postgres`` system user when the
    tests run as root. Stopped and deleted at the end of the session.
    """
    try:
        from synthorg.persistence.testing import pgserver
    except ImportError as exc:
        pytest.fail(
            "synthorg.persistence.testing: the PostgreSQL fixtures need psycopg: "
            f"pip install 'synthorg-persistence[postgres]' ({exc})",
            pytrace=False,
        )
    try:
        server = pgserver.start_server()
    except RuntimeError as exc:
        pytest.fail(
            f"synthorg.persistence.testing: cannot start PostgreSQL: {exc}",
            pytrace=False,
        )
    try:
        yield server
    finally:
        pgserver.stop_server(server)


@pytest.fixture
def synthorg_pg_database(synthorg_pg_server: PgServer) -> Iterator[str]:
    """Name of a fresh, empty database on ``synthorg_pg_server``; dropped after.

    Connect with ``synthorg_pg_server.dsn(synthorg_pg_database)``.
    """
    from synthorg.persistence.testing.databases import fresh_database_name

    name = fresh_database_name()
    synthorg_pg_server.create_database(name)
    try:
        yield name
    finally:
        # DROP DATABASE ... WITH (FORCE): also kicks out leaked connections.
        synthorg_pg_server.drop_database(name)


@pytest.fixture(scope="session")
def synthorg_pg_supply(synthorg_pg_server: PgServer) -> Iterator[DatabaseSupply]:
    """Copies of a database migrated once per session, made ahead of use."""
    from synthorg.persistence.testing.databases import DatabaseSupply

    supply = DatabaseSupply.migrated(synthorg_pg_server)
    try:
        yield supply
    finally:
        supply.close()


# ---------------------------------------------------------------------------
# SQLite
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def synthorg_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session; tests get copies of it."""
    from synthorg.persistence.testing.databases import sqlite_template

    return sqlite_template(tmp_path_factory.mktemp("synthorg-template"))


# ---------------------------------------------------------------------------
# Backends
# ---------------------------------------------------------------------------


class BackendFactory:
    """Fresh databases of any kind for one test; cleaned up after it.

    ``await factory(kind)`` returns a connected backend (migrated unless
    ``migrated=False``); ``factory.config(kind)`` only a configuration.
    PostgreSQL and the SQLite template are set up on first use.
    """

    def __init__(self, request: pytest.FixtureRequest, directory: Path) -> None:
        self._request = request
        self._directory = directory
        self._counter = itertools.count(1)
        self._backends: list[PersistenceBackend] = []
        self._taken: list[tuple[DatabaseSupply, str]] = []
        self._created: list[tuple[PgServer, str]] = []

    def config(
        self, kind: BackendKind = "sqlite_file", *, migrated: bool = True
    ) -> PersistenceConfig:
        """Configuration of a fresh database of ``kind`` (not connected).

        ``migrated=False`` gives an empty database. An in-memory SQLite
        database lives only as long as its connection, so ``sqlite`` is
        always empty here.
        """

        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, not {kind!r}")
        makers = {
            "sqlite": self._memory_config,
            "sqlite_file": self._file_config,
            "postgres": self._postgres_config,
        }
        return makers[kind](migrated)

    def _memory_config(self, migrated: bool) -> PersistenceConfig:
        from synthorg.persistence.testing import databases

        if migrated:
            raise ValueError(
                "an in-memory SQLite database cannot be migrated ahead of "
                "connecting: use kind='sqlite_file' or migrated=False"
            )
        return databases.sqlite_config(":memory:")

    def _file_config(self, migrated: bool) -> PersistenceConfig:
        from synthorg.persistence.testing import databases

        path = self._directory / f"synthorg-{next(self._counter)}.db"
        if migrated:
            template: Path = self._request.getfixturevalue("synthorg_sqlite_template")
            _copy_file(template, path)
        return databases.sqlite_config(path)

    def _postgres_config(self, migrated: bool) -> PersistenceConfig:
        from synthorg.persistence.testing import databases

        server: PgServer = self._request.getfixturevalue("synthorg_pg_server")
        if migrated:
            supply: DatabaseSupply = self._request.getfixturevalue("synthorg_pg_supply")
            name = supply.take()
            self._taken.append((supply, name))
        else:
            name = databases.fresh_database_name()
            server.create_database(name)
            self._created.append((server, name))
        return databases.postgres_config(server, name)

    async def __call__(
        self, kind: BackendKind = "sqlite", *, migrated: bool = True
    ) -> PersistenceBackend:
        """A connected backend on a fresh database of ``kind``."""
        from synthorg.persistence import create_backend

        config = self.config(kind, migrated=migrated and kind in _PREMIGRATED)
        instance = create_backend(config)
        await instance.connect()
        self._backends.append(instance)
        if migrated:
            # A template copy has every revision: this finds nothing to do,
            # and proves the copy is current.
            await instance.migrate()
        return instance

    async def aclose(self) -> None:
        """Disconnect every backend made, then give back or drop databases."""
        try:
            for instance in reversed(self._backends):
                await instance.disconnect()
        finally:
            self._backends.clear()
            for supply, name in self._taken:
                supply.give_back(name)
            for server, name in self._created:
                # WITH (FORCE): also kicks out connections a test leaked.
                server.drop_database(name)
            self._taken.clear()
            self._created.clear()


def _copy_file(source: Path, target: Path) -> None:
    import shutil

    shutil.copyfile(source, target)


@_async_fixture
async def synthorg_backend_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[BackendFactory]:
    """A :class:`BackendFactory`; whatever it made is cleaned up afterwards."""
    factory = BackendFactory(request, tmp_path)
    try:
        yield factory
    finally:
        await factory.aclose()


@_async_fixture
async def sqlite_backend(
    synthorg_backend_factory: BackendFactory,
) -> PersistenceBackend:
    """A connected, migrated SQLite backend in memory."""
    return await synthorg_backend_factory("sqlite")


@_async_fixture
async def sqlite_file_backend(
    synthorg_backend_factory: BackendFactory, synthorg_sqlite_template: Path
) -> PersistenceBackend:
    """A connected, migrated SQLite backend on a file under ``tmp_path``."""
    return await synthorg_backend_factory("sqlite_file")


@_async_fixture
async def postgres_backend(
    synthorg_backend_factory: BackendFactory, synthorg_pg_supply: DatabaseSupply
) -> PersistenceBackend:
    """A connected, migrated PostgreSQL backend on a throwaway database."""
    return await synthorg_backend_factory("postgres")
