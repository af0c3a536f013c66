"""The per-dialect executors the repositories, versions and custom bodies share.

SQLite's ``Connections`` and PostgreSQL's ``Executor`` are what a generated
repository exposes as ``executor``: hand-written bodies run their statements
through it (never through private attributes), joining ``transaction()``,
and a failed batch write is restated once, here, naming its duplicate keys.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from synthorg.persistence import (
    DuplicateRecordError,
    PersistenceBackend,
    QueryError,
    Task,
    TaskType,
)
from synthorg.persistence.postgres.driver import Executor
from synthorg.persistence.sqlite.driver import Connections
from synthorg.persistence.testing.plugin import BackendFactory

_TITLE = 'SELECT "title" FROM "tasks" WHERE "id" = %s'
_RENAME = 'UPDATE "tasks" SET "title" = %s WHERE "id" = %s'
_EXISTING = 'SELECT "id" FROM "tasks" WHERE "id" = ANY(%s)'


class Boom(Exception):
    """The block's own error: it must come out unchanged."""


def task(task_id: str) -> Task:
    return Task(
        id=task_id,
        title=f"Title of {task_id}",
        type=TaskType.DEVELOPMENT,
        project="apollo",
        created_by="alice",
    )


@pytest.fixture
async def pg(synthorg_backend_factory: BackendFactory) -> PersistenceBackend:
    return await synthorg_backend_factory("postgres")


async def test_each_repository_exposes_its_dialects_executor(
    synthorg_backend_factory: BackendFactory, pg: PersistenceBackend
) -> None:
    lite = await synthorg_backend_factory("sqlite")
    assert isinstance(lite.tasks.executor, Connections)  # type: ignore[attr-defined]
    assert isinstance(pg.tasks.executor, Executor)  # type: ignore[attr-defined]


async def test_postgres_executor_runs_statements(pg: PersistenceBackend) -> None:
    ex: Executor = pg.tasks.executor  # type: ignore[attr-defined]
    await pg.tasks.save(task("t1"))
    await pg.tasks.save(task("t2"))
    assert await ex.fetch_one(_TITLE, ("t1",)) == ("Title of t1",)
    assert await ex.fetch_one(_TITLE, ("absent",)) is None
    assert await ex.fetch_all(_EXISTING, (["t1", "t2", "x"],)) == [("t1",), ("t2",)]
    assert await ex.execute(_RENAME, ("renamed", "t1")) == 1
    assert await ex.execute(_RENAME, ("renamed", "absent")) == 0
    await ex.write_many(_RENAME, [("a", "t1"), ("b", "t2")])
    assert await ex.fetch_all('SELECT "title" FROM "tasks" ORDER BY "id"') == [
        ("a",),
        ("b",),
    ]


async def test_postgres_write_many_is_all_or_nothing(pg: PersistenceBackend) -> None:
    ex: Executor = pg.tasks.executor  # type: ignore[attr-defined]
    await pg.tasks.save(task("t1"))
    with pytest.raises(psycopg.Error):
        # The second row breaks a NOT NULL column: the first is undone too.
        await ex.write_many(_RENAME, [("changed", "t1"), (None, "t1")])
    assert await ex.fetch_one(_TITLE, ("t1",)) == ("Title of t1",)


async def test_postgres_transaction_is_joined_and_rolled_back(
    pg: PersistenceBackend,
) -> None:
    ex: Executor = pg.tasks.executor  # type: ignore[attr-defined]
    await pg.tasks.save(task("t1"))
    with pytest.raises(Boom):
        async with ex.transaction("tasks.test"):
            await ex.execute(_RENAME, ("inside", "t1"))
            stored = await pg.tasks.get("t1")  # a generated call joins it
            assert stored is not None and stored.title == "inside"
            raise Boom
    stored = await pg.tasks.get("t1")
    assert stored is not None and stored.title == "Title of t1"


async def test_postgres_transaction_maps_driver_errors_when_named(
    pg: PersistenceBackend,
) -> None:
    ex: Executor = pg.tasks.executor  # type: ignore[attr-defined]
    with pytest.raises(QueryError, match=r"tasks\.custom"):
        async with ex.transaction("tasks.custom"):
            await ex.execute('SELECT * FROM "no_such_table"')
    with pytest.raises(psycopg.Error):
        async with ex.transaction():
            await ex.execute('SELECT * FROM "no_such_table"')


async def test_a_batch_error_names_duplicates_within_and_already_stored(
    pg: PersistenceBackend,
) -> None:
    ex: Executor = pg.tasks.executor  # type: ignore[attr-defined]
    await pg.tasks.save(task("t1"))
    clash = DuplicateRecordError("tasks.save_many: duplicate key")
    within = await ex.name_duplicates(clash, ["a", "b", "a"], _EXISTING)
    assert "duplicate key(s) 'a': nothing was written" in str(within)
    stored = await ex.name_duplicates(clash, ["t1", "new"], _EXISTING)
    assert "duplicate key(s) 't1': nothing was written" in str(stored)
    unnamed = await ex.name_duplicates(clash, [("t1", 1)], None)
    assert str(unnamed) == "tasks.save_many: duplicate key: nothing was written"
    many = await ex.name_duplicates(clash, [str(i) for i in range(7)] * 2)
    assert "'0', '1', '2', '3', '4' and 2 more" in str(many)


async def test_sqlite_batch_error_names_keys_already_stored(
    synthorg_backend_factory: BackendFactory,
) -> None:
    lite = await synthorg_backend_factory("sqlite")
    conns: Connections = lite.tasks.executor  # type: ignore[attr-defined]
    await lite.tasks.save(task("t1"))
    existing = 'SELECT "id" FROM "tasks" WHERE "id" IN (SELECT value FROM json_each(?))'
    clash = DuplicateRecordError("tasks.save_many: duplicate key")
    stored = await conns.name_duplicates(clash, ["new", "t1"], existing)
    assert "duplicate key(s) 't1': nothing was written" in str(stored)
    # The look-up failing names nothing; the batch error is still restated.
    broken = await conns.name_duplicates(clash, ["t1"], 'SELECT "id" FROM "nope"')
    assert str(broken) == "tasks.save_many: duplicate key: nothing was written"


async def test_postgres_pool_hands_out_the_most_recently_returned_connection(
    pg: PersistenceBackend,
) -> None:
    # LIFO: sequential calls stay on one hot server process instead of
    # rotating over every pooled connection (psycopg_pool's FIFO default).
    ex: Executor = pg.tasks.executor  # type: ignore[attr-defined]
    pool = ex.pool
    first = await pool.getconn()
    second = await pool.getconn()
    await pool.putconn(first)
    await pool.putconn(second)  # returned last: handed out next
    pids = [await ex.fetch_one("SELECT pg_backend_pid()") for _ in range(4)]
    assert pids == [(second.info.backend_pid,)] * 4
    # Concurrent checkouts still get distinct connections.
    a = await pool.getconn()
    b = await pool.getconn()
    try:
        assert a is second
        assert b is first
    finally:
        await pool.putconn(a)
        await pool.putconn(b)


async def test_postgres_executor_reuses_a_cursor_per_connection_safely(
    pg: PersistenceBackend,
) -> None:
    ex: Executor = pg.tasks.executor  # type: ignore[attr-defined]
    await pg.tasks.save(task("t1"))
    assert await ex.fetch_one(_TITLE, ("t1",)) == ("Title of t1",)
    conn = await ex.pool.getconn()
    kept = conn._cursor  # type: ignore[attr-defined]
    await ex.pool.putconn(conn)  # LIFO: the next call gets it back
    assert kept is not None
    # A failed statement leaves the kept cursor usable, with fresh results.
    with pytest.raises(psycopg.Error):
        await ex.fetch_one('SELECT "nope" FROM "tasks"')
    assert await ex.fetch_one(_TITLE, ("absent",)) is None
    assert await ex.execute(_RENAME, ("renamed", "t1")) == 1
    assert await ex.fetch_all(_TITLE, ("t1",)) == [("renamed",)]
    conn = await ex.pool.getconn()
    assert conn._cursor is kept  # type: ignore[attr-defined]
    await ex.pool.putconn(conn)
    # A large result is not kept alive by the connection.
    big = await ex.fetch_all("SELECT generate_series(1, 1000)")
    assert len(big) == 1000
    conn = await ex.pool.getconn()
    assert conn._cursor is None  # type: ignore[attr-defined]
    await ex.pool.putconn(conn)
    assert await ex.fetch_one("SELECT 7") == (7,)


async def test_postgres_tasks_of_one_transaction_get_their_own_results(
    pg: PersistenceBackend,
) -> None:
    # The joined connection serves every task of the block: each statement
    # gets its own cursor, so concurrent reads never see each other's rows.
    ex: Executor = pg.tasks.executor  # type: ignore[attr-defined]
    await pg.tasks.save_many([task(f"t{i}") for i in range(20)])

    async def title(i: int) -> Any:
        return await ex.fetch_one(_TITLE, (f"t{i}",))

    async with pg.transaction():
        got = await asyncio.gather(*(title(i) for i in range(20)))
    assert got == [(f"Title of t{i}",) for i in range(20)]
