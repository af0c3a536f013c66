"""SQLite point reads on the event-loop thread: fast, bounded, isolated.

``Connections.read_point`` runs key/unique lookups on a read-only WAL
connection owned by the loop thread. These tests pin down what makes that
safe: committed data only, the caller's own transaction still visible to
itself, a bounded amount of work before falling back to the reader thread,
and no inline connection where WAL cannot guarantee a non-blocking read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from synthorg.persistence import (
    PersistenceConfig,
    SQLiteConfig,
    Task,
    TaskType,
    create_backend,
)
from synthorg.persistence.sqlite.backend import SQLitePersistenceBackend


def task(task_id: str, title: str = "t") -> Task:
    return Task(
        id=task_id,
        title=title,
        type=TaskType.DEVELOPMENT,
        project="p",
        created_by="a",
    )


async def _backend(path: str, inline: bool = True) -> SQLitePersistenceBackend:
    backend = create_backend(
        PersistenceConfig(sqlite=SQLiteConfig(path=path, inline_point_reads=inline))
    )
    assert isinstance(backend, SQLitePersistenceBackend)
    await backend.connect()
    await backend.migrate()
    return backend


@pytest.fixture
async def file_backend(tmp_path: Path) -> AsyncIterator[SQLitePersistenceBackend]:
    backend = await _backend(str(tmp_path / "inline.db"))
    yield backend
    await backend.disconnect()


def _conns(backend: SQLitePersistenceBackend) -> Any:
    return backend._conns


async def test_file_databases_read_points_inline(
    file_backend: SQLitePersistenceBackend,
) -> None:
    assert _conns(file_backend).inline is not None
    await file_backend.tasks.save(task("a", "first"))
    got = await file_backend.tasks.get("a")
    assert got is not None and got.title == "first"
    await file_backend.tasks.save(task("a", "second"))  # committed by the writer
    got = await file_backend.tasks.get("a")
    assert got is not None and got.title == "second"


async def test_memory_databases_and_opt_out_have_no_inline_connection(
    tmp_path: Path,
) -> None:
    memory = await _backend(":memory:")
    opted_out = await _backend(str(tmp_path / "off.db"), inline=False)
    try:
        assert _conns(memory).inline is None
        assert _conns(opted_out).inline is None
        for backend in (memory, opted_out):
            await backend.tasks.save(task("x", "through the reader"))
            got = await backend.tasks.get("x")
            assert got is not None and got.title == "through the reader"
    finally:
        await memory.disconnect()
        await opted_out.disconnect()


async def test_inline_reads_never_see_another_tasks_open_transaction(
    file_backend: SQLitePersistenceBackend,
) -> None:
    db = file_backend.get_db()
    started, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with file_backend.write_context():
            await db.execute("BEGIN IMMEDIATE")
            await file_backend.tasks.save(task("uncommitted"))
            # Inside its own transaction the writer sees its own row.
            assert await file_backend.tasks.get("uncommitted") is not None
            started.set()
            await release.wait()
            await db.execute("ROLLBACK")

    job = asyncio.create_task(writer())
    await started.wait()
    assert await file_backend.tasks.get("uncommitted") is None
    release.set()
    await job
    assert await file_backend.tasks.get("uncommitted") is None


class NoReader:
    """Stands in for the reader thread: any fallback to it fails loudly."""

    async def execute_fetchall(self, *args: object) -> None:
        raise AssertionError("took the thread hop")

    @property
    def _conn(self) -> None:  # what the driver hands to the reader thread
        raise AssertionError("took the thread hop")


async def test_an_expensive_statement_is_interrupted_and_retried_off_loop(
    file_backend: SQLitePersistenceBackend,
) -> None:
    """The VM-step budget bounds the loop; the thread hop still answers."""
    heavy = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        "WHERE i < 200000) SELECT COUNT(*) FROM n"
    )
    conns = _conns(file_backend)
    reader = conns.reader
    conns.reader = NoReader()
    try:
        # Over budget inline, so it falls back (here: to the failing stand-in).
        with pytest.raises(AssertionError, match="thread hop"):
            await conns.read_point(heavy, ())
        # A point read right after gets a fresh budget and stays inline.
        await file_backend.tasks.save(task("b"))
        point = 'SELECT "id" FROM "tasks" WHERE "id" = ?'
        assert list(await conns.read_point(point, ("b",))) == [("b",)]
    finally:
        conns.reader = reader
    # With the real reader the heavy statement is answered off the loop.
    assert list(await conns.read_point(heavy, ())) == [(200000,)]


async def test_disconnect_closes_the_inline_connection(tmp_path: Path) -> None:
    backend = await _backend(str(tmp_path / "close.db"))
    inline = _conns(backend).inline
    await backend.disconnect()
    with pytest.raises(Exception, match="closed"):
        inline.execute("SELECT 1")
