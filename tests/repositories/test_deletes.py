"""``delete`` methods: what a bulk delete removes, what it spares, and its count.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from synthorg.persistence import (
    AuditEntryFilterSpec,
    CheckpointFilterSpec,
    CostRecordFilterSpec,
    IdempotencyRecord,
    MessageFilterSpec,
    PersistenceBackend,
    QueryError,
)
from tests.repositories._rows import (
    T0,
    _seed_audit,
    _seed_checkpoints,
    at_minute,
    cost,
    ids,
    message,
    receipt,
    setting_row,
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


async def test_delete_namespace_counts_and_spares_other_namespaces(
    backend: PersistenceBackend,
) -> None:
    for key in ["a", "b", "c"]:
        await backend.settings.save(setting_row("doomed", key, key, "t1"))
    await backend.settings.save(setting_row("kept", "a", "a", "t1"))
    await backend.settings.save(setting_row("doomed-not", "a", "a", "t1"))
    assert await backend.settings.delete_namespace("doomed") == 3
    assert await backend.settings.get_namespace("doomed") == ()
    assert len(await backend.settings.get_namespace("kept")) == 1
    assert len(await backend.settings.get_namespace("doomed-not")) == 1
    assert await backend.settings.delete_namespace("doomed") == 0


async def test_delete_namespace_returning_keys(backend: PersistenceBackend) -> None:
    keys = {"x", "y", "Zed", "ünï"}
    for key in keys:
        await backend.settings.save(setting_row("doomed", key, "v", "t1"))
    await backend.settings.save(setting_row("kept", "x", "v", "t1"))
    deleted = await backend.settings.delete_namespace_returning_keys("doomed")
    assert isinstance(deleted, tuple)
    assert len(deleted) == len(keys)
    assert set(deleted) == keys
    assert await backend.settings.get_namespace("doomed") == ()
    assert await backend.settings.get(("kept", "x")) is not None
    assert await backend.settings.delete_namespace_returning_keys("doomed") == ()
    assert await backend.settings.delete_namespace_returning_keys("never") == ()
