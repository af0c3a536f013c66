"""Races on the catalogue repositories' atomic methods, on both backends.

Each test fires many concurrent calls at one row (PostgreSQL: through the
8-connection pool; SQLite: through the shared connection and write lock)
and checks that the single-statement semantics hold: one creator, one
consumer, one compare-and-set winner, gap-free versions, no lost increment.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from synthorg.persistence import (
    Artifact,
    ArtifactType,
    CostRecordFilterSpec,
    DecisionOutcome,
    DecisionRecord,
    OAuthState,
    PersistenceBackend,
    WebhookReceipt,
    WebhookStatus,
)
from tests.repositories._rows import (
    cost,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
N = 20


async def test_concurrent_save_returning_outcome_has_one_creator(
    backend: PersistenceBackend,
) -> None:
    candidates = [
        Artifact(
            id="shared",
            type=ArtifactType.DOCUMENT,
            path=f"/store/{i}",
            task_id="task-1",
            created_by=f"agent-{i}",
            description=f"writer {i}",
            created_at=T0,
        )
        for i in range(N)
    ]
    outcomes = await asyncio.gather(
        *(backend.artifacts.save_returning_outcome(c) for c in candidates)
    )
    assert outcomes.count(True) == 1
    assert outcomes.count(False) == N - 1
    stored = await backend.artifacts.get("shared")
    assert stored in candidates  # one whole write won, not a mix of fields
    assert len(await backend.artifacts.list_items()) == 1


async def test_concurrent_append_with_next_version_is_gap_free(
    backend: PersistenceBackend,
) -> None:
    records = [
        DecisionRecord(
            id=f"d{i:02d}",
            task_id="task-1",
            executing_agent_id="exec",
            reviewer_agent_id="rev",
            decision=DecisionOutcome.APPROVED,
            recorded_at=T0,
        )
        for i in range(N)
    ]
    # A second task interleaved with the first keeps its own numbering.
    others = [
        r.model_copy(update={"id": f"o{i:02d}", "task_id": "task-2"})
        for i, r in enumerate(records[:5])
    ]
    stored = await asyncio.gather(
        *(
            backend.decision_records.append_with_next_version(r)
            for r in [*records, *others]
        )
    )
    versions = [s.version for s in stored[:N]]
    assert sorted(versions) == list(range(1, N + 1))
    assert sorted(s.version for s in stored[N:]) == [1, 2, 3, 4, 5]
    listed = await backend.decision_records.list_by_task("task-1")
    assert [d.version for d in listed] == list(range(1, N + 1))
    # What each call returned is what was stored under its id.
    by_id = {d.id: d.version for d in listed}
    assert {s.id: s.version for s in stored[:N]} == by_id


async def test_concurrent_increments_lose_nothing(backend: PersistenceBackend) -> None:
    totals = await asyncio.gather(
        *(
            backend.project_cost_aggregates.increment("p1", 1.0, "USD")
            for _ in range(50)
        )
    )
    assert sorted(totals) == [float(i) for i in range(1, 51)]
    stored = await backend.project_cost_aggregates.get("p1")
    assert stored is not None
    assert stored.total_cost == 50.0
    assert stored.currency == "USD"


async def test_concurrent_mark_consumed_has_one_winner(
    backend: PersistenceBackend,
) -> None:
    await backend.oauth_states.save(
        OAuthState(
            state_token="s1",
            connection_name="github",
            redirect_uri="https://example.test/cb",
        )
    )
    outcomes = await asyncio.gather(
        *(backend.oauth_states.mark_consumed("s1", f"conn-{i}") for i in range(N))
    )
    assert outcomes.count(True) == 1
    winner = outcomes.index(True)
    stored = await backend.oauth_states.get("s1")
    assert stored is not None
    assert stored.consumed_at is not None
    # The stamped name is the winner's: both columns came from one update.
    assert stored.connection_name_returned == f"conn-{winner}"


@pytest.mark.parametrize(
    "target", [WebhookStatus.PROCESSING, WebhookStatus.FAILED, WebhookStatus.IGNORED]
)
async def test_concurrent_update_status_if_current_has_one_winner(
    backend: PersistenceBackend, target: WebhookStatus
) -> None:
    await backend.webhook_receipts.save(
        WebhookReceipt(
            receipt_id="r1", connection_name="conn-a", event_type="push", received_at=T0
        )
    )
    outcomes = await asyncio.gather(
        *(
            backend.webhook_receipts.update_status_if_current(
                "r1", target, WebhookStatus.RECEIVED
            )
            for _ in range(N)
        )
    )
    assert outcomes.count(True) == 1
    stored = await backend.webhook_receipts.get("r1")
    assert stored is not None
    assert stored.status is target


async def test_concurrent_cas_chain_each_step_won_once(
    backend: PersistenceBackend,
) -> None:
    """Racers each try every transition; every step succeeds exactly once."""
    await backend.webhook_receipts.save(
        WebhookReceipt(
            receipt_id="r1", connection_name="conn-a", event_type="push", received_at=T0
        )
    )
    steps = [
        (WebhookStatus.RECEIVED, WebhookStatus.PROCESSING),
        (WebhookStatus.PROCESSING, WebhookStatus.PROCESSED),
    ]
    for expected, status in steps:
        outcomes = await asyncio.gather(
            *(
                backend.webhook_receipts.update_status_if_current(
                    "r1", status, expected
                )
                for _ in range(N)
            )
        )
        assert outcomes.count(True) == 1
    stored = await backend.webhook_receipts.get("r1")
    assert stored is not None
    assert stored.status is WebhookStatus.PROCESSED


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
