"""Behaviour of the cost_records and messages repositories on both backends.

cost_records: ``aggregate`` filters and the mixed-currency refusal, the
currency and cost checks (model and database), append-only duplicate keys,
newest-first ordering with id as the tie-breaker, and aware-only retention.
messages: ``get_history``, ``get_by_id`` scoped by channel, ``delete`` and a
JSON round trip.  Plus 50 concurrent appends.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from synthorg.persistence import (
    CallCategory,
    ConstraintViolationError,
    CostRecord,
    CostRecordFilterSpec,
    DuplicateRecordError,
    InvalidValueError,
    Message,
    MessageFilterSpec,
    MessageType,
    MixedCurrencyAggregationError,
    PersistenceBackend,
    Priority,
    QueryError,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def cost(
    record_id: str,
    *,
    agent_id: str = "agent-a",
    task_id: str = "task-1",
    amount: float = 1.0,
    currency: str = "USD",
    timestamp: datetime = T0,
) -> CostRecord:
    return CostRecord(
        id=record_id,
        agent_id=agent_id,
        task_id=task_id,
        provider="prov",
        model="model-x",
        input_tokens=10,
        output_tokens=20,
        cost=amount,
        currency=currency,
        timestamp=timestamp,
        call_category=CallCategory.PRODUCTIVE,
    )


def message(
    message_id: str,
    *,
    channel: str = "general",
    timestamp: datetime = T0,
    **extra: Any,
) -> Message:
    return Message(
        id=message_id,
        timestamp=timestamp,
        sender="agent-a",
        to=channel,
        type=MessageType.ANNOUNCEMENT,
        priority=Priority.HIGH,
        channel=channel,
        **extra,
    )


# ---------------------------------------------------------------------------
# cost_records.aggregate
# ---------------------------------------------------------------------------


async def _seed_costs(backend: PersistenceBackend) -> None:
    """a/1: 1.5, a/2: 2.25, b/1: 4.0, b/2: 8.0 (all USD)."""
    rows = [
        cost("c1", agent_id="a", task_id="t1", amount=1.5),
        cost("c2", agent_id="a", task_id="t2", amount=2.25),
        cost("c3", agent_id="b", task_id="t1", amount=4.0),
        cost("c4", agent_id="b", task_id="t2", amount=8.0),
    ]
    for row in rows:
        await backend.cost_records.append(row)


async def test_aggregate_without_filter_sums_everything(
    backend: PersistenceBackend,
) -> None:
    await _seed_costs(backend)
    assert await backend.cost_records.aggregate() == pytest.approx(15.75)


async def test_aggregate_by_agent_id(backend: PersistenceBackend) -> None:
    await _seed_costs(backend)
    assert await backend.cost_records.aggregate(agent_id="a") == pytest.approx(3.75)
    assert await backend.cost_records.aggregate(agent_id="b") == pytest.approx(12.0)


async def test_aggregate_by_task_id(backend: PersistenceBackend) -> None:
    await _seed_costs(backend)
    assert await backend.cost_records.aggregate(task_id="t1") == pytest.approx(5.5)
    assert await backend.cost_records.aggregate(task_id="t2") == pytest.approx(10.25)


async def test_aggregate_by_agent_and_task(backend: PersistenceBackend) -> None:
    await _seed_costs(backend)
    total = await backend.cost_records.aggregate(agent_id="b", task_id="t2")
    assert total == pytest.approx(8.0)


async def test_aggregate_is_zero_when_nothing_matches(
    backend: PersistenceBackend,
) -> None:
    empty = await backend.cost_records.aggregate()
    assert empty == 0.0
    assert isinstance(empty, float)
    await _seed_costs(backend)
    assert await backend.cost_records.aggregate(agent_id="nobody") == 0.0
    assert await backend.cost_records.aggregate(agent_id="a", task_id="zzz") == 0.0


async def test_aggregate_refuses_mixed_currencies(backend: PersistenceBackend) -> None:
    await backend.cost_records.append(cost("u1", agent_id="a", currency="USD"))
    await backend.cost_records.append(cost("e1", agent_id="b", currency="EUR"))
    await backend.cost_records.append(cost("u2", agent_id="b", currency="USD"))
    with pytest.raises(MixedCurrencyAggregationError) as info:
        await backend.cost_records.aggregate()
    assert info.value.currencies == ("EUR", "USD")
    with pytest.raises(MixedCurrencyAggregationError) as info:
        await backend.cost_records.aggregate(agent_id="b")
    assert info.value.currencies == ("EUR", "USD")


async def test_aggregate_single_currency_after_narrowing(
    backend: PersistenceBackend,
) -> None:
    await backend.cost_records.append(cost("u1", agent_id="a", amount=2.0))
    await backend.cost_records.append(cost("u2", agent_id="a", amount=3.0))
    await backend.cost_records.append(
        cost("e1", agent_id="b", amount=7.0, currency="EUR")
    )
    assert await backend.cost_records.aggregate(agent_id="a") == pytest.approx(5.0)
    assert await backend.cost_records.aggregate(agent_id="b") == pytest.approx(7.0)


# ---------------------------------------------------------------------------
# cost_records: checks, duplicates, ordering, retention
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["usd", "US", "USDD", "U1D", "€UR"])
def test_model_refuses_a_malformed_currency(bad: str) -> None:
    with pytest.raises(ValidationError):
        cost("c1", currency=bad)


def test_model_refuses_a_negative_cost() -> None:
    with pytest.raises(ValidationError):
        cost("c1", amount=-0.01)


def _constructed(**overrides: Any) -> CostRecord:
    """A CostRecord built without validation, to reach the database checks."""
    values: dict[str, Any] = cost("c-bad").model_dump()
    values.update(overrides)
    return CostRecord.model_construct(**values)


async def test_repository_refuses_a_malformed_currency_before_the_database(
    backend: PersistenceBackend,
) -> None:
    # model_construct skips validation; the repository re-validates and
    # refuses before any SQL (the CHECK still guards raw SQL, below).
    with pytest.raises(InvalidValueError) as info:
        await backend.cost_records.append(_constructed(currency="usd"))
    assert isinstance(info.value, ConstraintViolationError)
    assert info.value.constraint == "cost_records.currency"
    assert await backend.cost_records.query(CostRecordFilterSpec()) == ()


async def test_repository_refuses_a_negative_cost_before_the_database(
    backend: PersistenceBackend,
) -> None:
    with pytest.raises(InvalidValueError) as info:
        await backend.cost_records.append(_constructed(cost=-1.0))
    assert isinstance(info.value, ConstraintViolationError)
    assert info.value.constraint == "cost_records.cost"
    assert await backend.cost_records.query(CostRecordFilterSpec()) == ()


_RAW_COLUMNS = (
    '"id", "agent_id", "task_id", "provider", "model", "input_tokens", '
    '"output_tokens", "cost", "currency", "timestamp", "call_category"'
)


async def _raw_insert_cost(
    backend: PersistenceBackend, *, currency: str, amount: float
) -> None:
    """Insert a cost_records row with plain SQL, bypassing model and repository."""
    if backend.kind == "sqlite":
        db = backend.get_db()
        await db.execute(
            f"INSERT INTO cost_records ({_RAW_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                "raw",
                "a",
                "t",
                "p",
                "m",
                1,
                1,
                amount,
                currency,
                "2024-05-01T12:00:00.000000+00:00",
                "productive",
            ),
        )
    else:
        pool = backend.get_db()
        async with pool.connection() as conn:
            await conn.execute(
                f"INSERT INTO cost_records ({_RAW_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                ("raw", "a", "t", "p", "m", 1, 1, amount, currency, T0, "productive"),
            )


@pytest.mark.parametrize("bad", ["usd", "US", "USDD", "U$D"])
async def test_database_refuses_a_malformed_currency_from_raw_sql(
    backend: PersistenceBackend, bad: str
) -> None:
    if backend.kind == "sqlite":
        with pytest.raises(sqlite3.IntegrityError, match="currency_pattern"):
            await _raw_insert_cost(backend, currency=bad, amount=1.0)
    else:
        with pytest.raises(psycopg.errors.CheckViolation) as info:
            await _raw_insert_cost(backend, currency=bad, amount=1.0)
        assert info.value.diag.constraint_name == "ck_cost_records_currency_pattern"
    assert await backend.cost_records.query(CostRecordFilterSpec()) == ()


async def test_database_refuses_a_negative_cost_from_raw_sql(
    backend: PersistenceBackend,
) -> None:
    if backend.kind == "sqlite":
        with pytest.raises(sqlite3.IntegrityError, match="cost_ge"):
            await _raw_insert_cost(backend, currency="USD", amount=-5.0)
    else:
        with pytest.raises(psycopg.errors.CheckViolation) as info:
            await _raw_insert_cost(backend, currency="USD", amount=-5.0)
        assert info.value.diag.constraint_name == "ck_cost_records_cost_ge"


async def test_raw_sql_with_a_valid_currency_is_accepted(
    backend: PersistenceBackend,
) -> None:
    """Control for the raw-SQL refusals: the same statement works when valid."""
    await _raw_insert_cost(backend, currency="JPY", amount=3.0)
    (row,) = await backend.cost_records.query(CostRecordFilterSpec())
    assert row.currency == "JPY"
    assert row.timestamp == T0


async def test_append_with_an_existing_id_is_refused_and_changes_nothing(
    backend: PersistenceBackend,
) -> None:
    original = cost("dup", agent_id="a", amount=1.0)
    await backend.cost_records.append(original)
    clash = cost("dup", agent_id="b", amount=99.0, currency="EUR")
    with pytest.raises(DuplicateRecordError):
        await backend.cost_records.append(clash)
    assert await backend.cost_records.query(CostRecordFilterSpec()) == (original,)
    assert await backend.cost_records.aggregate() == pytest.approx(1.0)


async def test_query_is_newest_first_with_id_breaking_timestamp_ties(
    backend: PersistenceBackend,
) -> None:
    later = T0 + timedelta(minutes=5)
    earlier = T0 - timedelta(minutes=5)
    # Appended in an order that matches neither the timestamp nor the id order.
    for record_id, ts in [
        ("m-b", T0),
        ("z-old", earlier),
        ("m-c", T0),
        ("a-new", later),
        ("m-a", T0),
    ]:
        await backend.cost_records.append(cost(record_id, timestamp=ts))
    rows = await backend.cost_records.query(CostRecordFilterSpec())
    assert [r.id for r in rows] == ["a-new", "m-a", "m-b", "m-c", "z-old"]
    page = await backend.cost_records.query(CostRecordFilterSpec(), limit=2, offset=1)
    assert [r.id for r in page] == ["m-a", "m-b"]


async def test_query_orders_by_instant_across_utc_offsets(
    backend: PersistenceBackend,
) -> None:
    """A +02:00 timestamp that is earlier in UTC sorts as earlier."""
    plus_two = datetime(2024, 5, 1, 15, 0, tzinfo=timezone(timedelta(hours=2)))
    await backend.cost_records.append(cost("utc-14", timestamp=T0 + timedelta(hours=2)))
    await backend.cost_records.append(cost("plus2-13", timestamp=plus_two))
    rows = await backend.cost_records.query(CostRecordFilterSpec())
    assert [r.id for r in rows] == ["utc-14", "plus2-13"]
    assert rows[1].timestamp == plus_two


async def test_purge_before_refuses_a_naive_datetime(
    backend: PersistenceBackend,
) -> None:
    await backend.cost_records.append(cost("old", timestamp=T0 - timedelta(days=9)))
    with pytest.raises(QueryError):
        await backend.cost_records.purge_before(datetime(2030, 1, 1))
    assert len(await backend.cost_records.query(CostRecordFilterSpec())) == 1


async def test_purge_before_deletes_only_older_rows(
    backend: PersistenceBackend,
) -> None:
    await backend.cost_records.append(cost("old", timestamp=T0 - timedelta(days=9)))
    await backend.cost_records.append(cost("edge", timestamp=T0))
    await backend.cost_records.append(cost("new", timestamp=T0 + timedelta(days=1)))
    assert await backend.cost_records.purge_before(T0) == 1
    rows = await backend.cost_records.query(CostRecordFilterSpec())
    assert [r.id for r in rows] == ["new", "edge"]


async def test_fifty_concurrent_appends_all_land(backend: PersistenceBackend) -> None:
    records = [
        cost(f"c{i:03d}", amount=0.5, timestamp=T0 + timedelta(seconds=i))
        for i in range(50)
    ]
    await asyncio.gather(*(backend.cost_records.append(r) for r in records))
    rows = await backend.cost_records.query(CostRecordFilterSpec(), limit=100)
    assert len(rows) == 50
    assert {r.id for r in rows} == {r.id for r in records}
    assert await backend.cost_records.aggregate() == pytest.approx(25.0)


# ---------------------------------------------------------------------------
# messages
# ---------------------------------------------------------------------------


async def test_get_history_only_that_channel_newest_first_at_most_limit(
    backend: PersistenceBackend,
) -> None:
    for i in range(5):
        await backend.messages.append(
            message(f"g{i}", channel="general", timestamp=T0 + timedelta(minutes=i))
        )
    for i in range(3):
        await backend.messages.append(
            message(f"o{i}", channel="other", timestamp=T0 + timedelta(minutes=10 + i))
        )
    history = await backend.messages.get_history("general", 3)
    assert [m.id for m in history] == ["g4", "g3", "g2"]
    assert all(m.channel == "general" for m in history)
    full = await backend.messages.get_history("general", 100)
    assert [m.id for m in full] == ["g4", "g3", "g2", "g1", "g0"]
    assert [m.id for m in await backend.messages.get_history("other")] == [
        "o2",
        "o1",
        "o0",
    ]
    assert await backend.messages.get_history("empty-channel", 10) == ()


async def test_get_history_breaks_timestamp_ties_by_id(
    backend: PersistenceBackend,
) -> None:
    for message_id in ["b", "c", "a"]:
        await backend.messages.append(message(message_id))
    assert [m.id for m in await backend.messages.get_history("general", 2)] == [
        "a",
        "b",
    ]


@pytest.mark.parametrize("bad", [0, -1, True, 2.0])
async def test_get_history_refuses_a_bad_limit(
    backend: PersistenceBackend, bad: Any
) -> None:
    await backend.messages.append(message("m1"))
    with pytest.raises(QueryError):
        await backend.messages.get_history("general", bad)


async def test_get_by_id_is_scoped_to_the_channel(backend: PersistenceBackend) -> None:
    stored = message("m1", channel="general")
    await backend.messages.append(stored)
    await backend.messages.append(message("m2", channel="other"))
    assert await backend.messages.get_by_id("general", "m1") == stored
    assert await backend.messages.get_by_id("other", "m1") is None
    assert await backend.messages.get_by_id("general", "missing") is None


async def test_delete_true_then_false_and_gone_from_history(
    backend: PersistenceBackend,
) -> None:
    await backend.messages.append(message("keep", timestamp=T0))
    await backend.messages.append(message("drop", timestamp=T0 + timedelta(seconds=1)))
    assert await backend.messages.delete("drop") is True
    assert await backend.messages.delete("drop") is False
    assert await backend.messages.delete("never-existed") is False
    assert [m.id for m in await backend.messages.get_history("general")] == ["keep"]
    assert await backend.messages.get_by_id("general", "drop") is None
    assert [m.id for m in await backend.messages.query(MessageFilterSpec())] == ["keep"]


async def test_message_json_round_trip_with_unicode(
    backend: PersistenceBackend,
) -> None:
    stored = message(
        "uni",
        content=(
            {"kind": "text", "text": 'Grüße, 世界! 🚀 «quotes» "dq" \\ back'},
            {"kind": "data", "data": {"nested": [1, 2.5, None, True, "ß"]}},
            "bare string part",
        ),
        attachments=({"name": "résumé.pdf", "size": 12345}, ["a", "ü"]),
        metadata={"ключ": "значение", "emoji": "🎉", "n": 0, "deep": {"x": [{}]}},
    )
    await backend.messages.append(stored)
    loaded = await backend.messages.get_by_id("general", "uni")
    assert loaded == stored
    assert loaded is not None
    assert loaded.metadata["ключ"] == "значение"
    (history,) = await backend.messages.get_history("general", 1)
    assert history == stored


async def test_message_append_with_an_existing_id_is_refused(
    backend: PersistenceBackend,
) -> None:
    original = message("m1", channel="general")
    await backend.messages.append(original)
    with pytest.raises(DuplicateRecordError):
        await backend.messages.append(message("m1", channel="other"))
    assert await backend.messages.get_by_id("general", "m1") == original
    assert await backend.messages.get_by_id("other", "m1") is None
