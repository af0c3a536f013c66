"""``aggregate`` methods: a sum over the matching rows, in one currency.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

import pytest

from synthorg.persistence import (
    MixedCurrencyAggregationError,
    PersistenceBackend,
)
from tests.repositories._rows import (
    _seed_costs,
    cost,
)


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
