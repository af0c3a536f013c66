"""Switching a new SQLite file to WAL while another process holds it.

Two processes that open the same new file in the same instant both switch
it to WAL. The switch needs an exclusive lock, and while another
connection holds a write lock on a file still in rollback mode SQLite
answers ``database is locked`` at once, without calling the busy handler.
That failed CI once (``test_two_processes_migrating_at_once``). Holding a
write transaction from a second connection reproduces the instant
deterministically: ``connect()`` must wait it out, as ``busy_timeout``
would for any other statement, and fail with a clear, retryable error only
when the lock outlives that wait.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from synthorg.persistence import (
    PersistenceConfig,
    PersistenceConnectionError,
    SQLiteConfig,
    create_backend,
)


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[str, sqlite3.Connection]]:
    """A rollback-journal file with another connection's write lock on it."""
    path = str(tmp_path / "new.db")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE scratch (x INTEGER)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO scratch VALUES (1)")
    try:
        yield path, other
    finally:
        other.close()


def _journal_mode(path: str) -> str:
    with sqlite3.connect(path) as probe:
        mode: str = probe.execute("PRAGMA journal_mode").fetchone()[0]
    return mode


async def test_connect_waits_for_another_connections_write_lock(
    held: tuple[str, sqlite3.Connection],
) -> None:
    path, other = held
    backend = create_backend(PersistenceConfig(sqlite=SQLiteConfig(path=path)))
    connecting = asyncio.create_task(backend.connect())
    await asyncio.sleep(0.3)
    assert not connecting.done(), "connect() gave up while the lock was held"
    other.execute("COMMIT")
    await asyncio.wait_for(connecting, timeout=10)
    try:
        await backend.migrate()
        await backend.set_setting("k", "v")
        assert await backend.get_setting("k") == "v"
    finally:
        await backend.disconnect()
    assert _journal_mode(path) == "wal"
    # The other connection's committed row is still there.
    with sqlite3.connect(path) as probe:
        assert probe.execute("SELECT x FROM scratch").fetchall() == [(1,)]


async def test_a_lock_held_past_the_busy_timeout_is_a_retryable_error(
    held: tuple[str, sqlite3.Connection],
) -> None:
    path, _ = held
    backend = create_backend(PersistenceConfig(sqlite=SQLiteConfig(path=path)))
    with pytest.raises(PersistenceConnectionError, match="locked") as caught:
        await asyncio.wait_for(backend.connect(), timeout=30)
    assert caught.value.is_retryable
    assert "new.db" in str(caught.value)
