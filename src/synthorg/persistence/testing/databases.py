"""Migrated template databases and fresh copies of them, for tests.

Applying every revision costs far more than copying a database that has
them already: SQLite templates are copied as files, PostgreSQL ones with
``CREATE DATABASE ... TEMPLATE``. :class:`DatabaseSupply` makes PostgreSQL
copies ahead of use in a background thread and drops used ones in another,
so a test waits for neither.

Nothing here imports pytest; psycopg is imported only by the PostgreSQL
parts (through :mod:`synthorg.persistence.testing.pgserver`).
"""

from __future__ import annotations

import asyncio
import os
import queue
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from synthorg.persistence import (
    PersistenceConfig,
    PostgresConfig,
    SQLiteConfig,
    create_backend,
)

if TYPE_CHECKING:
    from synthorg.persistence.testing.pgserver import PgServer

__all__ = [
    "READY_ENV",
    "DatabaseSupply",
    "fresh_database_name",
    "migrate_once",
    "postgres_config",
    "sqlite_config",
    "sqlite_template",
]

#: Environment variable: how many PostgreSQL copies to keep ready (default 3).
READY_ENV = "SYNTHORG_PG_READY"


def fresh_database_name(prefix: str = "t") -> str:
    """A random database name such as ``t_1a2b3c4d``."""
    return f"{prefix}_{secrets.token_hex(4)}"


def sqlite_config(path: Path | str) -> PersistenceConfig:
    """Configuration of the SQLite database at ``path`` (or ``":memory:"``)."""
    return PersistenceConfig(backend="sqlite", sqlite=SQLiteConfig(path=str(path)))


def postgres_config(
    server: PgServer, database: str, *, pool_max_size: int = 8
) -> PersistenceConfig:
    """Configuration of ``database`` on ``server`` (password authentication)."""
    return PersistenceConfig(
        backend="postgres",
        postgres=PostgresConfig(
            host=server.host,
            port=server.port,
            database=database,
            username=server.user,
            password=SecretStr(server.password),
            pool_min_size=1,
            pool_max_size=pool_max_size,
        ),
    )


def migrate_once(config: PersistenceConfig) -> None:
    """Connect, apply every revision, disconnect; blocking.

    Runs on a private event loop in a worker thread, so it may be called
    from inside a running loop (a fixture requested lazily by an async test)
    where a nested ``asyncio.run`` is not allowed.
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


def sqlite_template(directory: Path) -> Path:
    """Create ``directory/template.db`` and migrate it; returns its path."""
    path = directory / "template.db"
    migrate_once(sqlite_config(path))
    return path


def _ready_count() -> int:
    raw = os.environ.get(READY_ENV, "3")
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"${READY_ENV} must be a positive integer, not {raw!r}")
    return count


class DatabaseSupply:
    """Fresh copies of a migrated PostgreSQL template, made ahead of use.

    ``CREATE DATABASE ... TEMPLATE`` and ``DROP DATABASE`` cost ~0.1 s each;
    a background thread keeps ``ready`` copies waiting (``$SYNTHORG_PG_READY``,
    default 3) and another drops used ones, so a test waits for neither.
    """

    def __init__(self, server: PgServer, template: str, ready: int | None = None):
        self._server = server
        self._template = template
        self._ready: queue.Queue[str] = queue.Queue(
            maxsize=ready if ready is not None else _ready_count()
        )
        self._used: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._threads = [
            threading.Thread(target=self._make, name="synthorg-pg-make", daemon=True),
            threading.Thread(target=self._drop, name="synthorg-pg-drop", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @classmethod
    def migrated(cls, server: PgServer, ready: int | None = None) -> DatabaseSupply:
        """Create and migrate a template database on ``server``; supply copies."""
        name = fresh_database_name("template")
        server.create_database(name)
        try:
            migrate_once(postgres_config(server, name, pool_max_size=2))
        except BaseException:
            server.drop_database(name)
            raise
        return cls(server, name, ready)

    @property
    def template(self) -> str:
        """Name of the migrated template database."""
        return self._template

    def _make(self) -> None:
        try:
            while not self._stop.is_set():
                name = fresh_database_name()
                self._server.create_database(name, template=self._template)
                while not self._stop.is_set():
                    try:
                        self._ready.put(name, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                else:
                    self._server.drop_database(name)
        except BaseException as exc:  # reported by take()
            self._error = exc

    def _drop(self) -> None:
        while (name := self._used.get()) is not None:
            try:
                self._server.drop_database(name)
            except Exception:  # best effort: the server may be going away
                continue

    def take(self, timeout: float = 60.0) -> str:
        """Name of a fresh migrated database, now owned by the caller."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._ready.get(timeout=0.2)
            except queue.Empty:
                if self._error is not None:
                    raise RuntimeError(
                        f"could not copy template database {self._template}: "
                        f"{self._error}"
                    ) from self._error
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"no migrated database ready after {timeout}s"
                    ) from None

    def give_back(self, name: str) -> None:
        """Hand a database from :meth:`take` back; dropped in the background."""
        self._used.put(name)

    def close(self, *, drop_template: bool = True) -> None:
        """Stop making copies, drop the unused ones (and the template)."""
        self._stop.set()
        self._threads[0].join()
        while not self._ready.empty():
            self._used.put(self._ready.get())
        self._used.put(None)
        self._threads[1].join()
        if drop_template:
            self._server.drop_database(self._template)
