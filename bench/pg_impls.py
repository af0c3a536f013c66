"""PostgreSQL implementations: generated, tuned/naive psycopg, asyncpg, ORM.

Each implementation gets its own database, a ``CREATE DATABASE … TEMPLATE``
copy of one filled and vacuumed source, and a pool of the same size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from sqlalchemy import URL

from bench.common import (
    ASYNCPG_SQL,
    COPY_COLUMNS,
    FIELDS,
    JSON_FIELDS,
    PSYCOPG_SQL,
    BulkFn,
    Impl,
    Mode,
    make_task,
    pg_values,
    task_from_pg_row,
)
from bench.orm import OrmImpl, PgTaskRow
from synthorg.persistence import (
    PersistenceBackend,
    PersistenceConfig,
    PostgresConfig,
    create_backend,
)
from synthorg.persistence._codec import json_dumps
from synthorg.persistence.generated.tasks import Task, TaskFilterSpec, TaskRepository
from synthorg.persistence.testing.pgserver import PgServer

POOL_SIZE = 10
"""Connections per implementation (the generated backend's default maximum)."""

_JSON_IDX = tuple(i for i, f in enumerate(FIELDS) if f in JSON_FIELDS)
_COPY_SQL = 'COPY "tasks" ({}) FROM STDIN'.format(
    ", ".join(f'"{c}"' for c in COPY_COLUMNS)
)


def psycopg_params(task: Task) -> list[Any]:
    """Task -> psycopg parameters: JSON columns wrapped in ``Jsonb``."""
    values = list(pg_values(task))
    for i in _JSON_IDX:
        values[i] = Jsonb(values[i])
    return values


class GeneratedPg(Impl):
    """The generated repository, through the public backend API."""

    name = "generated"
    kind = "generated"

    def __init__(self, server: PgServer, database: str) -> None:
        self._config = PersistenceConfig(
            backend="postgres",
            postgres=PostgresConfig(
                host=server.host,
                port=server.port,
                database=database,
                username=server.user,
                password=SecretStr(server.password),
                pool_min_size=POOL_SIZE,
                pool_max_size=POOL_SIZE,
            ),
        )
        self._backend: PersistenceBackend | None = None
        self._repo: TaskRepository | None = None

    async def open(self) -> None:
        """create_backend + connect + migrate (a no-op on the filled copy)."""
        backend = create_backend(self._config)
        await backend.connect()
        await backend.migrate()
        self._backend = backend
        self._repo = backend.tasks

    async def close(self) -> None:
        """Disconnect the backend."""
        if self._backend is not None:
            await self._backend.disconnect()

    @property
    def repo(self) -> TaskRepository:
        """The tasks repository."""
        assert self._repo is not None
        return self._repo

    async def get(self, tid: str) -> Task | None:
        """``tasks.get``."""
        return await self.repo.get(tid)

    async def upsert(self, task: Task) -> None:
        """``tasks.save``."""
        await self.repo.save(task)

    async def page(self, project: str, limit: int) -> Sequence[Task]:
        """``tasks.query(TaskFilterSpec(project=…), limit)``."""
        return await self.repo.query(TaskFilterSpec(project=project), limit=limit)

    async def count(self, project: str) -> int:
        """``tasks.count(TaskFilterSpec(project=…))``."""
        return await self.repo.count(TaskFilterSpec(project=project))

    def bulk_variants(self) -> dict[str, BulkFn]:
        """``save_many`` once the generator has it; none yet."""
        save_many: BulkFn | None = getattr(self.repo, "save_many", None)
        return {} if save_many is None else {"save_many": save_many}


class _PsycopgBase(Impl):
    def __init__(self, server: PgServer, database: str) -> None:
        self._conninfo = server.dsn(database)
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None

    @property
    def pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[Any]]:
        """The pool."""
        assert self._pool is not None
        return self._pool

    async def close(self) -> None:
        """Close the pool."""
        if self._pool is not None:
            await self._pool.close()


class TunedPsycopg(_PsycopgBase):
    """Hand-written psycopg at its best: autocommit pool, prepared statements."""

    name = "psycopg tuned"
    kind = "tuned"

    async def open(self) -> None:
        """Autocommit connections; every statement prepared on first use."""
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            self._conninfo,
            kwargs={"autocommit": True},
            min_size=POOL_SIZE,
            max_size=POOL_SIZE,
            open=False,
        )
        await pool.open(wait=True)
        self._pool = pool

    async def get(self, tid: str) -> Task | None:
        """One prepared statement, one round trip."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(PSYCOPG_SQL.get, (tid,), prepare=True)
            row = await cur.fetchone()
        return None if row is None else task_from_pg_row(row)

    async def upsert(self, task: Task) -> None:
        """One prepared autocommit statement."""
        params = psycopg_params(task)
        async with self.pool.connection() as conn:
            await conn.execute(PSYCOPG_SQL.upsert, params, prepare=True)

    async def page(self, project: str, limit: int) -> Sequence[Task]:
        """One prepared statement."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                PSYCOPG_SQL.page, (project, limit, 0), prepare=True
            )
            rows = await cur.fetchall()
        return [task_from_pg_row(r) for r in rows]

    async def count(self, project: str) -> int:
        """One prepared statement."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(PSYCOPG_SQL.count, (project,), prepare=True)
            row = await cur.fetchone()
        return 0 if row is None else int(row[0])

    def bulk_variants(self) -> dict[str, BulkFn]:
        """executemany (pipelined) in one transaction, and COPY."""
        return {"executemany": self._executemany, "COPY": self._copy}

    async def _executemany(self, tasks: Sequence[Task]) -> None:
        rows = [psycopg_params(t) for t in tasks]
        async with (
            self.pool.connection() as conn,
            conn.transaction(),
            conn.cursor() as cur,
        ):
            await cur.executemany(PSYCOPG_SQL.insert, rows)

    async def _copy(self, tasks: Sequence[Task]) -> None:
        async with (
            self.pool.connection() as conn,
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(_COPY_SQL) as copy,
        ):
            for t in tasks:
                await copy.write_row(psycopg_params(t))


class NaivePsycopg(_PsycopgBase):
    """psycopg as usually written: ``async with pool.connection()``, defaults."""

    name = "psycopg naive"
    kind = "naive"

    async def open(self) -> None:
        """Default connections: a transaction per checkout, committed on return."""
        pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            self._conninfo, min_size=POOL_SIZE, max_size=POOL_SIZE, open=False
        )
        await pool.open(wait=True)
        self._pool = pool

    async def get(self, tid: str) -> Task | None:
        """cursor, execute, fetchone (BEGIN … COMMIT around it)."""
        async with self.pool.connection() as conn, conn.cursor() as cur:
            await cur.execute(PSYCOPG_SQL.get, (tid,))
            row = await cur.fetchone()
        return None if row is None else task_from_pg_row(row)

    async def upsert(self, task: Task) -> None:
        """execute; the pool commits on return."""
        params = psycopg_params(task)
        async with self.pool.connection() as conn:
            await conn.execute(PSYCOPG_SQL.upsert, params)

    async def page(self, project: str, limit: int) -> Sequence[Task]:
        """cursor, execute, fetchall."""
        async with self.pool.connection() as conn, conn.cursor() as cur:
            await cur.execute(PSYCOPG_SQL.page, (project, limit, 0))
            rows = await cur.fetchall()
        return [task_from_pg_row(r) for r in rows]

    async def count(self, project: str) -> int:
        """cursor, execute, fetchone."""
        async with self.pool.connection() as conn, conn.cursor() as cur:
            await cur.execute(PSYCOPG_SQL.count, (project,))
            row = await cur.fetchone()
        return 0 if row is None else int(row[0])

    def bulk_variants(self) -> dict[str, BulkFn]:
        """executemany; the pool commits on return."""
        return {"executemany": self._executemany}

    async def _executemany(self, tasks: Sequence[Task]) -> None:
        rows = [psycopg_params(t) for t in tasks]
        async with self.pool.connection() as conn, conn.cursor() as cur:
            await cur.executemany(PSYCOPG_SQL.insert, rows)


def _jsonb_encode(value: Any) -> bytes:
    # Binary jsonb: a version byte (1), then the JSON text.
    return b"\x01" + json_dumps(value).encode()


def _jsonb_decode(data: bytes) -> Any:
    return json.loads(data[1:])


async def _asyncpg_init(conn: Any) -> None:
    # JSONB <-> Python in the driver, as psycopg does by default; binary, so
    # binary COPY can use it too.
    await conn.set_type_codec(
        "jsonb",
        encoder=_jsonb_encode,
        decoder=_jsonb_decode,
        schema="pg_catalog",
        format="binary",
    )


async def _no_reset(conn: Any) -> None:
    # The default reset sends "RESET ALL; UNLISTEN *; …" on every release: a
    # round trip psycopg_pool does not make. Nothing here changes session state.
    return None


class Asyncpg(Impl):
    """The floor: asyncpg, statements prepared through its statement cache."""

    name = "asyncpg"
    kind = "floor"

    def __init__(self, server: PgServer, database: str) -> None:
        self._connect = {
            "host": server.host,
            "port": server.port,
            "user": server.user,
            "password": server.password,
            "database": database,
        }
        self._pool: Any = None

    async def open(self) -> None:
        """A pool of POOL_SIZE with a jsonb codec and no release reset query."""
        self._pool = await asyncpg.create_pool(
            **self._connect,
            min_size=POOL_SIZE,
            max_size=POOL_SIZE,
            init=_asyncpg_init,
            reset=_no_reset,
        )

    async def close(self) -> None:
        """Close the pool."""
        if self._pool is not None:
            await self._pool.close()

    async def get(self, tid: str) -> Task | None:
        """``pool.fetchrow``."""
        row = await self._pool.fetchrow(ASYNCPG_SQL.get, tid)
        return None if row is None else task_from_pg_row(row)

    async def upsert(self, task: Task) -> None:
        """``pool.execute``."""
        await self._pool.execute(ASYNCPG_SQL.upsert, *pg_values(task))

    async def page(self, project: str, limit: int) -> Sequence[Task]:
        """``pool.fetch``."""
        rows = await self._pool.fetch(ASYNCPG_SQL.page, project, limit, 0)
        return [task_from_pg_row(r) for r in rows]

    async def count(self, project: str) -> int:
        """``pool.fetchval``."""
        return int(await self._pool.fetchval(ASYNCPG_SQL.count, project))

    def bulk_variants(self) -> dict[str, BulkFn]:
        """executemany in one transaction, and binary COPY."""
        return {"executemany": self._executemany, "COPY": self._copy}

    async def _executemany(self, tasks: Sequence[Task]) -> None:
        rows = [pg_values(t) for t in tasks]
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.executemany(ASYNCPG_SQL.insert, rows)

    async def _copy(self, tasks: Sequence[Task]) -> None:
        rows = [pg_values(t) for t in tasks]
        async with self._pool.acquire() as conn:
            await conn.copy_records_to_table(
                "tasks", records=rows, columns=list(COPY_COLUMNS)
            )


# ----------------------------------------------------------------- set-up

SOURCE_DB = "bench_src"


async def prepare_source(server: PgServer, mode: Mode) -> None:
    """Schema by the generated backend, rows by asyncpg COPY, then VACUUM."""
    server.create_database(SOURCE_DB)
    gen = GeneratedPg(server, SOURCE_DB)
    await gen.open()
    await gen.close()
    conn = await asyncpg.connect(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        database=SOURCE_DB,
    )
    try:
        await _asyncpg_init(conn)
        await conn.copy_records_to_table(
            "tasks",
            records=[pg_values(make_task(i, mode.projects)) for i in range(mode.rows)],
            columns=list(COPY_COLUMNS),
        )
        await conn.execute('VACUUM (ANALYZE) "tasks"')
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def clone(server: PgServer, name: str) -> None:
    """``CREATE DATABASE name TEMPLATE bench_src``."""
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(SOURCE_DB)
            )
        )


class Purger:
    """Deletes the rows a write workload added (untimed; autovacuum reclaims).

    Keeps one autocommit connection per database, so a purge costs one
    statement, not a password-authenticated connect.
    """

    def __init__(self, server: PgServer) -> None:
        self._server = server
        self._conns: dict[str, psycopg.Connection[Any]] = {}

    def __call__(self, database: str, project: str) -> None:
        """``DELETE FROM tasks WHERE project = …`` in ``database``."""
        conn = self._conns.get(database)
        if conn is None:
            conn = psycopg.connect(self._server.dsn(database), autocommit=True)
            self._conns[database] = conn
        conn.execute('DELETE FROM "tasks" WHERE "project" = %s', (project,))

    def close(self) -> None:
        """Close every connection."""
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()


def build(server: PgServer) -> list[tuple[Impl, str]]:
    """Every PostgreSQL implementation with its own cloned database."""

    def db(slug: str) -> str:
        name = f"bench_{slug}"
        clone(server, name)
        return name

    def url(driver: str, database: str) -> URL:
        return URL.create(
            f"postgresql+{driver}",
            username=server.user,
            password=server.password,
            host=server.host,
            port=server.port,
            database=database,
        )

    out: list[tuple[Impl, str]] = []
    d = db("generated")
    out.append((GeneratedPg(server, d), d))
    d = db("tuned")
    out.append((TunedPsycopg(server, d), d))
    d = db("naive")
    out.append((NaivePsycopg(server, d), d))
    d = db("asyncpg")
    out.append((Asyncpg(server, d), d))
    pool_kwargs = {"pool_size": POOL_SIZE, "max_overflow": 0}
    d = db("orm_asyncpg")
    out.append(
        (
            OrmImpl(
                "SQLAlchemy ORM (asyncpg)",
                url("asyncpg", d),
                PgTaskRow,
                pool_kwargs,
            ),
            d,
        )
    )
    d = db("orm_psycopg")
    out.append(
        (
            OrmImpl(
                "SQLAlchemy ORM (psycopg)",
                url("psycopg", d),
                PgTaskRow,
                pool_kwargs,
            ),
            d,
        )
    )
    return out
