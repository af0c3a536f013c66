"""The implementations ``make bench-scale`` compares, one interface.

``generated`` is ``create_backend(...)`` and its repositories; the others are
hand-written raw-driver code sending the same statements, with one model
validation per row read (as ``bench/common.py`` rules): on SQLite the
synchronous ``sqlite3`` floor and tuned ``aiosqlite``; on PostgreSQL the
``asyncpg`` floor and tuned ``psycopg``. Every implementation is built from a
JSON-able :class:`Target`, so a child process can build the same one.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import SecretStr

from bench.common import (
    ASYNCPG_SQL,
    PSYCOPG_SQL,
    SQLITE_SQL,
    pg_values,
    sqlite_params,
    task_from_pg_row,
    task_from_sqlite_row,
)
from bench.scale_data import (
    CONTAINERS,
    EVENTS,
    PAGE,
    container_from_pg,
    container_from_sqlite,
    event_from_pg,
    event_from_sqlite,
    log_sql,
    pg_row,
    sqlite_row,
)
from synthorg.persistence import (
    MAX_PAGE_SIZE,
    PersistenceBackend,
    PersistenceConfig,
    PostgresConfig,
    SQLiteConfig,
    create_backend,
)
from synthorg.persistence.generated.provider_audit_events import (
    ProviderAuditEvent,
    ProviderAuditEventFilterSpec,
)
from synthorg.persistence.generated.tasks import Task, TaskFilterSpec

POOL_SIZE = 10
"""PostgreSQL connections per implementation (the backend's default max)."""

LABELS = {
    "generated": "generated",
    "sqlite3": "sqlite3 sync (floor)",
    "aiosqlite": "aiosqlite tuned",
    "asyncpg": "asyncpg (floor)",
    "psycopg": "psycopg tuned",
}
FLOOR = {"sqlite": "sqlite3", "postgres": "asyncpg"}
IMPLS = {
    "sqlite": ("generated", "sqlite3", "aiosqlite"),
    "postgres": ("generated", "asyncpg", "psycopg"),
}


@dataclass(frozen=True)
class Target:
    """Where one implementation connects: a SQLite file or a PG database."""

    backend: str
    impl: str
    path: str = ""
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = ""
    database: str = ""

    def to_json(self) -> dict[str, Any]:
        """For a child process (stdin, never argv: it holds a password)."""
        return asdict(self)

    def dsn(self) -> str:
        """libpq conninfo of the PG database."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.database,
        )


class ScaleImpl(ABC):
    """The operations measured, on one open connection (pool)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.name = target.impl
        self.label = LABELS[target.impl]

    @abstractmethod
    async def open(self) -> None:
        """Connect."""

    @abstractmethod
    async def close(self) -> None:
        """Disconnect."""

    @abstractmethod
    async def get(self, tid: str) -> Task | None:
        """A task by id."""

    @abstractmethod
    async def upsert(self, task: Task) -> None:
        """Insert or update a task by id."""

    @abstractmethod
    async def count(self, project: str) -> int:
        """Tasks of one project."""

    @abstractmethod
    async def page_offset(self, offset: int) -> Sequence[ProviderAuditEvent]:
        """A page of the log, newest first, at ``offset``."""

    @abstractmethod
    async def page_keyset(self, before: str | None) -> Sequence[ProviderAuditEvent]:
        """A page of the log, newest first, ids below ``before``."""

    @abstractmethod
    async def append(self, event: ProviderAuditEvent) -> None:
        """Insert one log row."""

    @abstractmethod
    async def load_all(self, n: int) -> int:
        """Read the whole containers table as one result (``n`` rows)."""

    async def stream_all(self) -> int:
        """Read the whole containers table a row (or batch) at a time."""
        raise NotImplementedError


# --------------------------------------------------------------- generated


class Generated(ScaleImpl):
    """``create_backend`` + the generated repositories."""

    _backend: PersistenceBackend

    async def open(self) -> None:
        """create_backend, connect, migrate (a no-op on a migrated database)."""
        t = self.target
        if t.backend == "sqlite":
            config = PersistenceConfig(
                backend="sqlite", sqlite=SQLiteConfig(path=t.path)
            )
        else:
            config = PersistenceConfig(
                backend="postgres",
                postgres=PostgresConfig(
                    host=t.host,
                    port=t.port,
                    database=t.database,
                    username=t.user,
                    password=SecretStr(t.password),
                    pool_min_size=POOL_SIZE,
                    pool_max_size=POOL_SIZE,
                ),
            )
        self._backend = create_backend(config)
        await self._backend.connect()
        await self._backend.migrate()
        self._tasks = self._backend.tasks
        self._log = self._backend.provider_audit_events
        self._containers = self._backend.tracked_containers

    @property
    def backend(self) -> PersistenceBackend:
        """The open backend."""
        return self._backend

    async def close(self) -> None:
        """Disconnect."""
        await self._backend.disconnect()

    async def get(self, tid: str) -> Task | None:
        """``tasks.get``."""
        return await self._tasks.get(tid)

    async def upsert(self, task: Task) -> None:
        """``tasks.save``."""
        await self._tasks.save(task)

    async def count(self, project: str) -> int:
        """``tasks.count(TaskFilterSpec(project=…))``."""
        return await self._tasks.count(TaskFilterSpec(project=project))

    async def page_offset(self, offset: int) -> Sequence[ProviderAuditEvent]:
        """``provider_audit_events.query(…, limit=50, offset=…)``."""
        return await self._log.query(
            ProviderAuditEventFilterSpec(), limit=PAGE, offset=offset
        )

    async def page_keyset(self, before: str | None) -> Sequence[ProviderAuditEvent]:
        """``provider_audit_events.list_before(before, limit=50)``."""
        return await self._log.list_before(before, limit=PAGE)

    async def append(self, event: ProviderAuditEvent) -> None:
        """``provider_audit_events.append``."""
        await self._log.append(event)

    async def load_all(self, n: int) -> int:
        """``tracked_containers.load_all(limit=n)``: one tuple of n models.

        A ``limit`` above MAX_PAGE_SIZE is refused, so a larger read keeps
        every model ``iter_load_all`` yields in one list: the same n models
        alive at once, as the floor's fetch-all keeps them.
        """
        if n <= MAX_PAGE_SIZE:
            return len(await self._containers.load_all(limit=n))
        kept = [row async for row in self._containers.iter_load_all()]
        return len(kept)

    async def stream_all(self) -> int:
        """``tracked_containers.iter_load_all()``: one model alive at a time."""
        n = 0
        async for _ in self._containers.iter_load_all():
            n += 1
        return n


# ------------------------------------------------------------------ SQLite

_SL = log_sql("?")


class Sqlite3Sync(ScaleImpl):
    """The floor: stdlib sqlite3 on the loop thread, WAL, synchronous=NORMAL."""

    _conn: sqlite3.Connection

    async def open(self) -> None:
        """Autocommit connection."""
        self._conn = sqlite3.connect(self.target.path, isolation_level=None)
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA busy_timeout = 30000")

    async def close(self) -> None:
        """Close."""
        self._conn.close()

    async def get(self, tid: str) -> Task | None:
        """execute + fetchone."""
        row = self._conn.execute(SQLITE_SQL.get, (tid,)).fetchone()
        return None if row is None else task_from_sqlite_row(row)

    async def upsert(self, task: Task) -> None:
        """One autocommit statement."""
        self._conn.execute(SQLITE_SQL.upsert, sqlite_params(task))

    async def count(self, project: str) -> int:
        """execute + fetchone."""
        return int(self._conn.execute(SQLITE_SQL.count, (project,)).fetchone()[0])

    async def page_offset(self, offset: int) -> Sequence[ProviderAuditEvent]:
        """LIMIT/OFFSET."""
        rows = self._conn.execute(_SL.page, (PAGE, offset)).fetchall()
        return [event_from_sqlite(r) for r in rows]

    async def page_keyset(self, before: str | None) -> Sequence[ProviderAuditEvent]:
        """WHERE id < before."""
        if before is None:
            rows = self._conn.execute(_SL.keyset_first, (PAGE,)).fetchall()
        else:
            rows = self._conn.execute(_SL.keyset_after, (before, PAGE)).fetchall()
        return [event_from_sqlite(r) for r in rows]

    async def append(self, event: ProviderAuditEvent) -> None:
        """One INSERT."""
        self._conn.execute(_SL.insert, sqlite_row(event, EVENTS))

    async def load_all(self, n: int) -> int:
        """fetchall, then a model per row, all kept."""
        rows = self._conn.execute(_SL.load_all, (n, 0)).fetchall()
        return len([container_from_sqlite(r) for r in rows])

    async def stream_all(self) -> int:
        """Iterate the cursor: one model alive at a time."""
        n = 0
        for row in self._conn.execute(_SL.load_all, (-1, 0)):
            container_from_sqlite(row)
            n += 1
        return n


class AiosqliteTuned(ScaleImpl):
    """aiosqlite at its best: WAL, autocommit, ``execute_fetchall``."""

    async def open(self) -> None:
        """One autocommit connection."""
        import aiosqlite

        self._db = await aiosqlite.connect(self.target.path, isolation_level=None)
        await self._db.execute("PRAGMA synchronous = NORMAL")
        await self._db.execute("PRAGMA busy_timeout = 30000")

    async def close(self) -> None:
        """Close."""
        await self._db.close()

    async def get(self, tid: str) -> Task | None:
        """One hop."""
        for row in await self._db.execute_fetchall(SQLITE_SQL.get, (tid,)):
            return task_from_sqlite_row(row)
        return None

    async def upsert(self, task: Task) -> None:
        """One hop."""
        await self._db.execute(SQLITE_SQL.upsert, sqlite_params(task))

    async def count(self, project: str) -> int:
        """One hop."""
        rows = await self._db.execute_fetchall(SQLITE_SQL.count, (project,))
        return int(next(iter(rows))[0])

    async def page_offset(self, offset: int) -> Sequence[ProviderAuditEvent]:
        """One hop."""
        rows = await self._db.execute_fetchall(_SL.page, (PAGE, offset))
        return [event_from_sqlite(r) for r in rows]

    async def page_keyset(self, before: str | None) -> Sequence[ProviderAuditEvent]:
        """One hop."""
        if before is None:
            rows = await self._db.execute_fetchall(_SL.keyset_first, (PAGE,))
        else:
            rows = await self._db.execute_fetchall(_SL.keyset_after, (before, PAGE))
        return [event_from_sqlite(r) for r in rows]

    async def append(self, event: ProviderAuditEvent) -> None:
        """One hop."""
        await self._db.execute(_SL.insert, sqlite_row(event, EVENTS))

    async def load_all(self, n: int) -> int:
        """execute_fetchall, then a model per row, all kept."""
        rows = await self._db.execute_fetchall(_SL.load_all, (n, 0))
        return len([container_from_sqlite(r) for r in rows])


# -------------------------------------------------------------- PostgreSQL

_AL = log_sql("$")
_PL = log_sql("%s")


class AsyncpgFloor(ScaleImpl):
    """The floor: an asyncpg pool (statement cache, no reset on release)."""

    async def open(self) -> None:
        """A pool of POOL_SIZE with a binary jsonb codec."""
        import asyncpg  # type: ignore[import-untyped]

        from bench.pg_impls import _asyncpg_init, _no_reset

        t = self.target
        self._pool = await asyncpg.create_pool(
            host=t.host,
            port=t.port,
            user=t.user,
            password=t.password,
            database=t.database,
            min_size=POOL_SIZE,
            max_size=POOL_SIZE,
            init=_asyncpg_init,
            reset=_no_reset,
        )

    async def close(self) -> None:
        """Close the pool."""
        await self._pool.close()

    async def get(self, tid: str) -> Task | None:
        """fetchrow."""
        row = await self._pool.fetchrow(ASYNCPG_SQL.get, tid)
        return None if row is None else task_from_pg_row(row)

    async def upsert(self, task: Task) -> None:
        """execute."""
        await self._pool.execute(ASYNCPG_SQL.upsert, *pg_values(task))

    async def count(self, project: str) -> int:
        """fetchval."""
        return int(await self._pool.fetchval(ASYNCPG_SQL.count, project))

    async def page_offset(self, offset: int) -> Sequence[ProviderAuditEvent]:
        """fetch."""
        rows = await self._pool.fetch(_AL.page, PAGE, offset)
        return [event_from_pg(r) for r in rows]

    async def page_keyset(self, before: str | None) -> Sequence[ProviderAuditEvent]:
        """fetch."""
        if before is None:
            rows = await self._pool.fetch(_AL.keyset_first, PAGE)
        else:
            rows = await self._pool.fetch(_AL.keyset_after, before, PAGE)
        return [event_from_pg(r) for r in rows]

    async def append(self, event: ProviderAuditEvent) -> None:
        """execute."""
        await self._pool.execute(_AL.insert, *pg_row(event, EVENTS))

    async def load_all(self, n: int) -> int:
        """fetch, then a model per row, all kept."""
        rows = await self._pool.fetch(_AL.load_all, n, 0)
        return len([container_from_pg(r) for r in rows])

    async def stream_all(self) -> int:
        """A server-side cursor in a transaction: prefetch 1000 rows at a time."""
        n = 0
        async with self._pool.acquire() as conn, conn.transaction():
            async for row in conn.cursor(_AL.load_all, 2**62, 0, prefetch=1000):
                container_from_pg(row)
                n += 1
        return n


class PsycopgTuned(ScaleImpl):
    """psycopg 3 at its best: autocommit pool, ``prepare=True``."""

    async def open(self) -> None:
        """An autocommit pool of POOL_SIZE."""
        from psycopg_pool import AsyncConnectionPool

        self._pool: Any = AsyncConnectionPool(
            self.target.dsn(),
            kwargs={"autocommit": True},
            min_size=POOL_SIZE,
            max_size=POOL_SIZE,
            open=False,
        )
        await self._pool.open(wait=True)

    async def close(self) -> None:
        """Close the pool."""
        await self._pool.close()

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql, params, prepare=True)
            return list(await cur.fetchall())

    async def get(self, tid: str) -> Task | None:
        """One prepared statement."""
        rows = await self._fetch(PSYCOPG_SQL.get, (tid,))
        return task_from_pg_row(rows[0]) if rows else None

    async def upsert(self, task: Task) -> None:
        """One prepared statement."""
        from bench.pg_impls import psycopg_params

        async with self._pool.connection() as conn:
            await conn.execute(PSYCOPG_SQL.upsert, psycopg_params(task), prepare=True)

    async def count(self, project: str) -> int:
        """One prepared statement."""
        rows = await self._fetch(PSYCOPG_SQL.count, (project,))
        return int(rows[0][0])

    async def page_offset(self, offset: int) -> Sequence[ProviderAuditEvent]:
        """One prepared statement."""
        return [event_from_pg(r) for r in await self._fetch(_PL.page, (PAGE, offset))]

    async def page_keyset(self, before: str | None) -> Sequence[ProviderAuditEvent]:
        """One prepared statement."""
        if before is None:
            rows = await self._fetch(_PL.keyset_first, (PAGE,))
        else:
            rows = await self._fetch(_PL.keyset_after, (before, PAGE))
        return [event_from_pg(r) for r in rows]

    async def append(self, event: ProviderAuditEvent) -> None:
        """One prepared statement."""
        from psycopg.types.json import Jsonb

        async with self._pool.connection() as conn:
            await conn.execute(_PL.insert, pg_row(event, EVENTS, Jsonb), prepare=True)

    async def load_all(self, n: int) -> int:
        """fetchall, then a model per row, all kept."""
        rows = await self._fetch(_PL.load_all, (n, 0))
        return len([container_from_pg(r) for r in rows])


_CLASSES: dict[str, type[ScaleImpl]] = {
    "generated": Generated,
    "sqlite3": Sqlite3Sync,
    "aiosqlite": AiosqliteTuned,
    "asyncpg": AsyncpgFloor,
    "psycopg": PsycopgTuned,
}


def build(target: Target) -> ScaleImpl:
    """The implementation a target names."""
    return _CLASSES[target.impl](target)


__all__ = ["CONTAINERS", "FLOOR", "IMPLS", "LABELS", "ScaleImpl", "Target", "build"]
