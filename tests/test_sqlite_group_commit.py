"""SQLite group commit: concurrent single writes share one transaction.

Writes that queue while the backend's write lock is held are committed
together (``synthorg.persistence.sqlite.group_commit``). These tests hold
the lock from another task (``write_context``) so that the writes queue
deterministically, then check: every write of a group is acknowledged only
once stored and is read back (also from an independent connection); a
failing write fails alone with its own error; a failing ``BEGIN`` or
``COMMIT`` (real lock contention from a second connection) fails every
write of the group and stores none; writes inside the caller's own
transaction or ``write_context`` are never grouped. Each test asserts the
group's counters, so it fails on code without group commit.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from synthorg.persistence import (
    ApprovalRiskLevel,
    AuditEntry,
    AuditVerdict,
    ConstraintViolationError,
    DuplicateRecordError,
    InvalidValueError,
    PersistenceBackend,
    PersistenceConfig,
    PersistenceConnectionError,
    PersistenceError,
    SQLiteConfig,
    Task,
    TaskFilterSpec,
    TaskType,
    create_backend,
)
from synthorg.persistence.sqlite.driver import Connections, map_sqlite_error
from synthorg.persistence.sqlite.group_commit import MAX_GROUP, GroupCommit

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
WAIT = 30.0  # seconds: a hang fails the test instead of blocking the suite


def task(task_id: str, title: str | None = None) -> Task:
    return Task(
        id=task_id,
        title=title or f"Title of {task_id}",
        type=TaskType.DEVELOPMENT,
        project="group",
        created_by="alice",
    )


def audit(entry_id: str) -> AuditEntry:
    return AuditEntry(
        id=entry_id,
        timestamp=T0 + timedelta(minutes=1),
        agent_id="a1",
        tool_name="write_file",
        tool_category="file_system",
        action_type="code:write",
        arguments_hash="ab" * 32,
        verdict=AuditVerdict.ALLOW,
        risk_level=ApprovalRiskLevel.LOW,
        matched_rules=(),
        evaluation_duration_ms=1.5,
    )


@asynccontextmanager
async def open_backend(path: str, **config: Any) -> AsyncIterator[PersistenceBackend]:
    backend = create_backend(
        PersistenceConfig(backend="sqlite", sqlite=SQLiteConfig(path=path, **config))
    )
    await backend.connect()
    try:
        await backend.migrate()
        yield backend
    finally:
        await backend.disconnect()


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[PersistenceBackend]:
    async with open_backend(str(tmp_path / "group.db")) as instance:
        yield instance


def conns(backend: PersistenceBackend) -> Connections:
    executor = backend.tasks.executor
    assert isinstance(executor, Connections)
    return executor


def group_of(backend: PersistenceBackend) -> GroupCommit:
    return conns(backend).group


def stored_ids(path: Path, table: str = "tasks") -> set[str]:
    """Committed ids, read by an independent connection."""
    check = sqlite3.connect(path)
    try:
        return {row[0] for row in check.execute(f'SELECT "id" FROM "{table}"')}
    finally:
        check.close()


async def queued(
    backend: PersistenceBackend, calls: list[Callable[[], Awaitable[Any]]]
) -> list[Any]:
    """Run ``calls`` concurrently while another task holds the write lock.

    Every call queues behind the holder (so they form one group), then the
    holder lets go. Returns each call's result or exception, in order.
    """
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with backend.write_context():
            entered.set()
            await release.wait()

    held = asyncio.create_task(holder())
    await entered.wait()
    tasks = [asyncio.create_task(call()) for call in calls]
    for _ in range(3):
        await asyncio.sleep(0)  # every call reaches its queue
    assert conns(backend).lock.locked()
    release.set()
    async with asyncio.timeout(WAIT):
        await held
        return list(await asyncio.gather(*tasks, return_exceptions=True))


async def test_concurrent_writers_are_grouped_acknowledged_and_stored(
    backend: PersistenceBackend, tmp_path: Path
) -> None:
    n = 300
    seen: list[bool] = []

    async def writer(i: int) -> None:
        await backend.tasks.save(task(f"t{i}"))
        # Read-your-writes: acknowledged means committed and visible.
        seen.append(await backend.tasks.get(f"t{i}") is not None)

    async with asyncio.timeout(WAIT):
        await asyncio.gather(*(writer(i) for i in range(n)))
    assert seen == [True] * n
    assert stored_ids(tmp_path / "group.db") == {f"t{i}" for i in range(n)}
    group = group_of(backend)
    # The first writer takes the free lock alone; the rest queue behind it
    # and go in groups of at most MAX_GROUP.
    assert group.grouped == n - 1
    assert group.groups == math.ceil((n - 1) / MAX_GROUP)
    assert group.failed == 0
    assert not conns(backend).lock.locked()
    assert not backend.get_db().in_transaction


async def test_a_lone_writer_is_not_grouped(backend: PersistenceBackend) -> None:
    for i in range(20):
        await backend.tasks.save(task(f"lone{i}"))
    assert group_of(backend).groups == 0
    assert len(await backend.tasks.query(TaskFilterSpec(), limit=50)) == 20


async def test_a_group_keeps_arrival_order(
    backend: PersistenceBackend, tmp_path: Path
) -> None:
    results = await queued(
        backend,
        [
            lambda: backend.tasks.save(task("same", "first")),
            lambda: backend.tasks.save(task("same", "second")),
            lambda: backend.tasks.delete("same"),
            lambda: backend.tasks.save(task("same", "third")),
            lambda: backend.tasks.save(task("same", "last")),
        ],
    )
    assert results == [None, None, True, None, None]
    got = await backend.tasks.get("same")
    assert got is not None
    assert got.title == "last"
    assert group_of(backend).groups == 1
    assert group_of(backend).grouped == 5


async def test_one_failing_write_fails_alone(
    backend: PersistenceBackend, tmp_path: Path
) -> None:
    executor = conns(backend)
    await backend.audit_entries.append(audit("dup"))
    await backend.tasks.save(task("checked"))
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: backend.tasks.save(task("ok1")),
        # duplicate key on an insert-only append
        lambda: backend.audit_entries.append(audit("dup")),
        lambda: backend.audit_entries.append(audit("a-new")),
        # NOT NULL violation
        lambda: executor.write('INSERT INTO "tasks" ("id") VALUES (?)', ("bare",)),
        lambda: backend.tasks.save(task("ok2")),
        # CHECK violation
        lambda: executor.write(
            'UPDATE "tasks" SET "status" = ? WHERE "id" = ?', ("nope", "checked")
        ),
        # a value SQLite cannot bind (an int beyond 64 bits)
        lambda: executor.write(
            'UPDATE "tasks" SET "max_retries" = ? WHERE "id" = ?', (2**70, "checked")
        ),
        lambda: backend.tasks.save(task("ok3")),
    ]
    results = await queued(backend, calls)
    assert isinstance(results[1], DuplicateRecordError)
    assert isinstance(results[3], sqlite3.IntegrityError)
    assert "NOT NULL" in str(results[3])
    assert isinstance(results[5], sqlite3.IntegrityError)
    assert "CHECK" in str(results[5])
    assert isinstance(results[6], OverflowError)
    # Mapped as every generated method maps them.
    assert isinstance(map_sqlite_error(results[3], "t"), ConstraintViolationError)
    assert isinstance(map_sqlite_error(results[5], "t"), ConstraintViolationError)
    assert isinstance(map_sqlite_error(results[6], "t"), InvalidValueError)
    for i in (0, 2, 4, 7):
        assert not isinstance(results[i], BaseException), results[i]
    path = tmp_path / "group.db"
    assert {"ok1", "ok2", "ok3", "checked"} <= stored_ids(path)
    assert "bare" not in stored_ids(path)
    assert stored_ids(path, "audit_entries") == {"dup", "a-new"}
    checked = await backend.tasks.get("checked")
    assert checked is not None
    assert checked.status.value == "created"
    assert checked.max_retries == task("checked").max_retries
    group = group_of(backend)
    assert (group.groups, group.grouped, group.failed) == (1, len(calls), 0)


async def test_a_deferred_constraint_at_commit_fails_only_its_write(
    backend: PersistenceBackend, tmp_path: Path
) -> None:
    db = backend.get_db()
    await db.execute("CREATE TABLE gc_parent (id TEXT PRIMARY KEY)")
    await db.execute(
        "CREATE TABLE gc_child (id TEXT PRIMARY KEY, parent TEXT"
        " REFERENCES gc_parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    await db.execute("INSERT INTO gc_parent VALUES ('p')")
    executor = conns(backend)
    insert = "INSERT INTO gc_child (id, parent) VALUES (?, ?)"
    results = await queued(
        backend,
        [
            lambda: executor.write(insert, ("c1", "p")),
            lambda: executor.write(insert, ("orphan", "missing")),
            lambda: executor.write(insert, ("c2", "p")),
        ],
    )
    assert results[0] == [] and results[2] == []
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert "FOREIGN KEY" in str(results[1])
    assert stored_ids(tmp_path / "group.db", "gc_child") == {"c1", "c2"}
    assert group_of(backend).groups == 1


async def _whole_group_fails(
    backend: PersistenceBackend, path: Path, blocker: sqlite3.Connection
) -> None:
    """The queued group fails at BEGIN/COMMIT while ``blocker`` holds its lock."""
    db = backend.get_db()
    await db.execute("PRAGMA busy_timeout = 50")
    try:
        results = await queued(
            backend, [lambda i=i: backend.tasks.save(task(f"g{i}")) for i in range(6)]
        )
    finally:
        blocker.rollback()
        await db.execute("PRAGMA busy_timeout = 5000")
    for result in results:
        assert isinstance(result, PersistenceError), result
        assert "locked" in str(result)
    assert not db.in_transaction
    assert not {f"g{i}" for i in range(6)} & stored_ids(path)
    group = group_of(backend)
    assert (group.groups, group.failed) == (0, 1)
    # The connection is clean: the next writes (lone and grouped) commit.
    await backend.tasks.save(task("after"))
    await asyncio.gather(*(backend.tasks.save(task(f"h{i}")) for i in range(4)))
    assert {"after", "h0", "h1", "h2", "h3"} <= stored_ids(path)


async def test_a_busy_begin_fails_the_whole_group(
    backend: PersistenceBackend, tmp_path: Path
) -> None:
    path = tmp_path / "group.db"
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process's write lock
        await _whole_group_fails(backend, path, blocker)
    finally:
        blocker.close()


async def test_a_failing_commit_fails_the_whole_group(tmp_path: Path) -> None:
    # Rollback journal: BEGIN IMMEDIATE succeeds beside a reader, but COMMIT
    # needs the exclusive lock, which an open read transaction denies.
    path = tmp_path / "journal.db"
    async with open_backend(str(path), wal_mode=False) as backend:
        blocker = sqlite3.connect(path)
        try:
            blocker.execute("BEGIN")
            blocker.execute('SELECT COUNT(*) FROM "tasks"').fetchall()
            await _whole_group_fails(backend, path, blocker)
        finally:
            blocker.close()


async def test_writes_in_a_transaction_are_not_grouped_and_roll_back(
    backend: PersistenceBackend, tmp_path: Path
) -> None:
    class Boom(Exception):
        pass

    go = asyncio.Event()

    async def outsider(i: int) -> None:
        await go.wait()
        await backend.tasks.save(task(f"out{i}"))

    # Started before the block: these tasks do not share its hold.
    outside = [asyncio.create_task(outsider(i)) for i in range(5)]
    with pytest.raises(Boom):
        async with backend.transaction():
            # Tasks started in the block join it (they inherit its hold).
            await asyncio.gather(
                *(backend.tasks.save(task(f"in{i}")) for i in range(10))
            )
            assert group_of(backend).groups == 0
            # Other tasks' writes wait for the block, grouped.
            go.set()
            for _ in range(3):
                await asyncio.sleep(0)
            assert group_of(backend).pending
            raise Boom
    async with asyncio.timeout(WAIT):
        await asyncio.gather(*outside)
    stored = stored_ids(tmp_path / "group.db")
    assert not {f"in{i}" for i in range(10)} & stored
    assert {f"out{i}" for i in range(5)} <= stored
    group = group_of(backend)
    assert (group.groups, group.grouped) == (1, 5)


async def test_writes_in_write_context_are_not_grouped(
    backend: PersistenceBackend, tmp_path: Path
) -> None:
    async with backend.write_context():
        await asyncio.gather(*(backend.tasks.save(task(f"w{i}")) for i in range(10)))
    assert group_of(backend).groups == 0
    assert {f"w{i}" for i in range(10)} <= stored_ids(tmp_path / "group.db")


async def test_in_memory_database_groups_too() -> None:
    async with open_backend(":memory:") as backend:
        async with asyncio.timeout(WAIT):
            await asyncio.gather(
                *(backend.tasks.save(task(f"m{i}")) for i in range(50))
            )
        assert len(await backend.tasks.query(TaskFilterSpec(), limit=100)) == 50
        assert group_of(backend).grouped == 49


async def test_a_write_after_disconnect_in_a_queue_is_a_connection_error(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "closing.db")
    async with open_backend(path) as backend:
        entered = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            async with backend.write_context():
                entered.set()
                await release.wait()

        held = asyncio.create_task(holder())
        await entered.wait()
        repo = backend.tasks
        waiting = [asyncio.create_task(repo.save(task(f"c{i}"))) for i in range(3)]
        for _ in range(3):
            await asyncio.sleep(0)
        await backend.disconnect()
        release.set()
        async with asyncio.timeout(WAIT):
            await held
            results = await asyncio.gather(*waiting, return_exceptions=True)
        for result in results:
            assert isinstance(result, PersistenceConnectionError), result


async def test_a_write_out_of_space_fails_alone(
    backend: PersistenceBackend, tmp_path: Path
) -> None:
    # SQLITE_FULL in a statement ends SQLite's transaction: the group then
    # runs each write alone, and only the one that does not fit fails.
    for i in range(20):
        await backend.tasks.save(task(f"pre{i}"))
    db = backend.get_db()
    rows = await db.execute_fetchall("PRAGMA page_count")
    pages = next(iter(rows))[0]
    await db.execute(f"PRAGMA max_page_count = {pages + 20}")
    try:
        results = await queued(
            backend,
            [
                lambda: backend.tasks.save(task("fits1")),
                lambda: backend.tasks.save(task("huge", "x" * 400_000)),
                lambda: backend.tasks.save(task("fits2")),
            ],
        )
    finally:
        await db.execute("PRAGMA max_page_count = 4294967294")
    assert results[0] is None and results[2] is None, results
    assert isinstance(results[1], PersistenceConnectionError), results[1]
    stored = stored_ids(tmp_path / "group.db")
    assert {"fits1", "fits2"} <= stored
    assert "huge" not in stored
    assert group_of(backend).groups == 1
    assert not db.in_transaction
