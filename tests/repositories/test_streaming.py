"""``iter_*`` methods: every row a list method pages through, streamed in batches.

Each paged list method has an ``iter_<name>`` sibling that reads keyset
batches (:mod:`synthorg.persistence.keyset`). These tests hold its promises
on both backends: it yields exactly what paging through the method yields
(hypothesis over data with ties in the ordering, for each ordering shape of
the schema: one unique column, one descending column, a multi-column
same-direction key, a mixed-direction key with a ``by`` filter, a filter
spec, a ``now`` filter, a ``limit``-only and an unpaged method); batches
that end inside a tie; an empty table; rows present throughout are yielded
exactly once while others are inserted and deleted; a consumer that stops
or is cancelled holds nothing; bad ``batch_size`` and a ``limit`` above
MAX_PAGE_SIZE are refused. NULLs in nullable ordering columns (none of the
schema's orderings has one) are covered on raw tables of both databases by
``test_keyset_sql_matches_order_by_with_nulls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthorg.persistence import (
    MAX_BATCH_SIZE,
    MAX_PAGE_SIZE,
    CostRecordFilterSpec,
    InvalidValueError,
    LockoutRecord,
    PersistenceBackend,
    TrackedContainer,
)
from synthorg.persistence.keyset import Keyset, KeysetSql
from tests.repositories._rows import T0, cost, message, parked, setting_row
from tests.support.pgserver import PgServer

EXAMPLES = 12
BATCHES = (1, 2, 3, 7, 500)


def _examples(strategy: st.SearchStrategy[Any], n: int = EXAMPLES) -> list[Any]:
    """The same examples for both backends (derandomized hypothesis draws)."""
    drawn: list[Any] = []

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


def _key(row: Any) -> Any:
    for name in ("id", "container_id", "username"):
        if hasattr(row, name):
            return getattr(row, name)
    return (row.namespace, row.key)


async def _drain(it: AsyncIterator[Any]) -> list[Any]:
    return [_key(row) async for row in it]


async def _paged(page: Callable[[int, int], Awaitable[tuple[Any, ...]]]) -> list[Any]:
    """Every row by ``limit``/``offset`` pages of 3 (the method's own order)."""
    out: list[Any] = []
    while True:
        rows = await page(3, len(out))
        out += [_key(r) for r in rows]
        if len(rows) < 3:
            return out


# ------------------------------------------------- one case per ordering shape


@dataclass(frozen=True)
class Case:
    """A list method, its iter_ sibling, how to seed and clear its table."""

    name: str
    data: st.SearchStrategy[Any]
    seed: Callable[[PersistenceBackend, Any], Awaitable[None]]
    page: Callable[[PersistenceBackend, int, int], Awaitable[tuple[Any, ...]]]
    stream: Callable[[PersistenceBackend, int], AsyncIterator[Any]]
    clear: Callable[[PersistenceBackend, Any], Awaitable[None]]


# Few distinct values, so orderings tie on their leading columns.
_MINUTES = st.integers(0, 3)
_IDS = st.integers(0, 60)


async def _seed_containers(b: PersistenceBackend, keys: list[int]) -> None:
    await b.tracked_containers.save_many(
        [TrackedContainer(container_id=f"c{k:03}", name="n", image="i") for k in keys]
    )


async def _clear_containers(b: PersistenceBackend, keys: list[int]) -> None:
    for k in keys:
        await b.tracked_containers.delete(f"c{k:03}")


async def _seed_parked(b: PersistenceBackend, rows: list[tuple[int, int, int]]) -> None:
    for k, agent, minute in rows:
        when = T0 + timedelta(minutes=minute)
        await b.parked_contexts.save(parked(f"p{k:03}", f"a{agent}", f"ap{k}", when))


async def _clear_parked(
    b: PersistenceBackend, rows: list[tuple[int, int, int]]
) -> None:
    for k, _, _ in rows:
        await b.parked_contexts.delete(f"p{k:03}")


async def _seed_settings(b: PersistenceBackend, rows: list[tuple[int, int]]) -> None:
    for ns, key in rows:
        await b.settings.save(setting_row(f"n{ns}", f"k{key:02}", "v", "2024"))


async def _clear_settings(b: PersistenceBackend, rows: list[tuple[int, int]]) -> None:
    for ns, key in rows:
        await b.settings.delete((f"n{ns}", f"k{key:02}"))


async def _seed_costs(b: PersistenceBackend, rows: list[tuple[int, int, int]]) -> None:
    await b.cost_records.append_many(
        [
            cost(f"r{k:03}", agent_id=f"a{agent}", timestamp=T0 + timedelta(minutes=m))
            for k, agent, m in rows
        ]
    )


async def _clear_costs(b: PersistenceBackend, rows: Any) -> None:
    await b.cost_records.purge_before(T0 + timedelta(days=1))


async def _seed_messages(
    b: PersistenceBackend, rows: list[tuple[int, int, int]]
) -> None:
    await b.messages.append_many(
        [
            message(f"m{k:03}", channel=f"ch{ch}", timestamp=T0 + timedelta(minutes=m))
            for k, ch, m in rows
        ]
    )


async def _clear_messages(b: PersistenceBackend, rows: Any) -> None:
    await b.messages.purge_before(T0 + timedelta(days=1))


def _future(minute: int) -> datetime:
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return base + timedelta(minutes=minute)


async def _seed_lockouts(b: PersistenceBackend, rows: list[tuple[int, int]]) -> None:
    for k, minute in rows:
        # minute 0: already expired, so list_active leaves it out.
        until = _future(minute) if minute else T0
        await b.lockouts.save(LockoutRecord(username=f"u{k:03}", locked_until=until))


async def _clear_lockouts(b: PersistenceBackend, rows: list[tuple[int, int]]) -> None:
    for k, _ in rows:
        await b.lockouts.delete(f"u{k:03}")


def _unique(
    elements: st.SearchStrategy[tuple[int, ...]],
) -> st.SearchStrategy[list[Any]]:
    return st.lists(elements, max_size=25, unique_by=lambda t: t[0])


_AGENT = st.integers(0, 1)
CASES = [
    # [container_id]: one unique column.
    Case(
        "tracked_containers.load_all",
        st.lists(_IDS, max_size=25, unique=True),
        _seed_containers,
        lambda b, lim, off: b.tracked_containers.load_all(lim, off),
        lambda b, n: b.tracked_containers.iter_load_all(batch_size=n),
        _clear_containers,
    ),
    # [-parked_at, id] with by agent_id: mixed directions, ties on parked_at.
    Case(
        "parked_contexts.get_by_agent",
        _unique(st.tuples(_IDS, _AGENT, _MINUTES)),
        _seed_parked,
        lambda b, lim, off: b.parked_contexts.get_by_agent("a0", lim, off),
        lambda b, n: b.parked_contexts.iter_get_by_agent("a0", batch_size=n),
        _clear_parked,
    ),
    # [namespace, key]: a two-column key in one direction (a row value).
    Case(
        "settings.list_items",
        st.lists(st.tuples(st.integers(0, 2), _IDS), max_size=25, unique=True),
        _seed_settings,
        lambda b, lim, off: b.settings.list_items(lim, off),
        lambda b, n: b.settings.iter_list_items(batch_size=n),
        _clear_settings,
    ),
    # [-timestamp, id] through a filter spec (append-only query).
    Case(
        "cost_records.query",
        _unique(st.tuples(_IDS, _AGENT, _MINUTES)),
        _seed_costs,
        lambda b, lim, off: b.cost_records.query(
            CostRecordFilterSpec(agent_id="a1"), lim, off
        ),
        lambda b, n: b.cost_records.iter_query(
            CostRecordFilterSpec(agent_id="a1"), batch_size=n
        ),
        _clear_costs,
    ),
    # The same query with no filter set (mask 0).
    Case(
        "cost_records.query (no filter)",
        _unique(st.tuples(_IDS, _AGENT, _MINUTES)),
        _seed_costs,
        lambda b, lim, off: b.cost_records.query(CostRecordFilterSpec(), lim, off),
        lambda b, n: b.cost_records.iter_query(CostRecordFilterSpec(), batch_size=n),
        _clear_costs,
    ),
    # [locked_until, username] where locked_until > now.
    Case(
        "lockouts.list_active",
        _unique(st.tuples(_IDS, _MINUTES)),
        _seed_lockouts,
        lambda b, lim, off: b.lockouts.list_active(lim, off),
        lambda b, n: b.lockouts.iter_list_active(batch_size=n),
        _clear_lockouts,
    ),
    # paged: limit (get_history takes no offset: one page of the maximum).
    Case(
        "messages.get_history",
        _unique(st.tuples(_IDS, _AGENT, _MINUTES)),
        _seed_messages,
        lambda b, lim, off: (
            b.messages.get_history("ch0", MAX_PAGE_SIZE) if off == 0 else _nothing()
        ),
        lambda b, n: b.messages.iter_get_history("ch0", batch_size=n),
        _clear_messages,
    ),
    # paged: none (get_namespace returns the namespace whole).
    Case(
        "settings.get_namespace",
        st.lists(st.tuples(st.integers(0, 2), _IDS), max_size=25, unique=True),
        _seed_settings,
        lambda b, lim, off: b.settings.get_namespace("n1") if off == 0 else _nothing(),
        lambda b, n: b.settings.iter_get_namespace("n1", batch_size=n),
        _clear_settings,
    ),
]


async def _nothing() -> tuple[Any, ...]:
    return ()


async def _one_page(
    page: Callable[[int, int], Awaitable[tuple[Any, ...]]],
) -> list[Any]:
    return [_key(r) for r in await page(MAX_PAGE_SIZE, 0)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_iter_yields_what_paging_yields(
    backend: PersistenceBackend, case: Case
) -> None:
    for data in _examples(case.data):
        await case.seed(backend, data)
        try:
            whole = await _one_page(lambda lim, off: case.page(backend, lim, off))
            if case.name not in ("messages.get_history", "settings.get_namespace"):
                paged = await _paged(lambda lim, off: case.page(backend, lim, off))
                assert paged == whole
            for size in BATCHES:
                assert await _drain(case.stream(backend, size)) == whole, (data, size)
        finally:
            await case.clear(backend, data)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_iter_of_an_empty_table_yields_nothing(
    backend: PersistenceBackend, case: Case
) -> None:
    for size in (1, 500):
        assert await _drain(case.stream(backend, size)) == []


@pytest.mark.parametrize("size", [1, 2, 3, 4, 6])
async def test_batches_ending_inside_a_tie(
    backend: PersistenceBackend, size: int
) -> None:
    # Six rows share parked_at (the leading, descending column): batch
    # boundaries fall inside the tie, and the tie is followed by older rows.
    rows = [(k, 0, 2) for k in range(6)] + [(10 + k, 0, k % 2) for k in range(5)]
    await _seed_parked(backend, rows)
    expected = [f"p{k:03}" for k in range(6)] + ["p011", "p013", "p010", "p012"]
    expected.append("p014")
    page = await backend.parked_contexts.get_by_agent("a0")
    assert [r.id for r in page] == expected
    got = await _drain(backend.parked_contexts.iter_get_by_agent("a0", batch_size=size))
    assert got == expected


# ------------------------------------------------------------ concurrent writes


async def test_rows_present_throughout_appear_exactly_once_under_writes(
    backend: PersistenceBackend,
) -> None:
    stable = [f"p{k:03}" for k in range(0, 120, 2)]
    await _seed_parked(backend, [(k, 0, k % 3) for k in range(0, 120, 2)])
    await _seed_parked(backend, [(k, 0, k % 3) for k in range(1, 120, 4)])
    seen: list[str] = []
    n = 0
    async for row in backend.parked_contexts.iter_get_by_agent("a0", batch_size=5):
        seen.append(row.id)
        n += 1
        # Between reads: insert rows that tie with, precede and follow the
        # cursor, and delete rows that were never promised.
        new = 1000 + n
        await _seed_parked(backend, [(new, 0, n % 3)])
        await backend.parked_contexts.delete(f"p{(4 * n + 1) % 120:03}")
    assert len(seen) == len(set(seen)), "a row was yielded twice"
    assert set(stable) <= set(seen)
    assert [s for s in seen if s in stable] == [s for s in _order(stable) if s in seen]


def _order(ids: list[str]) -> list[str]:
    # parked_at desc (minute k % 3), then id.
    return sorted(ids, key=lambda i: (-(int(i[1:]) % 3), i))


async def test_now_is_fixed_when_the_iteration_starts(
    backend: PersistenceBackend,
) -> None:
    soon = datetime.now(UTC) + timedelta(milliseconds=300)
    await backend.lockouts.save(LockoutRecord(username="u-soon", locked_until=soon))
    iterator = backend.lockouts.iter_list_active(batch_size=1)
    await asyncio.sleep(0.5)  # u-soon's lockout is now over
    assert await backend.lockouts.list_active() == ()
    assert await _drain(iterator) == ["u-soon"]


# ------------------------------------------------ stopping early holds nothing


async def _nothing_held(backend: PersistenceBackend, kind: str) -> None:
    if kind == "sqlite":
        db = backend.get_db()
        assert not db.in_transaction
        assert not backend._write_lock.locked()  # type: ignore[attr-defined]
    else:
        stats = backend.get_db().get_stats()
        assert stats["pool_size"] - stats["pool_available"] == 0
    # Writes and reads still work.
    await _seed_containers(backend, [999])
    assert (await backend.tracked_containers.get("c999")) is not None


async def test_break_and_cancel_leave_nothing_held(
    backend: PersistenceBackend, backend_kind: str
) -> None:
    await _seed_containers(backend, list(range(40)))
    it = backend.tracked_containers.iter_load_all(batch_size=3)
    got = []
    async for row in it:
        got.append(row.container_id)
        if len(got) == 4:
            break
    assert got == ["c000", "c001", "c002", "c003"]
    await it.aclose()  # type: ignore[attr-defined]
    await _nothing_held(backend, backend_kind)

    started = asyncio.Event()
    hold = asyncio.Event()

    async def consume() -> None:
        async for _ in backend.tracked_containers.iter_load_all(batch_size=2):
            started.set()
            await hold.wait()

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _nothing_held(backend, backend_kind)
    # An abandoned (never closed) iterator holds nothing either.
    abandoned = backend.tracked_containers.iter_load_all(batch_size=2)
    assert (await abandoned.__anext__()).container_id == "c000"
    del abandoned
    await _nothing_held(backend, backend_kind)


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("bad", [0, -1, True, MAX_BATCH_SIZE + 1, "5", 2.0])
async def test_bad_batch_size_is_refused_at_the_call(
    backend: PersistenceBackend, bad: Any
) -> None:
    with pytest.raises(InvalidValueError) as info:
        backend.tracked_containers.iter_load_all(batch_size=bad)
    assert info.value.field == "batch_size"
    assert "batch_size" in str(info.value)
    with pytest.raises(InvalidValueError):
        backend.cost_records.iter_query(CostRecordFilterSpec(), batch_size=bad)


async def test_a_limit_above_the_maximum_points_at_the_iterator(
    backend: PersistenceBackend,
) -> None:
    calls = [
        (backend.tracked_containers.load_all, "iter_load_all"),
        (backend.tracked_containers.list_items, "iter_list_items"),
        (backend.agent_states.get_active, "iter_get_active"),
    ]
    for method, stream in calls:
        with pytest.raises(InvalidValueError) as info:
            await method(MAX_PAGE_SIZE + 1)
        assert info.value.field == "limit"
        assert str(MAX_PAGE_SIZE + 1) in str(info.value)
        assert stream in str(info.value)
        assert info.value.is_retryable is False
        assert await method(MAX_PAGE_SIZE) == ()  # the maximum itself is fine
    with pytest.raises(InvalidValueError, match="iter_query"):
        await backend.cost_records.query(CostRecordFilterSpec(), MAX_PAGE_SIZE + 1)
    with pytest.raises(InvalidValueError, match="iter_get_history"):
        await backend.messages.get_history("ch0", MAX_PAGE_SIZE + 1)
    # A keyset method has no stream (it is one): no hint pointing at one.
    with pytest.raises(InvalidValueError) as info:
        await backend.users.list_after_id(None, MAX_PAGE_SIZE + 1)
    assert info.value.field == "limit"
    assert "iter_" not in str(info.value)


# ------------------------------------- nullable ordering columns, raw tables


ORDERS = [
    (("a", False), ("id", False)),
    (("a", True), ("id", False)),
    (("a", False), ("b", True), ("id", False)),
    (("a", True), ("b", True), ("id", True)),
    (("b", False), ("a", False), ("id", True)),
]
_ROWS = st.lists(
    st.tuples(st.sampled_from([None, 0, 1, 2]), st.sampled_from([None, "x", "y"])),
    max_size=30,
)


def _keyset(order: tuple[tuple[str, bool], ...], ph: str, high: bool) -> KeysetSql:
    index = {"id": 0, "a": 1, "b": 2}
    order_sql = ", ".join(f'"{c}"{" DESC" if d else ""}' for c, d in order)
    return KeysetSql(
        'SELECT "id", "a", "b" FROM "t"',
        (),
        f" ORDER BY {order_sql} LIMIT {ph}",
        keys=tuple((f'"{c}"', index[c], d, c != "id") for c, d in order),
        placeholder=ph,
        nulls_high=high,
        always=('"id" >= 0',),
    )


def _walk(
    run: Callable[[str, tuple[Any, ...]], list[Any]], ks: KeysetSql, n: int
) -> list[Any]:
    keyset = Keyset(ks, 0, (), n)
    out: list[Any] = []
    while (step := keyset.next()) is not None:
        out += [row[0] for row in keyset.took(run(*step))]
    return out


@pytest.mark.parametrize("order", ORDERS, ids=str)
def test_keyset_sql_matches_order_by_with_nulls(
    order: tuple[tuple[str, bool], ...],
    tmp_path: Path,
    pg_server: PgServer,
    pg_database: str,
) -> None:
    lite = sqlite3.connect(tmp_path / "t.db")
    pg = psycopg.connect(pg_server.dsn(pg_database), autocommit=True)
    try:
        lite.execute(
            'CREATE TABLE "t" ("id" INTEGER PRIMARY KEY, "a" INTEGER, "b" TEXT)'
        )
        pg.execute('CREATE TABLE "t" ("id" INTEGER PRIMARY KEY, "a" INTEGER, "b" TEXT)')
        Run = Callable[[str, tuple[Any, ...]], list[Any]]
        engines: list[tuple[Run, str, bool]] = [
            (lambda sql, p: lite.execute(sql, p).fetchall(), "?", False),
            (lambda sql, p: pg.execute(sql, p).fetchall(), "%s", True),
        ]
        for rows in _examples(_ROWS, 25):
            for conn in (lite, pg):
                conn.execute('DELETE FROM "t"')
            lite.executemany(
                "INSERT INTO t VALUES (?, ?, ?)",
                [(i, a, b) for i, (a, b) in enumerate(rows)],
            )
            with pg.cursor() as cur:
                cur.executemany(
                    "INSERT INTO t VALUES (%s, %s, %s)",
                    [(i, a, b) for i, (a, b) in enumerate(rows)],
                )
            for run, ph, high in engines:
                ks = _keyset(order, ph, high)
                whole = [r[0] for r in run(ks.first(0), (10_000,))]
                assert sorted(whole) == list(range(len(rows)))
                for size in (1, 2, 3, 50):
                    assert _walk(run, ks, size) == whole, (ph, rows, size)
    finally:
        lite.close()
        pg.close()


async def test_cancelled_inside_a_batch_read_holds_nothing(
    backend: PersistenceBackend, backend_kind: str
) -> None:
    # Cancel at successive loop steps, so some cancellations land while a
    # batch's read is in flight (not only between batches).
    await _seed_containers(backend, list(range(60)))
    cancelled = 0
    for steps in range(12):

        async def consume() -> int:
            n = 0
            async for _ in backend.tracked_containers.iter_load_all(batch_size=7):
                n += 1
            return n

        task = asyncio.create_task(consume())
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            assert await task == 60  # finished before the cancellation landed
        cancelled += task.cancelled()
        await _nothing_held(backend, backend_kind)
        await backend.tracked_containers.delete("c999")
    assert cancelled > 0
    assert await _drain(backend.tracked_containers.iter_load_all()) == [
        f"c{k:03}" for k in range(60)
    ]
