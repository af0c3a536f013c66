"""``delete`` methods: what a bulk delete removes, what it spares, and its count.

Every test runs on both backends (the ``backend`` fixture).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from synthorg.persistence import (
    AuditEntryFilterSpec,
    CheckpointFilterSpec,
    IdempotencyRecord,
    PersistenceBackend,
    QueryError,
)
from tests.repositories._rows import (
    _seed_audit,
    _seed_checkpoints,
    at_minute,
    ids,
    receipt,
)


async def test_audit_purge_before_deletes_strictly_older(
    backend: PersistenceBackend,
) -> None:
    await _seed_audit(backend)
    assert await backend.audit_entries.purge_before(at_minute(20)) == 2  # e0, e1
    remaining = ids(await backend.audit_entries.query(AuditEntryFilterSpec()))
    assert remaining == ["e4", "e5", "e3", "e2"]  # e2 is at the cutoff: kept
    assert await backend.audit_entries.purge_before(at_minute(20)) == 0
    assert await backend.audit_entries.purge_before(at_minute(41)) == 4
    assert await backend.audit_entries.query(AuditEntryFilterSpec()) == ()


async def test_audit_purge_before_refuses_a_naive_cutoff(
    backend: PersistenceBackend,
) -> None:
    await _seed_audit(backend)
    with pytest.raises(QueryError):
        await backend.audit_entries.purge_before(datetime(2030, 1, 1))
    assert len(await backend.audit_entries.query(AuditEntryFilterSpec())) == 6


async def test_cleanup_expired_counts_and_keeps_live_rows(
    backend: PersistenceBackend,
) -> None:
    repo = backend.idempotency_keys
    now = datetime.now(UTC)
    for i, offset in enumerate([-120, -1, 300, 3600]):
        await repo.save(
            IdempotencyRecord(
                scope="s",
                key=f"k{i}",
                claim_token=f"t{i}",
                expires_at=now + timedelta(seconds=offset),
            )
        )
    assert await repo.cleanup_expired() == 2
    assert [r.key for r in await repo.list_items()] == ["k2", "k3"]
    assert await repo.cleanup_expired() == 0


async def test_cleanup_old_for_connection_only_that_connection_and_age(
    backend: PersistenceBackend,
) -> None:
    repo = backend.webhook_receipts
    now = datetime.now(UTC)
    rows = [
        receipt("a-ancient", received_at=now - timedelta(days=30)),
        receipt("a-old", received_at=now - timedelta(days=8)),
        receipt("a-recent", received_at=now - timedelta(days=6)),
        receipt("a-now", received_at=now),
        receipt(
            "b-ancient", connection_name="conn-b", received_at=now - timedelta(days=30)
        ),
    ]
    for row in rows:
        await repo.save(row)
    assert await repo.cleanup_old_for_connection("conn-a", 7) == 2
    assert sorted(r.receipt_id for r in await repo.list_items()) == [
        "a-now",
        "a-recent",
        "b-ancient",
    ]
    assert await repo.cleanup_old_for_connection("conn-a", 7) == 0
    assert await repo.cleanup_old_for_connection("conn-a", 5) == 1
    assert await repo.cleanup_old_for_connection("conn-b", 31) == 0
    assert await repo.cleanup_old_for_connection("conn-b", 29) == 1
    assert sorted(r.receipt_id for r in await repo.list_items()) == ["a-now"]


@pytest.mark.parametrize("days", [0, -1, -365])
async def test_cleanup_old_for_connection_non_positive_days_deletes_nothing(
    backend: PersistenceBackend, days: int
) -> None:
    repo = backend.webhook_receipts
    now = datetime.now(UTC)
    await repo.save(receipt("old", received_at=now - timedelta(days=400)))
    await repo.save(receipt("new", received_at=now))
    assert await repo.cleanup_old_for_connection("conn-a", days) == 0
    assert sorted(r.receipt_id for r in await repo.list_items()) == ["new", "old"]


async def test_delete_by_execution_counts_and_spares_other_executions(
    backend: PersistenceBackend,
) -> None:
    await _seed_checkpoints(backend)
    assert await backend.checkpoints.delete_by_execution("e1") == 4
    remaining = await backend.checkpoints.query(CheckpointFilterSpec())
    assert sorted(c.id for c in remaining) == ["c4", "c5"]
    assert await backend.checkpoints.get_latest(execution_id="e1") is None
    assert await backend.checkpoints.delete_by_execution("e1") == 0
    assert await backend.checkpoints.delete_by_execution("missing") == 0
    assert await backend.checkpoints.delete_by_execution("e3") == 1
    remaining = await backend.checkpoints.query(CheckpointFilterSpec())
    assert [c.id for c in remaining] == ["c4"]
