"""SQLite only: the write lock of the shared connection, and two connections.

``write_context`` transactions never interleave, a repository write inside
one joins it, and two backends on one file never hit "database is locked".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from synthorg.persistence import (
    PersistenceBackend,
    PersistenceConfig,
    PersistenceError,
    SQLiteConfig,
    create_backend,
)
from tests.repositories._rows import (
    setting_row,
)


@asynccontextmanager
async def _sqlite_backend(path: Path) -> AsyncIterator[PersistenceBackend]:
    instance = create_backend(
        PersistenceConfig(backend="sqlite", sqlite=SQLiteConfig(path=str(path)))
    )
    await instance.connect()
    try:
        await instance.migrate()
        yield instance
    finally:
        await instance.disconnect()


@pytest.fixture
async def sqlite_backend(tmp_path: Path) -> AsyncIterator[PersistenceBackend]:
    """A connected, migrated SQLite backend on a fresh file (dialect tests)."""
    async with _sqlite_backend(tmp_path / "test.db") as instance:
        yield instance


async def test_sqlite_write_context_transactions_never_interleave(
    sqlite_backend: PersistenceBackend,
) -> None:
    backend = sqlite_backend
    db = backend.get_db()
    await db.execute("CREATE TABLE shape_markers (tx INTEGER NOT NULL, part TEXT)")

    async def transaction_writer(tx: int) -> None:
        async with backend.write_context():
            await db.execute("BEGIN IMMEDIATE")
            await db.execute(
                "INSERT INTO shape_markers (tx, part) VALUES (?, 'A')", (tx,)
            )
            await asyncio.sleep(0)
            await db.execute(
                "INSERT INTO shape_markers (tx, part) VALUES (?, 'B')", (tx,)
            )
            await db.execute("COMMIT")

    async def repository_writer(n: int) -> None:
        for i in range(5):
            await backend.settings.save(setting_row("race", f"w{n}-{i}", "v", "t"))
            await asyncio.sleep(0)

    jobs = [transaction_writer(tx) for tx in range(20)]
    jobs += [repository_writer(n) for n in range(10)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == [], failures
    assert not db.in_transaction

    rows = await db.execute_fetchall(
        "SELECT tx, part FROM shape_markers ORDER BY rowid"
    )
    pairs = [tuple(r) for r in rows]
    assert len(pairs) == 40
    for i in range(0, 40, 2):
        (tx_a, part_a), (tx_b, part_b) = pairs[i], pairs[i + 1]
        assert (part_a, part_b) == ("A", "B")
        assert tx_a == tx_b
    assert sorted(tx for tx, part in pairs if part == "A") == list(range(20))
    assert len(await backend.settings.get_namespace("race")) == 50


async def test_sqlite_repository_write_inside_write_context_joins_the_transaction(
    sqlite_backend: PersistenceBackend,
) -> None:
    """Re-entrancy: a repository write inside write_context neither deadlocks
    nor escapes the caller's transaction (ROLLBACK undoes it)."""
    backend = sqlite_backend
    db = backend.get_db()
    async with backend.write_context():
        await db.execute("BEGIN IMMEDIATE")
        await asyncio.wait_for(
            backend.settings.save(setting_row("ns", "inner", "v", "t")), timeout=5
        )
        await db.execute("ROLLBACK")
    assert await backend.settings.get(("ns", "inner")) is None


async def test_sqlite_two_backends_on_one_file_never_see_database_is_locked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.db"
    async with _sqlite_backend(path) as first, _sqlite_backend(path) as second:

        async def writer(instance: PersistenceBackend, name: str) -> None:
            for i in range(100):
                await instance.settings.save(
                    setting_row("shared", f"{name}-{i:03d}", "v", "t")
                )
                if i % 10 == 0:
                    await instance.settings.set_many(
                        [
                            setting_row("shared", f"{name}-batch-{i}-a", "v", "t"),
                            setting_row("shared", f"{name}-batch-{i}-b", "v", "t"),
                        ]
                    )

        results = await asyncio.gather(
            writer(first, "one"),
            writer(second, "two"),
            writer(first, "three"),
            writer(second, "four"),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        assert not any("locked" in str(f).lower() for f in failures), failures
        assert failures == [], failures
        assert all(not isinstance(r, PersistenceError) for r in results)
        expected = 4 * (100 + 2 * 10)
        assert len(await first.settings.get_namespace("shared")) == expected
        assert len(await second.settings.get_namespace("shared")) == expected
