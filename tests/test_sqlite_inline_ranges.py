"""SQLite counts and pages on the event-loop thread: same answers, bounded.

Counts (``read_range``) and LIMIT-bounded pages (``read_page``) try the
loop-thread connection first, within a VM-step budget, and fall back to the
reader thread past it (:mod:`synthorg.persistence.sqlite.inline`). These
tests hold what makes that safe: the inline answer equals the thread path's
for any data and filters; a count or page too big for its budget is retried
whole and is still exact; the caller's own transaction sees its writes;
another writer's open transaction is invisible; an interrupted statement
releases its snapshot. ``Connections.inline_stats`` says which path ran.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthorg.persistence import (
    PersistenceConfig,
    SQLiteConfig,
    Task,
    TaskFilterSpec,
    TaskStatus,
    TaskType,
    create_backend,
)
from synthorg.persistence.sqlite import inline
from synthorg.persistence.sqlite.backend import SQLitePersistenceBackend
from synthorg.persistence.sqlite.driver import Connections

STATUSES = (TaskStatus.CREATED, TaskStatus.ASSIGNED, TaskStatus.COMPLETED)


def task(
    task_id: str,
    project: str = "p",
    status: TaskStatus = TaskStatus.CREATED,
    assigned_to: str | None = None,
) -> Task:
    return Task(
        id=task_id,
        title=f"title of {task_id}",
        type=TaskType.DEVELOPMENT,
        project=project,
        created_by="a",
        status=status,
        assigned_to=assigned_to,
    )


async def _backend(path: str, inline_reads: bool = True) -> SQLitePersistenceBackend:
    backend = create_backend(
        PersistenceConfig(
            sqlite=SQLiteConfig(path=path, inline_point_reads=inline_reads)
        )
    )
    assert isinstance(backend, SQLitePersistenceBackend)
    await backend.connect()
    await backend.migrate()
    return backend


@pytest.fixture
async def pair(
    tmp_path: Path,
) -> AsyncIterator[tuple[SQLitePersistenceBackend, SQLitePersistenceBackend, str]]:
    """Two backends on one file: inline reads on, and off (the thread path)."""
    path = str(tmp_path / "ranges.db")
    fast = await _backend(path)
    slow = await _backend(path, inline_reads=False)
    try:
        yield fast, slow, path
    finally:
        await fast.disconnect()
        await slow.disconnect()


def conns(backend: SQLitePersistenceBackend) -> Connections:
    c = backend._conns
    assert c is not None
    return c


def stats(backend: SQLitePersistenceBackend) -> dict[str, int]:
    """The inline path's counters so far, by name."""
    s = conns(backend).inline_stats
    assert s is not None
    return asdict(s)


def since(backend: SQLitePersistenceBackend, before: dict[str, int]) -> dict[str, int]:
    """The counters that changed since ``before``, with how much."""
    now = stats(backend)
    return {k: now[k] - before[k] for k in now if now[k] != before[k]}


def checkpoint_is_not_busy(path: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    assert busy == 0, "a connection still holds an old WAL snapshot"


def vm_steps(path: str, sql: str, params: Any) -> int:
    """The SQLite VM instructions ``sql`` runs (progress handler every step)."""
    conn = sqlite3.connect(path, isolation_level=None)
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0

    try:
        conn.execute(sql, params).fetchall()  # schema loaded outside the count
        conn.set_progress_handler(tick, 1)
        conn.execute(sql, params).fetchall()
    finally:
        conn.close()
    return steps


# ------------------------------------------------------- same answers inline

rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(STATUSES),
        st.none() | st.sampled_from(["x", "y"]),
    ),
    max_size=30,
)
filter_strategy = st.tuples(
    st.none() | st.sampled_from(["a", "b", "c", "zz"]),
    st.none() | st.sampled_from(STATUSES),
    st.none() | st.sampled_from(["x", "y"]),
    st.integers(1, 12),
    st.integers(0, 25),
)
EXAMPLES = 40


def _examples() -> list[tuple[Any, Any]]:
    """Derandomized (data, filters) draws: the same cases on every run."""
    drawn: list[tuple[Any, Any]] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(rows_strategy, st.lists(filter_strategy, min_size=1, max_size=4))
    def collect(rows: Any, filters: Any) -> None:
        drawn.append((rows, filters))

    collect()
    return drawn


async def test_inline_counts_and_pages_equal_the_thread_path(
    pair: tuple[SQLitePersistenceBackend, SQLitePersistenceBackend, str],
) -> None:
    fast, slow, _ = pair
    assert conns(slow).inline_stats is None
    calls = 0
    for n, (rows, filters) in enumerate(_examples()):
        # Each example's own projects, so earlier examples do not mix in.
        await fast.tasks.save_many(
            [
                task(f"e{n}-{i:03d}", f"e{n}{project}", status, who)
                for i, (project, status, who) in enumerate(rows)
            ]
        )
        for project, status, who, limit, offset in filters:
            spec = TaskFilterSpec(
                project=None if project is None else f"e{n}{project}",
                status=status,
                assigned_to=who,
            )
            before = stats(fast)
            got_count = await fast.tasks.count(spec)
            got_page = await fast.tasks.query(spec, limit=limit, offset=offset)
            calls += 2
            # Both answered on the loop thread, not through the reader.
            assert since(fast, before) == {"inline": 2}, spec
            assert got_count == await slow.tasks.count(spec)
            assert got_page == await slow.tasks.query(spec, limit=limit, offset=offset)
            expected = [
                f"e{n}-{i:03d}"
                for i, (p, s, w) in enumerate(rows)
                if (project is None or p == project)
                and (status is None or s == status)
                and (who is None or w == who)
            ]
            if project is not None:  # else other examples' rows count too
                assert got_count == len(expected)
                assert [t.id for t in got_page] == expected[offset : offset + limit]
    assert calls > EXAMPLES


# ---------------------------------------- budget: sized, bounded, exact anyway


async def test_a_5000_row_indexed_count_fits_the_budget_and_runs_inline(
    pair: tuple[SQLitePersistenceBackend, SQLitePersistenceBackend, str],
) -> None:
    """The bench's count (5,000 rows of a project) stays on the loop thread."""
    fast, _, path = pair
    await fast.tasks.save_many([task(f"m{i:05d}", "mid") for i in range(5000)])
    await fast.tasks.save_many([task(f"o{i:05d}", "other") for i in range(500)])
    sql = type(fast.tasks)._COUNT[4]  # type: ignore[attr-defined]
    steps = vm_steps(path, sql, ("mid",))
    assert 5000 < steps < inline.RANGE * inline.STEP
    before = stats(fast)
    assert await fast.tasks.count(TaskFilterSpec(project="mid")) == 5000
    assert since(fast, before) == {"inline": 1}


async def test_a_count_too_big_for_the_budget_falls_back_exact(
    pair: tuple[SQLitePersistenceBackend, SQLitePersistenceBackend, str],
) -> None:
    fast, _, path = pair
    big = inline.RANGE * inline.STEP // 3 + 1000  # ~3 VM steps per counted row
    await fast.tasks.save_many([task(f"b{i:06d}", "big") for i in range(big)])
    await fast.tasks.save_many([task(f"s{i:03d}", "small") for i in range(7)])
    sql = type(fast.tasks)._COUNT[4]  # type: ignore[attr-defined]
    assert vm_steps(path, sql, ("big",)) > inline.RANGE * inline.STEP
    before = stats(fast)

    assert await fast.tasks.count(TaskFilterSpec(project="big")) == big
    assert since(fast, before) == {"over_budget": 1}
    # The interrupted statement left no snapshot open on the inline connection.
    checkpoint_is_not_busy(path)
    # The same statement cools down: straight to the thread, still exact.
    for _ in range(inline.COOLDOWN):
        assert await fast.tasks.count(TaskFilterSpec(project="small")) == 7
    assert since(fast, before) == {"over_budget": 1, "cooling": inline.COOLDOWN}
    # Then it tries inline again.
    assert await fast.tasks.count(TaskFilterSpec(project="small")) == 7
    assert since(fast, before)["inline"] == 1
    # A page of the big project beyond its budget falls back whole as well.
    page = await fast.tasks.query(TaskFilterSpec(project="big"), limit=5000)
    assert [t.id for t in page] == [f"b{i:06d}" for i in range(5000)]
    assert since(fast, before)["over_budget"] == 2
    # The cool-down is per statement, not per argument: the next small pages
    # take the thread too (exact), then one is answered inline again.
    for offset in range(inline.COOLDOWN + 1):
        small = TaskFilterSpec(project="big")
        page = await fast.tasks.query(small, limit=3, offset=offset)
        assert [t.id for t in page] == [f"b{i:06d}" for i in range(offset, offset + 3)]
    assert since(fast, before) == {
        "inline": 2,
        "over_budget": 2,
        "cooling": 2 * inline.COOLDOWN,
    }
    checkpoint_is_not_busy(path)


async def test_an_interrupted_read_never_returns_a_partial_result(
    pair: tuple[SQLitePersistenceBackend, SQLitePersistenceBackend, str],
) -> None:
    """A budget of one STEP interrupts mid-fetch; the answer is whole."""
    fast, _, _ = pair
    await fast.tasks.save_many([task(f"t{i:04d}", "q") for i in range(400)])
    c = conns(fast)
    sql = type(fast.tasks)._QUERY[4]  # type: ignore[attr-defined]
    before = stats(fast)
    rows = await c.read_inline(sql, ("q", 400, 0), 1)
    assert [r[0] for r in rows] == [f"t{i:04d}" for i in range(400)]
    assert since(fast, before) == {"over_budget": 1}


# ------------------------------------------------------------------ isolation


async def test_inside_a_transaction_counts_and_pages_see_own_writes(
    pair: tuple[SQLitePersistenceBackend, SQLitePersistenceBackend, str],
) -> None:
    fast, _, _ = pair
    await fast.tasks.save_many([task("c1", "own"), task("c2", "own")])
    spec = TaskFilterSpec(project="own")
    async with fast.transaction():
        await fast.tasks.save(task("c3", "own"))
        before = stats(fast)
        assert await fast.tasks.count(spec) == 3
        assert [t.id for t in await fast.tasks.query(spec)] == ["c1", "c2", "c3"]
        # Read on the writer (its own transaction), never inline.
        assert since(fast, before) == {"offloaded": 2}
    assert await fast.tasks.count(spec) == 3


async def test_another_tasks_open_transaction_is_invisible(
    pair: tuple[SQLitePersistenceBackend, SQLitePersistenceBackend, str],
) -> None:
    """While a task's transaction holds the write lock, reads are offloaded."""
    fast, _, _ = pair
    await fast.tasks.save(task("k1", "iso"))
    spec = TaskFilterSpec(project="iso")
    started, release = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with fast.transaction():
            await fast.tasks.save(task("k2", "iso"))
            await fast.tasks.save(task("k3", "iso"))
            started.set()
            await release.wait()

    job = asyncio.create_task(writer())
    await started.wait()
    before = stats(fast)
    # Not blocked by the writer, and committed data only.
    assert await fast.tasks.count(spec) == 1
    assert [t.id for t in await fast.tasks.query(spec)] == ["k1"]
    # Another call is in flight: left to the reader thread.
    assert since(fast, before) == {"offloaded": 2}
    release.set()
    await job
    assert await fast.tasks.count(spec) == 3
    assert [t.id for t in await fast.tasks.query(spec)] == ["k1", "k2", "k3"]


async def test_another_processs_open_transaction_is_invisible_inline(
    pair: tuple[SQLitePersistenceBackend, SQLitePersistenceBackend, str],
) -> None:
    """A writer outside this backend holding an open transaction: inline
    reads neither wait for it nor see its rows."""
    fast, _, path = pair
    await fast.tasks.save(task("w1", "ext"))
    spec = TaskFilterSpec(project="ext")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("CREATE TEMP TABLE copy AS SELECT * FROM tasks WHERE id = 'w1'")
        other.execute("UPDATE copy SET id = 'w2'")
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO tasks SELECT * FROM copy")
        before = stats(fast)
        assert await fast.tasks.count(spec) == 1
        assert [t.id for t in await fast.tasks.query(spec)] == ["w1"]
        assert since(fast, before) == {"inline": 2}
        other.execute("COMMIT")
    finally:
        other.close()
    assert await fast.tasks.count(spec) == 2
    assert [t.id for t in await fast.tasks.query(spec)] == ["w1", "w2"]


async def test_a_read_in_flight_on_the_thread_offloads_the_next(
    pair: tuple[SQLitePersistenceBackend, SQLitePersistenceBackend, str],
) -> None:
    fast, _, _ = pair
    await fast.tasks.save_many([task(f"f{i}", "fl") for i in range(3)])
    spec = TaskFilterSpec(project="fl")
    before = stats(fast)
    # An unbounded list takes the thread; while it is in flight a count and
    # a page are offloaded too (gather starts them in order), all exact.
    listed, counted, paged = await asyncio.gather(
        fast.settings.get_namespace("none-here"),
        fast.tasks.count(spec),
        fast.tasks.query(spec, limit=2),
    )
    assert listed == ()
    assert counted == 3
    assert [t.id for t in paged] == ["f0", "f1"]
    assert since(fast, before) == {"offloaded": 2}
    # Alone again: inline.
    assert await fast.tasks.count(spec) == 3
    assert since(fast, before) == {"offloaded": 2, "inline": 1}


async def test_unbounded_lists_stay_on_the_reader_thread(
    pair: tuple[SQLitePersistenceBackend, SQLitePersistenceBackend, str],
) -> None:
    """Only reads the generator proved bounded try the loop thread."""
    fast, _, _ = pair
    before = stats(fast)
    assert await fast.settings.get_namespace("nothing-here") == ()
    assert since(fast, before) == {}


async def test_a_cancelled_thread_read_does_not_keep_reads_offloaded(
    pair: tuple[SQLitePersistenceBackend, SQLitePersistenceBackend, str],
) -> None:
    """The in-flight count is released on cancellation too."""
    fast, _, _ = pair
    job = asyncio.create_task(fast.settings.get_namespace("none-here"))
    await asyncio.sleep(0)  # the job is now waiting on the reader thread
    assert conns(fast)._reading == 1
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert conns(fast)._reading == 0
    before = stats(fast)
    assert await fast.tasks.count(TaskFilterSpec(project="none")) == 0
    assert since(fast, before) == {"inline": 1}
