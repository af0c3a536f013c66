"""Behaviour of the settings repository on both backends, plus SQLite writers.

Covers ``get_namespace``, the compare-and-set rules of ``set_if_unchanged``
and the all-or-nothing ``set_many``, the namespace deletes, the backend's
``_system`` settings, races between concurrent compare-and-set calls, and
(SQLite only) that ``write_context`` transactions never interleave and that
two processes-worth of connections on one file never hit "database is
locked".
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
    PersistenceConnectionError,
    PersistenceError,
    SettingRow,
    SQLiteConfig,
    create_backend,
)


def row(namespace: str, key: str, value: str, updated_at: str) -> SettingRow:
    return SettingRow(namespace=namespace, key=key, value=value, updated_at=updated_at)


async def snapshot(backend: PersistenceBackend, *namespaces: str) -> list[SettingRow]:
    """Every row of the given namespaces, in key order."""
    rows: list[SettingRow] = []
    for namespace in namespaces:
        rows.extend(await backend.settings.get_namespace(namespace))
    return rows


# ---------------------------------------------------------------------------
# get_namespace / set_if_unchanged
# ---------------------------------------------------------------------------


async def test_get_namespace_sorted_by_key_and_only_that_namespace(
    backend: PersistenceBackend,
) -> None:
    for key in ["zeta", "alpha", "Mid", "beta"]:
        await backend.settings.save(row("ui", key, f"v-{key}", "t1"))
    await backend.settings.save(row("uix", "aaa", "other", "t1"))
    await backend.settings.save(row("u", "aaa", "other", "t1"))
    rows = await backend.settings.get_namespace("ui")
    assert [r.key for r in rows] == ["Mid", "alpha", "beta", "zeta"]
    assert all(r.namespace == "ui" for r in rows)
    assert rows[1] == row("ui", "alpha", "v-alpha", "t1")
    assert await backend.settings.get_namespace("missing") == ()


async def test_set_if_unchanged_none_upserts(backend: PersistenceBackend) -> None:
    settings = backend.settings
    assert await settings.set_if_unchanged(row("ns", "k", "v1", "t1"), None) is True
    assert await settings.get(("ns", "k")) == row("ns", "k", "v1", "t1")
    assert await settings.set_if_unchanged(row("ns", "k", "v2", "t2")) is True
    assert await settings.get(("ns", "k")) == row("ns", "k", "v2", "t2")


async def test_set_if_unchanged_empty_string_inserts_only_when_absent(
    backend: PersistenceBackend,
) -> None:
    settings = backend.settings
    assert await settings.set_if_unchanged(row("ns", "k", "first", "t1"), "") is True
    assert await settings.get(("ns", "k")) == row("ns", "k", "first", "t1")
    assert await settings.set_if_unchanged(row("ns", "k", "second", "t2"), "") is False
    assert await settings.get(("ns", "k")) == row("ns", "k", "first", "t1")


async def test_set_if_unchanged_with_the_current_version_writes(
    backend: PersistenceBackend,
) -> None:
    settings = backend.settings
    await settings.save(row("ns", "k", "v1", "t1"))
    assert await settings.set_if_unchanged(row("ns", "k", "v2", "t2"), "t1") is True
    assert await settings.get(("ns", "k")) == row("ns", "k", "v2", "t2")


async def test_set_if_unchanged_with_a_stale_version_is_refused(
    backend: PersistenceBackend,
) -> None:
    settings = backend.settings
    await settings.save(row("ns", "k", "v1", "t1"))
    assert await settings.set_if_unchanged(row("ns", "k", "v2", "t2"), "t1") is True
    assert await settings.set_if_unchanged(row("ns", "k", "v3", "t3"), "t1") is False
    assert await settings.get(("ns", "k")) == row("ns", "k", "v2", "t2")


async def test_set_if_unchanged_with_a_version_for_a_missing_row_is_refused(
    backend: PersistenceBackend,
) -> None:
    assert (
        await backend.settings.set_if_unchanged(row("ns", "k", "v", "t2"), "t1")
        is False
    )
    assert await backend.settings.get(("ns", "k")) is None


# ---------------------------------------------------------------------------
# set_many
# ---------------------------------------------------------------------------


async def test_set_many_writes_everything_when_every_compare_holds(
    backend: PersistenceBackend,
) -> None:
    settings = backend.settings
    await settings.save(row("ns", "existing", "old", "t1"))
    await settings.save(row("ns", "plain", "old", "t1"))
    items = [
        row("ns", "fresh", "new-fresh", "t2"),  # absent, claimed with ""
        row("ns", "existing", "new-existing", "t2"),  # current version
        row("ns", "plain", "new-plain", "t2"),  # not in the map: upsert
        row("other", "fresh2", "new-fresh2", "t2"),  # not in the map, absent
    ]
    expected = {("ns", "fresh"): "", ("ns", "existing"): "t1"}
    assert await settings.set_many(items, expected) is True
    assert await snapshot(backend, "ns", "other") == [
        row("ns", "existing", "new-existing", "t2"),
        row("ns", "fresh", "new-fresh", "t2"),
        row("ns", "plain", "new-plain", "t2"),
        row("other", "fresh2", "new-fresh2", "t2"),
    ]


async def test_set_many_without_a_map_upserts_all(backend: PersistenceBackend) -> None:
    await backend.settings.save(row("ns", "a", "old", "t1"))
    items = [row("ns", "a", "A", "t2"), row("ns", "b", "B", "t2")]
    assert await backend.settings.set_many(items) is True
    assert await snapshot(backend, "ns") == items
    assert await backend.settings.set_many([], {}) is True


@pytest.mark.parametrize(
    "failing",
    [
        ("existing", "stale"),  # wrong version of an existing row
        ("taken", ""),  # "" (must not exist) on an existing row
        ("ghost", "t1"),  # a version for a row that does not exist
    ],
    ids=["stale_version", "empty_on_existing", "version_on_missing"],
)
async def test_set_many_is_all_or_nothing_when_one_compare_fails(
    backend: PersistenceBackend, failing: tuple[str, str]
) -> None:
    settings = backend.settings
    await settings.save(row("ns", "existing", "old-existing", "t1"))
    await settings.save(row("ns", "plain", "old-plain", "t1"))
    await settings.save(row("ns", "taken", "old-taken", "t1"))
    await settings.save(row("other", "x", "old-x", "t1"))
    before = await snapshot(backend, "ns", "other")
    failing_key, failing_version = failing
    items = [
        row("ns", "fresh", "new", "t2"),  # earlier: absent, claimed with ""
        row("ns", "plain", "new", "t2"),  # earlier: unconditional upsert
        row("other", "x", "new", "t2"),  # earlier: compare that holds
        row("other", "brand-new", "new", "t2"),  # earlier: new, no compare
        row("ns", failing_key, "new", "t2"),  # the compare that fails
        row("ns", "after", "new", "t2"),  # later: never reached
    ]
    expected = {
        ("ns", "fresh"): "",
        ("other", "x"): "t1",
        ("ns", failing_key): failing_version,
    }
    assert await settings.set_many(items, expected) is False
    assert await snapshot(backend, "ns", "other") == before
    assert await settings.get(("ns", "fresh")) is None
    assert await settings.get(("other", "brand-new")) is None
    assert await settings.get(("ns", "after")) is None
    # The repository is still usable afterwards (the transaction was closed).
    assert await settings.set_many([row("ns", "fresh", "ok", "t3")]) is True
    assert await settings.get(("ns", "fresh")) == row("ns", "fresh", "ok", "t3")


async def test_failed_set_many_is_never_visible_to_concurrent_readers(
    backend: PersistenceBackend, request: pytest.FixtureRequest
) -> None:
    """A set_many that ends False must not be observable half-done.

    Readers polling while a set_many is in flight must only ever see the
    committed state. On SQLite file databases reads use a separate WAL
    reader connection; on :memory: they wait for the writer's transaction.
    """
    settings = backend.settings
    await settings.save(row("ns", "existing", "old", "t1"))
    done = asyncio.Event()
    observed: list[SettingRow | None] = []

    async def reader() -> None:
        while not done.is_set():
            observed.append(await settings.get(("ns", "fresh")))
            observed.append(await settings.get(("ns", "existing")))
            await asyncio.sleep(0)

    async def writer() -> list[bool]:
        results = []
        for _ in range(30):
            results.append(
                await settings.set_many(
                    [
                        row("ns", "fresh", "new", "t2"),
                        row("ns", "existing", "new", "t2"),
                        row("ns", "guard", "new", "t2"),
                    ],
                    {("ns", "guard"): "no-such-version"},
                )
            )
            await asyncio.sleep(0)
        done.set()
        return results

    results, _ = await asyncio.gather(writer(), reader())
    assert set(results) == {False}
    assert len(observed) > 0
    uncommitted = [r for r in observed if r is not None and r.value == "new"]
    assert uncommitted == []
    assert await snapshot(backend, "ns") == [row("ns", "existing", "old", "t1")]


async def test_set_many_after_disconnect_is_a_connection_error(
    backend: PersistenceBackend, request: pytest.FixtureRequest
) -> None:
    """Like every generated method, set_many reports a closed connection as
    PersistenceConnectionError (a held repository outliving disconnect())."""
    settings = backend.settings
    await backend.disconnect()
    with pytest.raises(PersistenceConnectionError):
        await settings.save(row("ns", "k", "v", "t"))
    with pytest.raises(PersistenceConnectionError):
        await settings.set_many([row("ns", "k", "v", "t")])


# ---------------------------------------------------------------------------
# namespace deletes and the backend's _system settings
# ---------------------------------------------------------------------------


async def test_delete_namespace_counts_and_spares_other_namespaces(
    backend: PersistenceBackend,
) -> None:
    for key in ["a", "b", "c"]:
        await backend.settings.save(row("doomed", key, key, "t1"))
    await backend.settings.save(row("kept", "a", "a", "t1"))
    await backend.settings.save(row("doomed-not", "a", "a", "t1"))
    assert await backend.settings.delete_namespace("doomed") == 3
    assert await backend.settings.get_namespace("doomed") == ()
    assert len(await backend.settings.get_namespace("kept")) == 1
    assert len(await backend.settings.get_namespace("doomed-not")) == 1
    assert await backend.settings.delete_namespace("doomed") == 0


async def test_delete_namespace_returning_keys(backend: PersistenceBackend) -> None:
    keys = {"x", "y", "Zed", "ünï"}
    for key in keys:
        await backend.settings.save(row("doomed", key, "v", "t1"))
    await backend.settings.save(row("kept", "x", "v", "t1"))
    deleted = await backend.settings.delete_namespace_returning_keys("doomed")
    assert isinstance(deleted, tuple)
    assert len(deleted) == len(keys)
    assert set(deleted) == keys
    assert await backend.settings.get_namespace("doomed") == ()
    assert await backend.settings.get(("kept", "x")) is not None
    assert await backend.settings.delete_namespace_returning_keys("doomed") == ()
    assert await backend.settings.delete_namespace_returning_keys("never") == ()


async def test_backend_settings_use_the_system_namespace(
    backend: PersistenceBackend,
) -> None:
    assert await backend.get_setting("theme") is None
    await backend.set_setting("theme", "dark")
    assert await backend.get_setting("theme") == "dark"
    stored = await backend.settings.get(("_system", "theme"))
    assert stored is not None
    assert stored.value == "dark"
    assert stored.updated_at
    await backend.set_setting("theme", "light")
    assert await backend.get_setting("theme") == "light"
    assert [r.key for r in await backend.settings.get_namespace("_system")] == ["theme"]
    # Another namespace with the same key is not what get_setting reads.
    await backend.settings.save(row("ui", "theme", "neon", "t1"))
    assert await backend.get_setting("theme") == "light"
    await backend.settings.save(row("_system", "raw", "direct", "t1"))
    assert await backend.get_setting("raw") == "direct"


# ---------------------------------------------------------------------------
# concurrency (both backends)
# ---------------------------------------------------------------------------


async def test_concurrent_set_if_unchanged_has_exactly_one_winner(
    backend: PersistenceBackend,
) -> None:
    await backend.settings.save(row("ns", "k", "initial", "v0"))
    candidates = [row("ns", "k", f"value-{i}", f"v1-{i:02d}") for i in range(50)]
    results = await asyncio.gather(
        *(backend.settings.set_if_unchanged(c, "v0") for c in candidates)
    )
    assert results.count(True) == 1
    winner = candidates[results.index(True)]
    assert await backend.settings.get(("ns", "k")) == winner


async def test_concurrent_set_many_claims_of_one_fresh_key_have_one_winner(
    backend: PersistenceBackend,
) -> None:
    claims = [
        [row("ns", "lock", f"owner-{i}", f"t{i}"), row("ns", f"side-{i}", "x", "t")]
        for i in range(20)
    ]
    results = await asyncio.gather(
        *(backend.settings.set_many(items, {("ns", "lock"): ""}) for items in claims)
    )
    assert results.count(True) == 1
    winner = results.index(True)
    assert await backend.settings.get(("ns", "lock")) == claims[winner][0]
    # Each loser's side write was rolled back with its failed claim.
    rows = await backend.settings.get_namespace("ns")
    assert {r.key for r in rows} == {"lock", f"side-{winner}"}


# ---------------------------------------------------------------------------
# SQLite only: the shared connection's write lock, and two connections
# ---------------------------------------------------------------------------


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
            await backend.settings.save(row("race", f"w{n}-{i}", "v", "t"))
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
            backend.settings.save(row("ns", "inner", "v", "t")), timeout=5
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
                await instance.settings.save(row("shared", f"{name}-{i:03d}", "v", "t"))
                if i % 10 == 0:
                    await instance.settings.set_many(
                        [
                            row("shared", f"{name}-batch-{i}-a", "v", "t"),
                            row("shared", f"{name}-batch-{i}-b", "v", "t"),
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
