"""A SQLite ``connect()`` cancelled at any await leaves nothing running.

``connect()`` opens the writer, configures it (several statements on its
aiosqlite worker thread), reads the applied revisions and opens the WAL
reader. Cancelled at loop step N for N = 0, 1, 2, ... until it completes,
every attempt must end with the backend disconnected and every connection it
had opened closed: no aiosqlite worker thread outlives the attempt (before
the fix, a cancel during configuration left the writer's thread running for
the life of the process). A later ``connect()`` works.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path

from synthorg.persistence import (
    PersistenceConfig,
    SQLiteConfig,
    TaskFilterSpec,
    create_backend,
)
from tests.faults._soak import report, trials


def _live_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive()}


async def _settled(baseline: set[threading.Thread], limit: float = 5.0) -> set[str]:
    """Threads started since ``baseline`` still alive after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        extra = {
            t for t in _live_threads() - baseline if "asyncio_" not in t.name
        }  # the loop's default executor threads (to_thread) are pooled
        if not extra or time.monotonic() >= deadline:
            return {t.name for t in extra}
        await asyncio.sleep(0.02)


async def test_cancelled_connect_leaves_no_connection_behind(tmp_path: Path) -> None:
    config = PersistenceConfig(
        backend="sqlite", sqlite=SQLiteConfig(path=str(tmp_path / "c.db"))
    )
    migrated = create_backend(config)
    await migrated.connect()
    await migrated.migrate()
    await migrated.disconnect()

    baseline = _live_threads()
    attempts = 0
    for _ in range(trials(1)):
        steps = 0
        while True:
            backend = create_backend(config)
            task = asyncio.ensure_future(backend.connect())
            for _ in range(steps):
                await asyncio.sleep(0)
            cancelled = task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            attempts += 1
            if not cancelled or not task.cancelled():
                # connect() completed before the cancel arrived: done.
                assert backend.is_connected
                await backend.disconnect()
                break
            assert backend.is_connected is False
            leaked = await _settled(baseline)
            assert not leaked, f"cancelled at step {steps}: threads left {leaked}"
            steps += 1
            assert steps < 10_000, "connect() never completed"

    # Nothing is left behind, and the database is fine to use.
    assert not await _settled(baseline)
    backend = create_backend(config)
    await backend.connect()
    try:
        assert await backend.health_check()
        assert await backend.tasks.count(TaskFilterSpec()) == 0
    finally:
        await backend.disconnect()
    report("cancelled sqlite connect", trials=attempts, leaked=0)
