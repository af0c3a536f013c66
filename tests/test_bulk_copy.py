"""Large batch writes: the direct ``COPY`` of PostgreSQL's ``save_many``.

From ``_STAGE_THRESHOLD`` rows PostgreSQL copies a batch straight into the
table when a sample of its keys is not stored, and falls back to the staged
merge otherwise, or when the ``COPY`` meets a stored key the sample missed
(``synthorg.persistence.postgres.bulk``). Whatever the path, a batch is an
upsert, all or nothing, on both backends; the PostgreSQL-only tests check
which path ran and that the connection comes back clean. The text values a
``COPY`` carries (tabs, newlines, backslashes, JSON) round-trip exactly.

Also here: PostgreSQL's ``jsonb`` loader (``postgres.rows.JsonbLoader``)
returns and raises exactly what ``json.loads`` does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from psycopg.pq import TransactionStatus

from synthorg.persistence import (
    ConstraintViolationError,
    HumanRole,
    InvalidValueError,
    PersistenceBackend,
    Task,
    TaskType,
    User,
)
from synthorg.persistence.generated.postgres.tasks import _copy_row
from synthorg.persistence.postgres import bulk
from synthorg.persistence.postgres.driver import Executor
from synthorg.persistence.postgres.rows import JsonbLoader
from synthorg.persistence.testing.plugin import BackendFactory

N = 100  # past _STAGE_THRESHOLD (64)
T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


class Boom(Exception):
    """The block's own error: it must come out unchanged."""


def task(i: int, title: str = "first") -> Task:
    return Task(
        id=f"t-{i:04d}",
        title=f"{title} {i}",
        type=TaskType.DEVELOPMENT,
        project="apollo",
        created_by="alice",
        # Edges a text COPY must keep: tab, newline, backslash, quotes in
        # text and JSON, a non-UTC offset, a big float.
        description="tab\there\nnewline \\ back 'q' \"dq\" é",
        reviewers=("a\tb", 'x"y', "back\\slash", "ünï"),
        metadata={"n": i, "nested": {"s": "line\nbreak", "f": 1.5e15}},
        budget_limit=1e300,
        deadline=(T0 + timedelta(days=i)).astimezone(ZoneInfo("Asia/Kolkata")),
        created_at=T0,
        updated_at=T0 + timedelta(seconds=i),
    )


async def stored(backend: PersistenceBackend) -> dict[str, Task]:
    return {t.id: t for t in await backend.tasks.list_items(limit=10_000)}


async def test_large_batch_of_new_rows_round_trips_exactly(
    backend: PersistenceBackend,
) -> None:
    rows = [task(i) for i in range(N)]
    await backend.tasks.save_many(rows)
    assert await stored(backend) == {t.id: t for t in rows}


async def test_a_stored_key_the_sample_misses_is_still_upserted(
    backend: PersistenceBackend,
) -> None:
    # Index 1 is not among the sampled keys (0, 6, 12, ... and the last):
    # the direct COPY meets it, writes nothing, and the merge upserts it.
    assert "t-0001" not in bulk.key_sample([f"t-{i:04d}" for i in range(N)])
    await backend.tasks.save(task(1, "old"))
    rows = [task(i, "new") for i in range(N)]
    await backend.tasks.save_many(rows)
    assert await stored(backend) == {t.id: t for t in rows}


async def test_a_refused_value_in_the_middle_writes_nothing(
    backend: PersistenceBackend,
) -> None:
    # Staged batches convert each row as the COPY streams: a value refused
    # at row 50 aborts it (direct COPY of new keys, then the staged merge).
    bad = task(50).model_copy(update={"metadata": {"too_big": 1e20}})
    rows = [task(i) for i in range(N)]
    with pytest.raises(InvalidValueError) as caught:
        await backend.tasks.save_many([*rows[:50], bad, *rows[51:]])
    assert "tasks.metadata" in str(caught.value)
    assert await stored(backend) == {}
    await backend.tasks.save_many(rows)
    changed = [task(i, "changed") for i in range(N)]
    with pytest.raises(InvalidValueError):
        await backend.tasks.save_many([*changed[:50], bad, *changed[51:]])
    assert await stored(backend) == {t.id: t for t in rows}
    assert await backend.tasks.get("t-0050") == rows[50]


async def test_a_clash_on_another_unique_index_writes_nothing(
    backend: PersistenceBackend,
) -> None:
    users = [
        User(
            id=f"u-{i}",
            username=f"user{i}",
            password_hash="h" * 8,
            role=HumanRole.OBSERVER,
            created_at=T0,
            updated_at=T0,
        )
        for i in range(N)
    ]
    await backend.users.save(users[0].model_copy(update={"id": "someone-else"}))
    before = await backend.users.list_items(limit=1000)
    with pytest.raises(ConstraintViolationError) as caught:
        await backend.users.save_many(users)  # user0's username is taken
    assert "nothing was written" in str(caught.value)
    assert await backend.users.list_items(limit=1000) == before


async def test_a_large_batch_joins_the_callers_transaction(
    backend: PersistenceBackend,
) -> None:
    first = [task(i) for i in range(N)]
    with pytest.raises(Boom):
        async with backend.transaction():
            await backend.tasks.save_many(first)
            assert len(await stored(backend)) == N
            raise Boom
    assert await stored(backend) == {}
    # Two staged merges with the same keys in one transaction, then a
    # direct COPY: each batch sees only its own rows.
    second = [task(i, "second") for i in range(N)]
    third = [task(i, "third") for i in range(N)]
    more = [task(i, "more") for i in range(N, 2 * N)]
    async with backend.transaction():
        await backend.tasks.save_many(first)
        await backend.tasks.save_many(second)
        await backend.tasks.save_many(third)
        await backend.tasks.save_many(more)
    assert await stored(backend) == {t.id: t for t in [*third, *more]}


async def test_a_failed_batch_in_a_transaction_leaves_it_usable(
    backend: PersistenceBackend,
) -> None:
    bad = [task(i) for i in range(N)]
    users = [
        User(
            id=f"u-{i}",
            username="same",  # every row clashes on username
            password_hash="h" * 8,
            role=HumanRole.OBSERVER,
        )
        for i in range(N)
    ]
    async with backend.transaction():
        await backend.tasks.save_many(bad[:10])
        with pytest.raises(ConstraintViolationError):
            await backend.users.save_many(users)
        await backend.tasks.save_many(bad[10:])
    assert await stored(backend) == {t.id: t for t in bad}
    assert await backend.users.list_items(limit=1000) == ()


@pytest.fixture
async def pg(synthorg_backend_factory: BackendFactory) -> PersistenceBackend:
    return await synthorg_backend_factory("postgres")


async def test_postgres_takes_the_direct_copy_only_for_new_keys(
    pg: PersistenceBackend,
) -> None:
    repo = pg.tasks
    ex: Executor = repo.executor  # type: ignore[attr-defined]
    statements = (
        repo._STORED,  # type: ignore[attr-defined]
        repo._COPY,  # type: ignore[attr-defined]
        repo._STAGE,  # type: ignore[attr-defined]
        repo._STAGE_COPY,  # type: ignore[attr-defined]
        repo._STAGE_MERGE,  # type: ignore[attr-defined]
    )

    async def up(rows: list[Task], keys: bool = True) -> bool:
        ids = [t.id for t in rows] if keys else None
        chosen = statements if keys else (None, None, *statements[2:])
        return await bulk.copy_upsert(ex.pool, rows, _copy_row, ids, chosen)

    new = [task(i) for i in range(N)]
    assert await up(new) is True
    again = [task(i, "again") for i in range(N)]  # sampled keys are stored
    assert await up(again) is False
    mixed = [task(i, "mixed") for i in range(N, 2 * N)]
    mixed[1] = task(1, "mixed")  # stored, not sampled: the COPY fails, merge
    assert await up(mixed) is False
    composite = [task(i, "composite") for i in range(2 * N, 3 * N)]
    assert await up(composite, keys=False) is False  # a composite key: merged
    assert await stored(pg) == {t.id: t for t in [*again, *mixed, *composite]}
    # The failed COPY left the (LIFO) connection idle and usable.
    conn = await ex.pool.getconn()
    try:
        assert conn.info.transaction_status == TransactionStatus.IDLE
        assert (await (await conn.execute("SELECT 1")).fetchone()) == (1,)
    finally:
        await ex.pool.putconn(conn)


def test_the_key_sample_spreads_over_the_batch() -> None:
    assert bulk.key_sample([1, 2, 3]) == [1, 2, 3]
    keys = list(range(1000))
    sample = bulk.key_sample(keys)
    assert len(sample) == bulk.SAMPLE + 1
    assert sample[0] == 0
    assert sample[-1] == 999
    assert sample == sorted(set(sample))


# ------------------------------------------------------------ jsonb loading

DOCS = [
    "{}",
    "[]",
    '{"a": 1, "b": [true, false, null], "c": {"d": "e"}}',
    '["line\\nbreak", "tab\\t", "quote\\"", "back\\\\slash", "\\u00e9\\u4e2d"]',
    '{"big": 123456789012345678901234567890, "neg": -0.5, "exp": 1.5e-07}',
    '"just a string"',
    "3.141592653589793",
    '{"ünï": "cödé", "emoji": "\U0001f600"}',
]


@pytest.mark.parametrize("doc", DOCS)
def test_jsonb_loader_returns_what_json_loads_returns(doc: str) -> None:
    import json

    from psycopg.postgres import types

    loader = JsonbLoader(types["jsonb"].oid)
    assert loader.load(doc.encode()) == json.loads(doc)
    assert loader.load(memoryview(doc.encode())) == json.loads(doc)


@pytest.mark.parametrize("text", ["", "{", '{"a": 1} trailing', " [1]"])
def test_jsonb_loader_on_odd_text_behaves_as_json_loads(text: str) -> None:
    import json

    from psycopg.postgres import types

    loader = JsonbLoader(types["jsonb"].oid)
    try:
        expected = json.loads(text)
    except json.JSONDecodeError as exc:
        with pytest.raises(json.JSONDecodeError) as caught:
            loader.load(text.encode())
        assert str(caught.value) == str(exc)
    else:
        assert loader.load(text.encode()) == expected


async def test_postgres_connections_load_jsonb_with_the_fast_loader(
    pg: PersistenceBackend,
) -> None:
    from psycopg.postgres import types

    ex: Executor = pg.tasks.executor  # type: ignore[attr-defined]
    conn = await ex.pool.getconn()
    try:
        loader = conn.adapters.get_loader(types["jsonb"].oid, 0)  # text format
        assert loader is JsonbLoader
        cur = await conn.execute(
            "SELECT %s::jsonb", ['{"b": [1, 2.5, "x\\ny"], "a": {"c": null}}']
        )
        assert await cur.fetchone() == ({"a": {"c": None}, "b": [1, 2.5, "x\ny"]},)
    finally:
        await ex.pool.putconn(conn)
