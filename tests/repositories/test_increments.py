"""``increment`` methods: create the row, then add to it.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from synthorg.persistence import (
    MixedCurrencyAggregationError,
    PersistenceBackend,
    ProjectCostAggregate,
)


async def test_increment_creates_then_adds(backend: PersistenceBackend) -> None:
    repo = backend.project_cost_aggregates
    before = datetime.now(UTC)
    assert await repo.increment("p1", 1.5, "USD") == pytest.approx(1.5)
    created = await repo.get("p1")
    assert created is not None
    assert created.total_cost == pytest.approx(1.5)
    assert created.currency == "USD"
    assert before - timedelta(seconds=5) <= created.updated_at
    assert await repo.increment("p1", 2.25, "USD") == pytest.approx(3.75)
    assert await repo.increment("p1", 0.0, "USD") == pytest.approx(3.75)
    updated = await repo.get("p1")
    assert updated is not None
    assert updated.total_cost == pytest.approx(3.75)
    assert updated.updated_at >= created.updated_at


async def test_increment_keeps_projects_apart(backend: PersistenceBackend) -> None:
    repo = backend.project_cost_aggregates
    await repo.increment("p1", 1.0, "USD")
    assert await repo.increment("p2", 10.0, "EUR") == pytest.approx(10.0)
    assert await repo.increment("p1", 2.0, "USD") == pytest.approx(3.0)
    totals = {a.project_id: (a.total_cost, a.currency) for a in await repo.list_items()}
    assert totals == {
        "p1": (pytest.approx(3.0), "USD"),
        "p2": (pytest.approx(10.0), "EUR"),
    }


async def test_increment_in_another_currency_raises_and_changes_nothing(
    backend: PersistenceBackend,
) -> None:
    repo = backend.project_cost_aggregates
    await repo.increment("p1", 4.0, "USD")
    before = await repo.get("p1")
    with pytest.raises(MixedCurrencyAggregationError) as info:
        await repo.increment("p1", 100.0, "EUR")
    assert "EUR" in info.value.currencies
    assert await repo.get("p1") == before
    # The project still accepts its own currency afterwards.
    assert await repo.increment("p1", 1.0, "USD") == pytest.approx(5.0)


async def test_increment_on_a_saved_aggregate_adds_to_its_total(
    backend: PersistenceBackend,
) -> None:
    repo = backend.project_cost_aggregates
    await repo.save(
        ProjectCostAggregate(project_id="p1", total_cost=10.0, currency="GBP")
    )
    assert await repo.increment("p1", 0.5, "GBP") == pytest.approx(10.5)
    with pytest.raises(MixedCurrencyAggregationError):
        await repo.increment("p1", 0.5, "USD")
    stored = await repo.get("p1")
    assert stored is not None
    assert (stored.total_cost, stored.currency) == (pytest.approx(10.5), "GBP")
