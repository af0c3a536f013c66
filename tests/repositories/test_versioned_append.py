"""``versioned_append`` methods: the next version number per parent, gap-free.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from synthorg.persistence import (
    DuplicateRecordError,
    PersistenceBackend,
)
from tests.repositories._rows import (
    at_second,
    decision,
)


async def test_append_with_next_version_numbers_each_task_independently(
    backend: PersistenceBackend,
) -> None:
    repo = backend.decision_records
    order = ["task-1", "task-2", "task-1", "task-3", "task-1", "task-2"]
    versions = []
    for i, task_id in enumerate(order):
        stored = await repo.append_with_next_version(
            decision(f"d{i}", task_id=task_id, recorded_at=at_second(i))
        )
        versions.append((task_id, stored.version))
    assert versions == [
        ("task-1", 1),
        ("task-2", 1),
        ("task-1", 2),
        ("task-3", 1),
        ("task-1", 3),
        ("task-2", 2),
    ]
    assert [d.version for d in await repo.list_by_task("task-1")] == [1, 2, 3]
    assert [d.id for d in await repo.list_by_task("task-1")] == ["d0", "d2", "d4"]


async def test_append_with_next_version_ignores_the_entity_version(
    backend: PersistenceBackend,
) -> None:
    repo = backend.decision_records
    first = await repo.append_with_next_version(decision("d1", version=42))
    assert first.version == 1
    second = await repo.append_with_next_version(decision("d2", version=1))
    assert second.version == 2
    assert (await repo.get("d1")).version == 1  # type: ignore[union-attr]
    assert (await repo.get("d2")).version == 2  # type: ignore[union-attr]


async def test_append_with_next_version_returns_the_stored_record(
    backend: PersistenceBackend,
) -> None:
    entity = decision(
        "d1",
        approval_id="appr-1",
        reason="looks good",
        criteria_snapshot=({"name": "tests", "ok": True}, "plain", 3),
        metadata={"k": [1, 2], "n": None},
        recorded_at=datetime(
            2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))
        ),
    )
    stored = await backend.decision_records.append_with_next_version(entity)
    assert stored == entity.model_copy(update={"version": 1})
    assert stored.recorded_at.utcoffset() == timedelta(0)
    assert await backend.decision_records.get("d1") == stored


async def test_append_with_next_version_duplicate_id_is_refused(
    backend: PersistenceBackend,
) -> None:
    repo = backend.decision_records
    await repo.append_with_next_version(decision("d1", reason="first"))
    with pytest.raises(DuplicateRecordError):
        await repo.append_with_next_version(decision("d1", reason="second"))
    rows = await repo.list_by_task("task-1")
    assert [(d.id, d.version, d.reason) for d in rows] == [("d1", 1, "first")]


async def test_append_with_next_version_continues_after_plain_appends(
    backend: PersistenceBackend,
) -> None:
    repo = backend.decision_records
    await repo.append(decision("manual", version=7))
    stored = await repo.append_with_next_version(decision("next"))
    assert stored.version == 8
