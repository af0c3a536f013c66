"""``backend.transaction()``: all-or-nothing for a group of calls (issue 9, 15).

Every kind of repository method (generated single statements, bulk writes,
compare-and-set, increments, outcome upserts, versioned appends, custom
bodies, version repositories) joins the block's transaction on both
backends; a block that raises rolls all of it back, a nested block is a
savepoint, and ``write_context`` is documented (and tested) as a lock, not a
transaction. Cancellation at every await is in
``tests/faults/test_cancellation.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from synthorg.persistence import (
    Artifact,
    ArtifactType,
    AuditEntry,
    AuditEntryFilterSpec,
    AuditVerdict,
    DecisionOutcome,
    DecisionRecord,
    DuplicateRecordError,
    FineTuneCheckpoint,
    FineTuneRun,
    FineTuneStatus,
    PersistenceBackend,
    PersistenceConfig,
    PersistenceConnectionError,
    QueryError,
    SettingRow,
    SQLiteConfig,
    Task,
    TaskType,
    VersionSnapshot,
    create_backend,
)
from synthorg.persistence.generated.enums import ApprovalRiskLevel
from synthorg.persistence.generated.models import OntologyDocument

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


class Boom(Exception):
    """The block's own error: it must come out unchanged."""


def task(task_id: str) -> Task:
    return Task(
        id=task_id,
        title=f"Title of {task_id}",
        type=TaskType.DEVELOPMENT,
        project="apollo",
        created_by="alice",
    )


def setting(key: str, value: str = "v") -> SettingRow:
    return SettingRow(namespace="tx", key=key, value=value, updated_at="t0")


def audit(entry_id: str) -> AuditEntry:
    return AuditEntry(
        id=entry_id,
        timestamp=T0,
        agent_id="a1",
        tool_name="write_file",
        tool_category="file_system",
        action_type="code:write",
        arguments_hash="ab" * 32,
        verdict=AuditVerdict.ALLOW,
        risk_level=ApprovalRiskLevel.LOW,
        matched_rules=(),
        evaluation_duration_ms=1.5,
    )


def checkpoint(checkpoint_id: str, active: bool) -> FineTuneCheckpoint:
    return FineTuneCheckpoint(
        id=checkpoint_id,
        run_id="run",
        model_path=f"/models/{checkpoint_id}",
        base_model="bge-small",
        is_active=active,
        created_at=T0,
    )


async def seed(backend: PersistenceBackend) -> None:
    await backend.tasks.save(task("existing"))
    await backend.fine_tune_runs.save(
        FineTuneRun(
            id="run",
            status=FineTuneStatus.COMPLETED,
            base_model="bge-small",
            source_dir="/data",
            started_at=T0,
            updated_at=T0,
        )
    )
    await backend.fine_tune_checkpoints.save_many(
        [checkpoint("ck-a", True), checkpoint("ck-b", False)]
    )


async def every_kind_of_call(backend: PersistenceBackend) -> None:
    """One call of each kind of repository method."""
    await backend.tasks.save(task("t-save"))
    await backend.tasks.save_many([task("t-many-1"), task("t-many-2")])
    assert await backend.tasks.delete("existing")
    assert await backend.settings.set_many([setting("a"), setting("b")])
    assert await backend.settings.set_if_unchanged(setting("c"), "")
    await backend.project_cost_aggregates.increment("proj", 2.5, "USD")
    assert await backend.artifacts.save_returning_outcome(
        Artifact(
            id="art",
            type=ArtifactType.DOCUMENT,
            path="/store/1",
            task_id="t-save",
            created_by="agent",
            description="d",
            created_at=T0,
        )
    )
    await backend.decision_records.append_with_next_version(
        DecisionRecord(
            id="dec",
            task_id="t-save",
            executing_agent_id="exec",
            reviewer_agent_id="rev",
            decision=DecisionOutcome.APPROVED,
            recorded_at=T0,
        )
    )
    assert (await backend.idempotency_keys.claim("scope", "key", 60)).claimed
    assert await backend.fine_tune_checkpoints.set_active("ck-b")
    document = OntologyDocument(ontology_id="onto", notes="n")
    assert await backend.ontology_versions.save_version(
        VersionSnapshot[OntologyDocument].of("onto", 1, document, "alice")
    )
    await backend.audit_entries.append_many([audit(f"au-{i}") for i in range(3)])


async def state(backend: PersistenceBackend) -> dict[str, Any]:
    """What every_kind_of_call changes, read back through the repositories."""
    return {
        "tasks": sorted(t.id for t in await backend.tasks.list_items(limit=100)),
        "settings": sorted(s.key for s in await backend.settings.get_namespace("tx")),
        "aggregate": await backend.project_cost_aggregates.get("proj"),
        "artifact": await backend.artifacts.get("art"),
        "decisions": await backend.decision_records.list_by_task("t-save"),
        "claim": await backend.idempotency_keys.get(("scope", "key")),
        "active": sorted(
            c.id
            for c in await backend.fine_tune_checkpoints.list_items(limit=100)
            if c.is_active
        ),
        "ontology": await backend.ontology_versions.get_latest_version("onto"),
        "audit": len(
            await backend.audit_entries.query(AuditEntryFilterSpec(), limit=100)
        ),
    }


async def test_every_kind_of_call_joins_and_rolls_back(
    backend: PersistenceBackend,
) -> None:
    await seed(backend)
    before = await state(backend)
    with pytest.raises(Boom):
        async with backend.transaction():
            await every_kind_of_call(backend)
            # Inside the block the caller sees its own writes.
            assert await backend.tasks.get("t-save") is not None
            assert await backend.tasks.get("existing") is None
            raise Boom
    assert await state(backend) == before


async def test_every_kind_of_call_commits_together(
    backend: PersistenceBackend,
) -> None:
    await seed(backend)
    async with backend.transaction():
        await every_kind_of_call(backend)
    after = await state(backend)
    assert after["tasks"] == ["t-many-1", "t-many-2", "t-save"]
    assert after["settings"] == ["a", "b", "c"]
    assert after["aggregate"] is not None
    assert after["artifact"] is not None
    assert len(after["decisions"]) == 1
    assert after["claim"] is not None
    assert after["active"] == ["ck-b"]
    assert after["ontology"] is not None
    assert after["audit"] == 3


async def test_a_failing_call_rolls_back_the_others(
    backend: PersistenceBackend,
) -> None:
    """A repository error inside the block undoes the block's earlier calls."""
    await backend.audit_entries.append_many([audit("dup")])
    with pytest.raises(DuplicateRecordError):
        async with backend.transaction():
            await backend.settings.save(setting("before-dup"))
            await backend.tasks.save(task("new"))
            await backend.audit_entries.append_many([audit("fresh"), audit("dup")])
    assert await backend.settings.get(("tx", "before-dup")) is None
    assert await backend.tasks.get("new") is None
    assert len(await backend.audit_entries.query(AuditEntryFilterSpec())) == 1


async def test_nested_transaction_is_a_savepoint(backend: PersistenceBackend) -> None:
    async with backend.transaction():
        await backend.tasks.save(task("outer"))
        with pytest.raises(Boom):
            async with backend.transaction():
                await backend.tasks.save(task("inner"))
                raise Boom
        async with backend.transaction():
            await backend.tasks.save(task("inner-kept"))
    ids = sorted(t.id for t in await backend.tasks.list_items())
    assert ids == ["inner-kept", "outer"]


async def test_tasks_started_in_the_block_join_it(backend: PersistenceBackend) -> None:
    with pytest.raises(Boom):
        async with backend.transaction():
            await asyncio.gather(*(backend.tasks.save(task(f"g{i}")) for i in range(4)))
            raise Boom
    assert await backend.tasks.list_items() == ()


async def test_other_tasks_see_committed_data_only(
    backend: PersistenceBackend,
) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with backend.transaction():
            await backend.tasks.save(task("pending"))
            inside.set()
            await release.wait()

    job = asyncio.create_task(holder())
    await asyncio.wait_for(inside.wait(), 5)
    assert await backend.tasks.get("pending") is None
    assert await backend.tasks.list_items() == ()
    release.set()
    await asyncio.wait_for(job, 5)
    assert await backend.tasks.get("pending") is not None


async def test_sqlite_other_writers_wait_for_the_block(tmp_path: Path) -> None:
    backend = create_backend(
        PersistenceConfig(sqlite=SQLiteConfig(path=str(tmp_path / "w.db")))
    )
    await backend.connect()
    await backend.migrate()
    try:
        order: list[str] = []
        inside = asyncio.Event()

        async def holder() -> None:
            async with backend.transaction():
                await backend.tasks.save(task("a"))
                inside.set()
                await asyncio.sleep(0.05)
                order.append("holder-commit")

        async def other() -> None:
            await inside.wait()
            await backend.tasks.save(task("b"))
            order.append("other-saved")

        await asyncio.wait_for(asyncio.gather(holder(), other()), 5)
        assert order == ["holder-commit", "other-saved"]
    finally:
        await backend.disconnect()


async def test_transaction_needs_a_connection(
    backend_config: PersistenceConfig,
) -> None:
    backend = create_backend(backend_config)
    with pytest.raises(PersistenceConnectionError):
        backend.transaction()


async def test_each_call_returns_a_fresh_context_manager(
    backend: PersistenceBackend,
) -> None:
    first, second = backend.transaction(), backend.transaction()
    assert first is not second
    async with first:
        await backend.tasks.save(task("one"))
    async with second:
        await backend.tasks.save(task("two"))
    assert len(await backend.tasks.list_items()) == 2


# ---------------------------------------------------------------------------
# write_context: a lock, not a transaction
# ---------------------------------------------------------------------------


async def test_write_context_is_not_a_transaction(backend: PersistenceBackend) -> None:
    with pytest.raises(Boom):
        async with backend.write_context():
            await backend.tasks.save(task("kept"))
            raise Boom
    assert await backend.tasks.get("kept") is not None


async def test_sqlite_write_context_rolls_back_a_raw_transaction_it_left_open(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "wc.db")
    backend = create_backend(PersistenceConfig(sqlite=SQLiteConfig(path=path)))
    await backend.connect()
    await backend.migrate()
    try:
        db = backend.get_db()
        with pytest.raises(Boom):
            async with backend.write_context():
                await db.execute("BEGIN IMMEDIATE")
                await backend.tasks.save(task("raw-failed"))
                raise Boom
        assert not db.in_transaction
        with pytest.raises(QueryError, match="left the transaction"):
            async with backend.write_context():
                await db.execute("BEGIN IMMEDIATE")
                await backend.tasks.save(task("raw-forgotten"))
        assert not db.in_transaction
        await backend.tasks.save(task("after"))
        other = sqlite3.connect(path)
        try:
            ids = [r[0] for r in other.execute("SELECT id FROM tasks ORDER BY id")]
        finally:
            other.close()
        assert ids == ["after"]
    finally:
        await backend.disconnect()


async def test_versioned_append_in_racing_transactions(
    backend: PersistenceBackend,
) -> None:
    """Two transactions append to one task: the second, finding its version
    taken when the first commits, retries with the next one (PostgreSQL:
    under a savepoint, so its transaction stays usable)."""
    first_in = asyncio.Event()

    def decision(record_id: str) -> DecisionRecord:
        return DecisionRecord(
            id=record_id,
            task_id="raced",
            executing_agent_id="exec",
            reviewer_agent_id="rev",
            decision=DecisionOutcome.APPROVED,
            recorded_at=T0,
        )

    async def first() -> int:
        async with backend.transaction():
            stored = await backend.decision_records.append_with_next_version(
                decision("d1")
            )
            first_in.set()
            await asyncio.sleep(0.2)
        return stored.version

    async def second() -> int:
        await first_in.wait()
        async with backend.transaction():
            await backend.tasks.save(task("alongside"))
            stored = await backend.decision_records.append_with_next_version(
                decision("d2")
            )
        return stored.version

    versions = await asyncio.wait_for(asyncio.gather(first(), second()), 10)
    assert sorted(versions) == [1, 2]
    assert await backend.tasks.get("alongside") is not None
    listed = await backend.decision_records.list_by_task("raced")
    assert sorted(d.version for d in listed) == [1, 2]
