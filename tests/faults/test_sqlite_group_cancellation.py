"""Cancellation of writers in a SQLite commit group, at every loop step.

Six writers queue behind a held write lock (so they form one group); the
lock is let go and one writer (each position in turn, the group's first
included) is cancelled after N event-loop steps, for N = 0, 1, 2, ...
until the group completes before the cancel arrives; then after seeded
random real delays (the group runs on the writer thread). After each
cancellation:

* the other writers returned normally and their rows are stored (read by
  an independent connection): a cancelled caller never fails or loses the
  others' writes, and nothing hangs;
* the cancelled caller raised ``CancelledError`` if the cancel reached it,
  and its row is stored or absent, never anything else; when it was
  cancelled while still queued (not handed to the thread) it is absent;
* when its ``CancelledError`` reached it, the writer connection had
  finished the group (not inside a transaction);
* the write lock is free, the writer is not in a transaction, another
  connection can ``BEGIN IMMEDIATE`` with ``busy_timeout = 0``, and the
  next write is acknowledged and stored.

The same checks cover a caller cancelled twice (the second cancel arrives
while it waits for its handed-off group).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from synthorg.persistence import (
    PersistenceBackend,
    PersistenceConfig,
    SQLiteConfig,
    Task,
    TaskType,
    create_backend,
)
from synthorg.persistence.sqlite.driver import Connections

STEP_LIMIT = 2_000  # a sweep that never completes is a hang, not a pass
WAIT = 15.0  # seconds: anything slower is a leaked lock or a lost caller
WRITERS = 6


def task(task_id: str) -> Task:
    return Task(
        id=task_id,
        title=f"Title of {task_id}",
        type=TaskType.DEVELOPMENT,
        project="cancel",
        created_by="alice",
    )


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[PersistenceBackend, Path]]:
    path = tmp_path / "cancel.db"
    backend = create_backend(
        PersistenceConfig(backend="sqlite", sqlite=SQLiteConfig(path=str(path)))
    )
    await backend.connect()
    try:
        await backend.migrate()
        yield backend, path
    finally:
        await backend.disconnect()


def stored(path: Path) -> set[str]:
    check = sqlite3.connect(path)
    try:
        return {row[0] for row in check.execute('SELECT "id" FROM "tasks"')}
    finally:
        check.close()


def assert_free(path: Path) -> None:
    """Another connection can take the write lock at once."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("PRAGMA busy_timeout = 0")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()


async def one_trial(
    backend: PersistenceBackend,
    path: Path,
    tag: str,
    victim: int,
    delay: int | float,
    *,
    twice: bool = False,
) -> bool:
    """One group with one cancelled writer; True when the group completed first."""
    conns = backend.tasks.executor
    assert isinstance(conns, Connections)
    db = backend.get_db()
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with backend.write_context():
            entered.set()
            await release.wait()

    held = asyncio.create_task(holder())
    await entered.wait()
    ids = [f"{tag}-{i}" for i in range(WRITERS)]
    writers = [asyncio.create_task(backend.tasks.save(task(i))) for i in ids]
    busy_when_cancelled: list[bool] = []
    writers[victim].add_done_callback(
        lambda _: busy_when_cancelled.append(db.in_transaction)
    )
    for _ in range(3):
        await asyncio.sleep(0)
    assert conns.group.pending  # all six queued in one open group
    release.set()
    if isinstance(delay, int):
        for _ in range(delay):
            await asyncio.sleep(0)
    else:
        await asyncio.sleep(delay)
    # Still open: not yet handed to the thread (one group per trial).
    was_queued = conns.group.pending
    hit = writers[victim].cancel()
    if twice and hit:
        await asyncio.sleep(0)
        writers[victim].cancel()
    async with asyncio.timeout(WAIT):
        await held
        results = await asyncio.gather(*writers, return_exceptions=True)
    now = stored(path)
    for i, result in enumerate(results):
        if i == victim:
            continue
        assert result is None, f"{tag}: writer {i} got {result!r}"
        assert ids[i] in now, f"{tag}: acknowledged write {i} lost"
    if hit:
        assert isinstance(results[victim], asyncio.CancelledError), results[victim]
        assert busy_when_cancelled == [False], f"{tag}: group still running"
        if was_queued:
            assert ids[victim] not in now, f"{tag}: a queued cancelled write ran"
    else:
        assert results[victim] is None
        assert ids[victim] in now
    assert not conns.lock.locked()
    assert not conns.group.pending
    assert not db.in_transaction
    assert_free(path)
    await backend.tasks.save(task(f"{tag}-next"))
    assert f"{tag}-next" in stored(path)
    return not hit


async def test_cancel_a_writer_of_a_group_at_every_step(
    setup: tuple[PersistenceBackend, Path],
) -> None:
    backend, path = setup
    trials = 0
    for victim in range(WRITERS):
        for n in range(STEP_LIMIT):
            trials += 1
            if await one_trial(backend, path, f"v{victim}n{n}", victim, n):
                break
        else:  # pragma: no cover - the sweep never completed
            pytest.fail(f"victim {victim}: never completed in {STEP_LIMIT} steps")
    rng = random.Random("group-cancel")
    for k in range(30):
        victim = rng.randrange(WRITERS)
        await one_trial(
            backend, path, f"r{k}", victim, rng.uniform(0, 0.004), twice=k % 2 == 0
        )
    assert trials > WRITERS
    conns = backend.tasks.executor
    assert isinstance(conns, Connections)
    assert conns.group.groups > 0  # the trials did form groups


async def test_a_queued_writer_cancelled_is_not_written(
    setup: tuple[PersistenceBackend, Path],
) -> None:
    backend, path = setup
    await one_trial(backend, path, "queued", 0, 0)
    # Cancelled before the holder let go: still queued, never written.
    assert "queued-0" not in stored(path)
    assert {f"queued-{i}" for i in range(1, WRITERS)} <= stored(path)
