"""Shared pytest fixtures, built on the package's own pytest plugin.

The machinery (a real throwaway PostgreSQL server per session, databases
copied from migrated templates ahead of use, SQLite template copies) lives
in :mod:`synthorg.persistence.testing.plugin`, which users get too; pytest
loads it through the ``pytest11`` entry point ``synthorg_persistence``.
This file only adds the project's names on top:

* ``backend``: connected and migrated, parametrized over SQLite (a file) and
  PostgreSQL; ``backend_config`` is a fresh empty database, not connected.
* ``pg_server``, ``pg_database``, ``sqlite_template``: the plugin's
  ``synthorg_pg_server``, ``synthorg_pg_database``,
  ``synthorg_sqlite_template`` under their historical names.

Importing ``tests.support`` requires the repository root on ``sys.path``
(pytest ``pythonpath = ["."]`` or ``PYTHONPATH=.``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synthorg.persistence import PersistenceBackend, PersistenceConfig
from synthorg.persistence.testing.databases import postgres_config, sqlite_config
from synthorg.persistence.testing.pgserver import PgServer
from synthorg.persistence.testing.plugin import BackendFactory

PLUGIN = "synthorg_persistence"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN):
        raise pytest.UsageError(
            f"the pytest plugin {PLUGIN!r} (synthorg.persistence.testing.plugin) "
            "is not registered: reinstall the package (make venv, or "
            "pip install -e '.[postgres,dev]') so its pytest11 entry point exists"
        )


# ---------------------------------------------------------------------------
# Historical names of the plugin's building blocks
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server(synthorg_pg_server: PgServer) -> PgServer:
    """One real PostgreSQL server (fsync off) shared by the whole session."""
    return synthorg_pg_server


@pytest.fixture
def pg_database(synthorg_pg_database: str) -> str:
    """Name of a fresh, empty database on ``pg_server``; dropped afterwards.

    Connect with ``pg_server.dsn(pg_database)``.
    """
    return synthorg_pg_database


@pytest.fixture(scope="session")
def sqlite_template(synthorg_sqlite_template: Path) -> Path:
    """A SQLite file migrated once per session; tests get copies of it."""
    return synthorg_sqlite_template


# ---------------------------------------------------------------------------
# Backends: every behavioural test runs on both, each against a fresh database
# ---------------------------------------------------------------------------

BACKENDS = ("sqlite", "postgres")


def make_config(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> PersistenceConfig:
    """A config for a fresh database of ``kind`` (SQLite file or new PG db).

    For PostgreSQL the database is ``pg_database`` of the requesting test.
    """
    if kind == "sqlite":
        return sqlite_config(tmp_path / "test.db")
    server: PgServer = request.getfixturevalue("pg_server")
    database: str = request.getfixturevalue("pg_database")
    return postgres_config(server, database)


@pytest.fixture
def backend_config(
    request: pytest.FixtureRequest, backend_kind: str, tmp_path: Path
) -> PersistenceConfig:
    """Config of a fresh, empty database on each backend (not connected)."""
    return make_config(backend_kind, tmp_path, request)


@pytest.fixture
async def backend(
    backend_kind: str, synthorg_backend_factory: BackendFactory
) -> PersistenceBackend:
    """A connected, migrated backend on a fresh database; each backend in turn.

    The database is a copy of a template migrated once per session (a file
    copy for SQLite, ``CREATE DATABASE ... TEMPLATE`` made ahead of use for
    PostgreSQL), so a test pays for one connect, not for every revision;
    ``migrate()`` still runs and finds nothing to apply.
    """
    return await synthorg_backend_factory(
        "sqlite_file" if backend_kind == "sqlite" else "postgres"
    )


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    """The backend a test runs on: ``sqlite`` or ``postgres``."""
    return str(request.param)
