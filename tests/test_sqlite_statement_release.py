"""A read that fails mid-fetch releases its statement (issue 9, defect 2).

aiosqlite's ``execute_fetchall`` left the cursor open when fetching raised:
the exception's traceback kept the cursor, the statement stayed active, and
the WAL reader connection kept its old snapshot. ``list_items``/``count``
then returned stale data while ``get`` was fresh, and WAL checkpoints stayed
busy. Every SQLite statement now runs through a helper that closes its
cursor on every path (reader thread, writer, inline point reads).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from synthorg.persistence import (
    PersistenceBackend,
    PersistenceConfig,
    PersistenceError,
    SQLiteConfig,
    Task,
    TaskFilterSpec,
    TaskType,
    create_backend,
)


def task(task_id: str, project: str = "apollo") -> Task:
    return Task(
        id=task_id,
        title=f"Title of {task_id}",
        type=TaskType.DEVELOPMENT,
        project=project,
        created_by="alice",
    )


@pytest.fixture
async def sqlite_file(tmp_path: Path) -> AsyncIterator[tuple[PersistenceBackend, str]]:
    path = str(tmp_path / "release.db")
    backend = create_backend(
        PersistenceConfig(backend="sqlite", sqlite=SQLiteConfig(path=path))
    )
    await backend.connect()
    await backend.migrate()
    try:
        yield backend, path
    finally:
        await backend.disconnect()


def raw(path: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """One statement on a connection of the test's own (autocommit)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def plant_invalid_utf8(path: str, task_id: str) -> None:
    raw(path, "UPDATE tasks SET title = CAST(x'ff' AS TEXT) WHERE id = ?", task_id)


def checkpoint_is_not_busy(path: str) -> None:
    busy, _, _ = raw(path, "PRAGMA wal_checkpoint(TRUNCATE)")[0]
    assert busy == 0, "a connection still holds an old WAL snapshot"


async def test_a_failed_list_read_does_not_pin_the_reader(
    sqlite_file: tuple[PersistenceBackend, str],
) -> None:
    backend, path = sqlite_file
    await backend.tasks.save_many([task("a"), task("b"), task("bad")])
    plant_invalid_utf8(path, "bad")
    # Keep the errors alive, as an error tracker holding tracebacks would.
    failures: list[pytest.ExceptionInfo[PersistenceError]] = []
    with pytest.raises(PersistenceError) as listed:
        await backend.tasks.list_items()
    failures.append(listed)
    with pytest.raises(PersistenceError) as point:
        await backend.tasks.get("bad")  # inline, then the reader thread
    failures.append(point)

    raw(path, "DELETE FROM tasks WHERE id = 'bad'")
    await backend.tasks.save_many([task(f"n{i:03d}") for i in range(50)])
    for i in range(50, 100):
        await backend.tasks.save(task(f"n{i:03d}"))

    ids = [t.id for t in await backend.tasks.list_items(limit=1000)]
    assert len(ids) == 102
    assert "bad" not in ids
    assert await backend.tasks.count(TaskFilterSpec()) == 102
    checkpoint_is_not_busy(path)
    assert len(failures) == 2


async def test_a_failed_read_inside_a_transaction_releases_the_writer(
    sqlite_file: tuple[PersistenceBackend, str],
) -> None:
    backend, path = sqlite_file
    await backend.tasks.save_many([task("a"), task("bad")])
    plant_invalid_utf8(path, "bad")
    failures: list[pytest.ExceptionInfo[PersistenceError]] = []
    async with backend.transaction():
        await backend.tasks.save(task("in-tx"))
        with pytest.raises(PersistenceError) as inside:
            await backend.tasks.list_items()  # on the writer: its own writes
        failures.append(inside)
    raw(path, "DELETE FROM tasks WHERE id = 'bad'")
    for i in range(100):
        await backend.tasks.save(task(f"n{i:03d}"))
    assert len(await backend.tasks.list_items(limit=1000)) == 102
    assert raw(path, "SELECT count(*) FROM tasks") == [(102,)]
    checkpoint_is_not_busy(path)
    assert len(failures) == 1
