"""Bespoke methods of nine catalogue repositories, on both backends.

artifacts ``save_returning_outcome``; projects ``create``/``update``/``save``;
decision_records ``append_with_next_version`` and its readers plus the
reviewer-differs rule (model and CHECK); project_cost_aggregates
``increment``; oauth_states ``mark_consumed``/``cleanup_expired``;
webhook_receipts status updates, listing and retention; checkpoints
``get_latest``/``delete_by_execution``; heartbeats ``get_stale``;
agent_states ``get_active``.  Races live in ``test_catalogue_concurrency.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from synthorg.persistence import (
    AgentRuntimeState,
    AgentStatus,
    Artifact,
    ArtifactType,
    Checkpoint,
    CheckpointFilterSpec,
    DecisionOutcome,
    DecisionRecord,
    DecisionRole,
    DuplicateRecordError,
    Heartbeat,
    InvalidValueError,
    MixedCurrencyAggregationError,
    OAuthState,
    PersistenceBackend,
    Project,
    ProjectCostAggregate,
    ProjectFilterSpec,
    ProjectStatus,
    QueryError,
    RecordNotFoundError,
    WebhookReceipt,
    WebhookStatus,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def artifact(artifact_id: str, **extra: Any) -> Artifact:
    fields: dict[str, Any] = {
        "id": artifact_id,
        "type": ArtifactType.CODE,
        "path": f"/store/{artifact_id}",
        "task_id": "task-1",
        "created_by": "agent-a",
        "created_at": T0,
    }
    fields.update(extra)
    return Artifact(**fields)


def project(project_id: str, **extra: Any) -> Project:
    fields: dict[str, Any] = {"id": project_id, "name": f"Project {project_id}"}
    fields.update(extra)
    return Project(**fields)


def decision(
    decision_id: str,
    *,
    task_id: str = "task-1",
    executor: str = "exec",
    reviewer: str = "rev",
    recorded_at: datetime = T0,
    **extra: Any,
) -> DecisionRecord:
    return DecisionRecord(
        id=decision_id,
        task_id=task_id,
        executing_agent_id=executor,
        reviewer_agent_id=reviewer,
        decision=DecisionOutcome.APPROVED,
        recorded_at=recorded_at,
        **extra,
    )


def oauth_state(token: str, **extra: Any) -> OAuthState:
    fields: dict[str, Any] = {
        "state_token": token,
        "connection_name": "github",
        "redirect_uri": "https://example.test/cb",
    }
    fields.update(extra)
    return OAuthState(**fields)


def receipt(receipt_id: str, **extra: Any) -> WebhookReceipt:
    fields: dict[str, Any] = {
        "receipt_id": receipt_id,
        "connection_name": "conn-a",
        "event_type": "push",
        "received_at": T0,
    }
    fields.update(extra)
    return WebhookReceipt(**fields)


def checkpoint(
    checkpoint_id: str,
    *,
    execution_id: str,
    task_id: str,
    turn: int,
    created_at: datetime = T0,
) -> Checkpoint:
    return Checkpoint(
        id=checkpoint_id,
        execution_id=execution_id,
        agent_id="agent-a",
        task_id=task_id,
        turn_number=turn,
        context={"turn": turn},
        created_at=created_at,
    )


def heartbeat(execution_id: str, when: datetime) -> Heartbeat:
    return Heartbeat(
        execution_id=execution_id,
        agent_id="agent-a",
        task_id="task-1",
        last_heartbeat_at=when,
    )


def agent_state(
    agent_id: str, status: AgentStatus, when: datetime
) -> AgentRuntimeState:
    return AgentRuntimeState(agent_id=agent_id, status=status, last_activity_at=when)


# ---------------------------------------------------------------------------
# artifacts.save_returning_outcome
# ---------------------------------------------------------------------------


async def test_save_returning_outcome_true_on_create_false_on_update(
    backend: PersistenceBackend,
) -> None:
    repo = backend.artifacts
    first = artifact("a1", description="v1", size_bytes=10)
    assert await repo.save_returning_outcome(first) is True
    assert await repo.get("a1") == first

    changed = artifact(
        "a1",
        type=ArtifactType.DATASET,
        path="/store/moved",
        task_id="task-2",
        created_by="agent-b",
        description="v2",
        content_type="text/csv",
        size_bytes=99,
        created_at=at(60),
        project_id="proj-1",
    )
    assert await repo.save_returning_outcome(changed) is False
    assert await repo.get("a1") == changed
    # Saving the identical entity again is still an update.
    assert await repo.save_returning_outcome(changed) is False
    # Another id is a fresh create and leaves the first untouched.
    assert await repo.save_returning_outcome(artifact("a2")) is True
    assert [a.id for a in await repo.list_items()] == ["a1", "a2"]
    assert await repo.get("a1") == changed


async def test_save_returning_outcome_after_plain_save_is_an_update(
    backend: PersistenceBackend,
) -> None:
    await backend.artifacts.save(artifact("a1", description="old"))
    assert (
        await backend.artifacts.save_returning_outcome(
            artifact("a1", description="new")
        )
        is False
    )
    stored = await backend.artifacts.get("a1")
    assert stored is not None
    assert stored.description == "new"
    # After a delete, the same id is created again.
    assert await backend.artifacts.delete("a1") is True
    assert await backend.artifacts.save_returning_outcome(artifact("a1")) is True


# ---------------------------------------------------------------------------
# projects.create / update / save
# ---------------------------------------------------------------------------


async def test_project_create_inserts_a_new_project(
    backend: PersistenceBackend,
) -> None:
    full = project(
        "p1",
        description="desc",
        team=("a", "b"),
        lead="a",
        task_ids=("t1",),
        deadline=at(3600),
        budget=12.5,
        status=ProjectStatus.ACTIVE,
    )
    await backend.projects.create(full)
    assert await backend.projects.get("p1") == full


async def test_project_create_refuses_an_existing_id_and_keeps_the_row(
    backend: PersistenceBackend,
) -> None:
    original = project("p1", budget=5.0, lead="alice")
    await backend.projects.create(original)
    with pytest.raises(DuplicateRecordError):
        await backend.projects.create(
            project("p1", name="Other", budget=99.0, status=ProjectStatus.CANCELLED)
        )
    assert await backend.projects.get("p1") == original
    assert await backend.projects.count(ProjectFilterSpec()) == 1


async def test_project_create_refuses_an_id_written_by_save(
    backend: PersistenceBackend,
) -> None:
    original = project("p1")
    await backend.projects.save(original)
    with pytest.raises(DuplicateRecordError):
        await backend.projects.create(project("p1", name="Clobber"))
    assert await backend.projects.get("p1") == original


async def test_project_update_replaces_every_field(backend: PersistenceBackend) -> None:
    await backend.projects.create(
        project("p1", team=("a",), lead="a", deadline=at(10), budget=1.0)
    )
    await backend.projects.create(project("p2"))
    replaced = project(
        "p1",
        name="Renamed",
        description="new",
        team=("x", "y"),
        lead=None,
        task_ids=("t9", "t8"),
        deadline=None,
        budget=7.25,
        status=ProjectStatus.ON_HOLD,
    )
    await backend.projects.update(replaced)
    assert await backend.projects.get("p1") == replaced
    assert await backend.projects.get("p2") == project("p2")


async def test_project_update_of_a_missing_id_raises_and_writes_nothing(
    backend: PersistenceBackend,
) -> None:
    await backend.projects.create(project("p1"))
    with pytest.raises(RecordNotFoundError):
        await backend.projects.update(project("missing", budget=3.0))
    assert await backend.projects.get("missing") is None
    assert await backend.projects.count(ProjectFilterSpec()) == 1
    assert await backend.projects.get("p1") == project("p1")


async def test_project_save_stays_an_upsert(backend: PersistenceBackend) -> None:
    await backend.projects.save(project("p1", budget=1.0))
    assert await backend.projects.get("p1") == project("p1", budget=1.0)
    await backend.projects.save(project("p1", budget=2.0, status=ProjectStatus.ACTIVE))
    assert await backend.projects.get("p1") == project(
        "p1", budget=2.0, status=ProjectStatus.ACTIVE
    )
    assert await backend.projects.count(ProjectFilterSpec()) == 1
    # and update works on a row that save created
    await backend.projects.update(project("p1", name="Via update"))
    assert await backend.projects.get("p1") == project("p1", name="Via update")


# ---------------------------------------------------------------------------
# decision_records
# ---------------------------------------------------------------------------


async def test_append_with_next_version_numbers_each_task_independently(
    backend: PersistenceBackend,
) -> None:
    repo = backend.decision_records
    order = ["task-1", "task-2", "task-1", "task-3", "task-1", "task-2"]
    versions = []
    for i, task_id in enumerate(order):
        stored = await repo.append_with_next_version(
            decision(f"d{i}", task_id=task_id, recorded_at=at(i))
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


def test_reviewer_equal_to_executor_is_refused_by_the_model() -> None:
    with pytest.raises(ValidationError, match="reviewer_agent_id must differ"):
        decision("d1", executor="same", reviewer="same")


async def test_reviewer_equal_to_executor_is_refused_before_any_write(
    backend: PersistenceBackend,
) -> None:
    bad = DecisionRecord.model_construct(
        id="d1",
        task_id="task-1",
        approval_id=None,
        executing_agent_id="same",
        reviewer_agent_id="same",
        decision=DecisionOutcome.REJECTED,
        reason=None,
        criteria_snapshot=(),
        recorded_at=T0,
        version=0,
        metadata={},
    )
    # model_construct skips the model's own check; the repository re-validates
    # the unstamped entity and refuses it before the database is reached.
    with pytest.raises(InvalidValueError) as info:
        await backend.decision_records.append_with_next_version(bad)
    assert info.value.constraint == "decision_records"
    assert "must differ" in str(info.value)
    with pytest.raises(InvalidValueError) as info:
        await backend.decision_records.append(bad)
    assert info.value.constraint == "decision_records"
    assert await backend.decision_records.get("d1") is None
    assert await backend.decision_records.list_by_task("task-1") == ()


async def test_decision_get_returns_none_for_a_missing_id(
    backend: PersistenceBackend,
) -> None:
    await backend.decision_records.append_with_next_version(decision("d1"))
    assert await backend.decision_records.get("d2") is None


async def test_list_by_task_orders_by_version_not_time_and_pages(
    backend: PersistenceBackend,
) -> None:
    repo = backend.decision_records
    # Recorded times run backwards so a time ordering would reverse the list.
    for i in range(5):
        await repo.append_with_next_version(decision(f"d{i}", recorded_at=at(-i * 10)))
    await repo.append_with_next_version(decision("other", task_id="task-2"))
    rows = await repo.list_by_task("task-1")
    assert [(d.id, d.version) for d in rows] == [
        ("d0", 1),
        ("d1", 2),
        ("d2", 3),
        ("d3", 4),
        ("d4", 5),
    ]
    page = await repo.list_by_task("task-1", limit=2, offset=1)
    assert [d.version for d in page] == [2, 3]
    assert await repo.list_by_task("task-1", limit=10, offset=5) == ()
    assert await repo.list_by_task("nobody") == ()


async def _seed_agent_decisions(backend: PersistenceBackend) -> None:
    """Agent "a" executes d1, d3, d5 and reviews d2, d4; "b"/"c" fill in."""
    rows = [
        decision("d1", task_id="t1", executor="a", reviewer="b", recorded_at=at(10)),
        decision("d2", task_id="t1", executor="b", reviewer="a", recorded_at=at(20)),
        decision("d3", task_id="t2", executor="a", reviewer="c", recorded_at=at(30)),
        decision("d4", task_id="t2", executor="c", reviewer="a", recorded_at=at(5)),
        decision("d5", task_id="t3", executor="a", reviewer="b", recorded_at=at(30)),
        decision("d6", task_id="t3", executor="b", reviewer="c", recorded_at=at(40)),
    ]
    for row in rows:
        await backend.decision_records.append_with_next_version(row)


async def test_list_by_agent_as_executor_newest_first(
    backend: PersistenceBackend,
) -> None:
    await _seed_agent_decisions(backend)
    rows = await backend.decision_records.list_by_agent("a", DecisionRole.EXECUTOR)
    # d3 and d5 tie on recorded_at: id ascending breaks the tie.
    assert [d.id for d in rows] == ["d3", "d5", "d1"]
    assert all(d.executing_agent_id == "a" for d in rows)
    page = await backend.decision_records.list_by_agent(
        "a", DecisionRole.EXECUTOR, limit=1, offset=1
    )
    assert [d.id for d in page] == ["d5"]


async def test_list_by_agent_as_reviewer_newest_first(
    backend: PersistenceBackend,
) -> None:
    await _seed_agent_decisions(backend)
    rows = await backend.decision_records.list_by_agent("a", DecisionRole.REVIEWER)
    assert [d.id for d in rows] == ["d2", "d4"]
    rows_c = await backend.decision_records.list_by_agent("c", DecisionRole.REVIEWER)
    assert [d.id for d in rows_c] == ["d6", "d3"]
    rows_c_exec = await backend.decision_records.list_by_agent(
        "c", DecisionRole.EXECUTOR
    )
    assert [d.id for d in rows_c_exec] == ["d4"]
    assert (
        await backend.decision_records.list_by_agent("zz", DecisionRole.REVIEWER) == ()
    )


# ---------------------------------------------------------------------------
# project_cost_aggregates.increment
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# oauth_states
# ---------------------------------------------------------------------------


async def test_mark_consumed_true_once_then_false(backend: PersistenceBackend) -> None:
    repo = backend.oauth_states
    original = oauth_state("s1", code_verifier="v", expires_at=at(600))
    await repo.save(original)
    before = datetime.now(UTC)
    assert await repo.mark_consumed("s1", "conn-returned") is True
    after = datetime.now(UTC)
    stored = await repo.get("s1")
    assert stored is not None
    assert stored.consumed_at is not None
    assert stored.consumed_at.utcoffset() == timedelta(0)
    assert (
        before - timedelta(seconds=1)
        <= stored.consumed_at
        <= after + timedelta(seconds=1)
    )
    assert stored.connection_name_returned == "conn-returned"
    # Every other field is untouched.
    assert (
        stored.model_copy(
            update={"consumed_at": None, "connection_name_returned": None}
        )
        == original
    )

    assert await repo.mark_consumed("s1", "someone-else") is False
    assert await repo.get("s1") == stored


async def test_mark_consumed_of_a_missing_or_already_consumed_state(
    backend: PersistenceBackend,
) -> None:
    repo = backend.oauth_states
    assert await repo.mark_consumed("missing", "x") is False
    assert await repo.get("missing") is None
    consumed = oauth_state("s1", consumed_at=at(0), connection_name_returned="earlier")
    await repo.save(consumed)
    assert await repo.mark_consumed("s1", "later") is False
    assert await repo.get("s1") == consumed


async def test_mark_consumed_with_no_connection_name(
    backend: PersistenceBackend,
) -> None:
    repo = backend.oauth_states
    await repo.save(oauth_state("s1"))
    assert await repo.mark_consumed("s1", None) is True
    stored = await repo.get("s1")
    assert stored is not None
    assert stored.consumed_at is not None
    assert stored.connection_name_returned is None
    assert await repo.mark_consumed("s1", "late") is False


async def test_mark_consumed_touches_only_its_token(
    backend: PersistenceBackend,
) -> None:
    repo = backend.oauth_states
    await repo.save(oauth_state("s1"))
    await repo.save(oauth_state("s2"))
    assert await repo.mark_consumed("s1", "c") is True
    other = await repo.get("s2")
    assert other is not None
    assert other.consumed_at is None
    assert other.connection_name_returned is None
    assert await repo.mark_consumed("s2", "d") is True


async def test_cleanup_expired_deletes_only_rows_older_than_retention(
    backend: PersistenceBackend,
) -> None:
    repo = backend.oauth_states
    now = datetime.now(UTC)
    await repo.save(oauth_state("ancient", created_at=now - timedelta(days=3)))
    await repo.save(oauth_state("old", created_at=now - timedelta(seconds=700)))
    await repo.save(oauth_state("recent", created_at=now - timedelta(seconds=500)))
    await repo.save(oauth_state("fresh", created_at=now))
    await repo.save(oauth_state("future", created_at=now + timedelta(hours=1)))
    assert await repo.cleanup_expired(600) == 2
    assert [s.state_token for s in await repo.list_items()] == [
        "fresh",
        "future",
        "recent",
    ]
    assert await repo.cleanup_expired(600) == 0
    assert await repo.cleanup_expired(400) == 1
    assert [s.state_token for s in await repo.list_items()] == ["fresh", "future"]


async def test_cleanup_expired_on_an_empty_table(backend: PersistenceBackend) -> None:
    assert await backend.oauth_states.cleanup_expired(0) == 0


async def test_cleanup_expired_reaps_expired_and_consumed_but_stale_states(
    backend: PersistenceBackend,
) -> None:
    """The reference: "Delete all expired states. Also reaps consumed-but-stale
    rows older than retention_seconds" (not merely rows created long ago)."""
    repo = backend.oauth_states
    now = datetime.now(UTC)
    hour, days = timedelta(hours=1), timedelta(days=3)

    def consumed(token: str, at: datetime, **extra: Any) -> OAuthState:
        return oauth_state(
            token, consumed_at=at, connection_name_returned="github", **extra
        )

    for state in (
        # Expired: deleted however recent.
        oauth_state("expired", created_at=now, expires_at=now - timedelta(seconds=1)),
        consumed("expired-consumed", now, created_at=now, expires_at=now - hour),
        # Consumed longer ago than retention: deleted though not expired.
        consumed("consumed-stale", now - timedelta(seconds=700), expires_at=now + hour),
        # Never consumed, no expiry, created before retention: abandoned.
        oauth_state("abandoned", created_at=now - days),
        # Kept: consumed within retention (a redelivered callback is answered)
        # though created long ago; not expired though created long ago; live.
        consumed(
            "consumed-recent",
            now - timedelta(seconds=100),
            created_at=now - days,
            expires_at=now + hour,
        ),
        oauth_state("long-lived", created_at=now - days, expires_at=now + days),
        oauth_state("live", created_at=now, expires_at=now + hour),
    ):
        await repo.save(state)
    assert await repo.cleanup_expired(600) == 4
    assert [s.state_token for s in await repo.list_items()] == [
        "consumed-recent",
        "live",
        "long-lived",
    ]
    assert await repo.cleanup_expired(600) == 0
    # A shorter retention reaps the recently consumed one; expiry rules stay.
    assert await repo.cleanup_expired(50) == 1
    assert [s.state_token for s in await repo.list_items()] == ["live", "long-lived"]


@pytest.mark.parametrize("retention", [-1, True, 10**20])
async def test_cleanup_expired_refuses_a_bad_retention(
    backend: PersistenceBackend, retention: Any
) -> None:
    repo = backend.oauth_states
    await repo.save(
        oauth_state("expired", expires_at=datetime.now(UTC) - timedelta(hours=1))
    )
    with pytest.raises(InvalidValueError) as refused:
        await repo.cleanup_expired(retention)
    assert refused.value.is_retryable is False
    assert refused.value.field == "oauth_states.retention_seconds"
    assert await repo.get("expired") is not None  # nothing deleted


# ---------------------------------------------------------------------------
# webhook_receipts
# ---------------------------------------------------------------------------


async def test_update_status_sets_status_and_error(backend: PersistenceBackend) -> None:
    repo = backend.webhook_receipts
    original = receipt("r1", payload={"a": 1})
    await repo.save(original)
    await repo.save(receipt("r2"))
    assert await repo.update_status("r1", WebhookStatus.FAILED, "boom") is True
    assert await repo.get("r1") == original.model_copy(
        update={"status": WebhookStatus.FAILED, "error": "boom"}
    )
    assert await repo.update_status("r1", WebhookStatus.PROCESSED, None) is True
    assert await repo.get("r1") == original.model_copy(
        update={"status": WebhookStatus.PROCESSED, "error": None}
    )
    assert await repo.get("r2") == receipt("r2")


async def test_update_status_of_a_missing_receipt(backend: PersistenceBackend) -> None:
    assert (
        await backend.webhook_receipts.update_status("nope", WebhookStatus.FAILED, "x")
        is False
    )
    assert await backend.webhook_receipts.get("nope") is None


async def test_update_status_if_current_compares_and_sets(
    backend: PersistenceBackend,
) -> None:
    repo = backend.webhook_receipts
    await repo.save(receipt("r1", error="kept"))
    assert (
        await repo.update_status_if_current(
            "r1", WebhookStatus.PROCESSED, WebhookStatus.PROCESSING
        )
        is False
    )
    assert await repo.get("r1") == receipt("r1", error="kept")
    assert (
        await repo.update_status_if_current(
            "r1", WebhookStatus.PROCESSING, WebhookStatus.RECEIVED
        )
        is True
    )
    assert await repo.get("r1") == receipt(
        "r1", error="kept", status=WebhookStatus.PROCESSING
    )
    # The old expectation no longer holds.
    assert (
        await repo.update_status_if_current(
            "r1", WebhookStatus.IGNORED, WebhookStatus.RECEIVED
        )
        is False
    )
    assert (
        await repo.update_status_if_current(
            "r1", WebhookStatus.PROCESSED, WebhookStatus.PROCESSING
        )
        is True
    )
    stored = await repo.get("r1")
    assert stored is not None
    assert stored.status is WebhookStatus.PROCESSED
    assert (
        await repo.update_status_if_current(
            "missing", WebhookStatus.PROCESSED, WebhookStatus.RECEIVED
        )
        is False
    )


async def test_get_by_connection_newest_first_with_paging(
    backend: PersistenceBackend,
) -> None:
    repo = backend.webhook_receipts
    rows = [
        receipt("r-old", received_at=at(0)),
        receipt("r-new", received_at=at(300)),
        receipt("r-mid-b", received_at=at(100)),
        receipt("r-mid-a", received_at=at(100)),
        receipt("r-other", connection_name="conn-b", received_at=at(200)),
    ]
    for row in rows:
        await repo.save(row)
    listed = await repo.get_by_connection("conn-a")
    assert [r.receipt_id for r in listed] == ["r-new", "r-mid-a", "r-mid-b", "r-old"]
    assert listed[0] == rows[1]
    page = await repo.get_by_connection("conn-a", limit=2, offset=1)
    assert [r.receipt_id for r in page] == ["r-mid-a", "r-mid-b"]
    assert await repo.get_by_connection("conn-a", limit=5, offset=4) == ()
    assert [r.receipt_id for r in await repo.get_by_connection("conn-b")] == ["r-other"]
    assert await repo.get_by_connection("conn-none") == ()


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


# ---------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------


async def _seed_checkpoints(backend: PersistenceBackend) -> None:
    rows = [
        checkpoint("c1", execution_id="e1", task_id="t1", turn=0, created_at=at(0)),
        checkpoint("c2", execution_id="e1", task_id="t1", turn=3, created_at=at(10)),
        # Newest by time but an earlier turn: get_latest must not pick it.
        checkpoint("c3", execution_id="e1", task_id="t1", turn=1, created_at=at(99)),
        checkpoint("c4", execution_id="e2", task_id="t1", turn=5, created_at=at(5)),
        checkpoint("c5", execution_id="e3", task_id="t2", turn=9, created_at=at(1)),
        checkpoint("c6", execution_id="e1", task_id="t2", turn=2, created_at=at(2)),
    ]
    for row in rows:
        await backend.checkpoints.append(row)


@pytest.mark.parametrize(
    ("execution_id", "task_id", "expected"),
    [
        ("e1", None, "c2"),  # highest turn of e1, across its tasks
        (None, "t1", "c4"),  # highest turn of t1, across executions
        ("e1", "t1", "c2"),
        ("e1", "t2", "c6"),
        (None, "t2", "c5"),
        ("e3", None, "c5"),
        ("e2", "t2", None),  # both exist, but never together
        ("missing", None, None),
        (None, "missing", None),
    ],
)
async def test_get_latest_by_execution_and_or_task(
    backend: PersistenceBackend,
    execution_id: str | None,
    task_id: str | None,
    expected: str | None,
) -> None:
    await _seed_checkpoints(backend)
    latest = await backend.checkpoints.get_latest(
        execution_id=execution_id, task_id=task_id
    )
    assert (None if latest is None else latest.id) == expected


async def test_get_latest_returns_the_full_checkpoint(
    backend: PersistenceBackend,
) -> None:
    await _seed_checkpoints(backend)
    latest = await backend.checkpoints.get_latest(execution_id="e2")
    assert latest == checkpoint(
        "c4", execution_id="e2", task_id="t1", turn=5, created_at=at(5)
    )


async def test_get_latest_turn_tie_broken_by_id(backend: PersistenceBackend) -> None:
    for cid in ["cb", "ca", "cc"]:
        await backend.checkpoints.append(
            checkpoint(cid, execution_id="e1", task_id="t1", turn=4)
        )
    latest = await backend.checkpoints.get_latest(execution_id="e1")
    assert latest is not None
    assert latest.id == "ca"


async def test_get_latest_requires_an_argument(backend: PersistenceBackend) -> None:
    await _seed_checkpoints(backend)
    with pytest.raises(InvalidValueError, match="execution_id or task_id"):
        await backend.checkpoints.get_latest()
    with pytest.raises(InvalidValueError, match="execution_id or task_id"):
        await backend.checkpoints.get_latest(execution_id=None, task_id=None)


async def test_get_latest_on_an_empty_table(backend: PersistenceBackend) -> None:
    assert await backend.checkpoints.get_latest(execution_id="e1") is None


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


# ---------------------------------------------------------------------------
# heartbeats.get_stale
# ---------------------------------------------------------------------------


async def _seed_heartbeats(backend: PersistenceBackend) -> None:
    rows = [
        heartbeat("e-new", at(100)),
        heartbeat("e-exact", at(0)),  # exactly at the threshold: not stale
        heartbeat("e-old-b", at(-50)),
        heartbeat("e-old-a", at(-50)),
        heartbeat("e-oldest", at(-3600)),
        heartbeat("e-just", at(-0.001)),
    ]
    for row in rows:
        await backend.heartbeats.save(row)


async def test_get_stale_only_older_than_threshold_oldest_first(
    backend: PersistenceBackend,
) -> None:
    await _seed_heartbeats(backend)
    stale = await backend.heartbeats.get_stale(T0)
    assert [h.execution_id for h in stale] == [
        "e-oldest",
        "e-old-a",
        "e-old-b",
        "e-just",
    ]
    assert stale[0] == heartbeat("e-oldest", at(-3600))


async def test_get_stale_pages(backend: PersistenceBackend) -> None:
    await _seed_heartbeats(backend)
    page = await backend.heartbeats.get_stale(T0, limit=2, offset=1)
    assert [h.execution_id for h in page] == ["e-old-a", "e-old-b"]
    assert await backend.heartbeats.get_stale(T0, limit=10, offset=4) == ()


async def test_get_stale_threshold_in_another_timezone(
    backend: PersistenceBackend,
) -> None:
    await _seed_heartbeats(backend)
    # The same instant as T0 + 60s, written as 14:01 at UTC+2.
    plus_two = datetime(2024, 5, 1, 14, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    stale = await backend.heartbeats.get_stale(plus_two)
    assert [h.execution_id for h in stale] == [
        "e-oldest",
        "e-old-a",
        "e-old-b",
        "e-just",
        "e-exact",
    ]
    assert await backend.heartbeats.get_stale(at(-7200)) == ()


async def test_get_stale_sees_a_refreshed_heartbeat(
    backend: PersistenceBackend,
) -> None:
    await _seed_heartbeats(backend)
    await backend.heartbeats.save(heartbeat("e-oldest", at(500)))
    stale = await backend.heartbeats.get_stale(T0)
    assert [h.execution_id for h in stale] == ["e-old-a", "e-old-b", "e-just"]


async def test_get_stale_refuses_a_naive_threshold(backend: PersistenceBackend) -> None:
    """The Protocol types threshold as AwareDatetime: a naive one is a QueryError.

    A naive value has no defined instant; accepting it would compare against
    whatever the session time zone happens to be.
    """
    await _seed_heartbeats(backend)
    naive = T0.replace(tzinfo=None)
    with pytest.raises(QueryError, match="aware"):
        await backend.heartbeats.get_stale(naive)


# ---------------------------------------------------------------------------
# agent_states.get_active
# ---------------------------------------------------------------------------


async def test_get_active_excludes_idle_and_orders_newest_first(
    backend: PersistenceBackend,
) -> None:
    rows = [
        agent_state("idle-newest", AgentStatus.IDLE, at(1000)),
        agent_state("run-b", AgentStatus.RUNNING, at(50)),
        agent_state("run-a", AgentStatus.PAUSED, at(50)),  # tie: agent_id asc
        agent_state("start", AgentStatus.STARTING, at(90)),
        agent_state("wait", AgentStatus.WAITING, at(10)),
        agent_state("stop", AgentStatus.STOPPING, at(-10)),
        agent_state("err", AgentStatus.ERROR, at(70)),
        agent_state("idle-old", AgentStatus.IDLE, at(-1000)),
    ]
    for row in rows:
        await backend.agent_states.save(row)
    active = await backend.agent_states.get_active()
    assert [a.agent_id for a in active] == [
        "start",
        "err",
        "run-a",
        "run-b",
        "wait",
        "stop",
    ]
    assert active[2] == rows[2]
    assert AgentStatus.IDLE not in {a.status for a in active}


async def test_get_active_pages_and_follows_status_changes(
    backend: PersistenceBackend,
) -> None:
    for i in range(5):
        await backend.agent_states.save(
            agent_state(f"ag-{i}", AgentStatus.RUNNING, at(i))
        )
    page = await backend.agent_states.get_active(limit=2, offset=1)
    assert [a.agent_id for a in page] == ["ag-3", "ag-2"]
    assert await backend.agent_states.get_active(limit=3, offset=5) == ()
    # An agent that goes idle leaves the list; one that wakes joins it.
    await backend.agent_states.save(agent_state("ag-4", AgentStatus.IDLE, at(4)))
    await backend.agent_states.save(agent_state("ag-0", AgentStatus.RUNNING, at(99)))
    active = await backend.agent_states.get_active()
    assert [a.agent_id for a in active] == ["ag-0", "ag-3", "ag-2", "ag-1"]


async def test_get_active_when_everyone_is_idle(backend: PersistenceBackend) -> None:
    await backend.agent_states.save(agent_state("a", AgentStatus.IDLE, at(0)))
    assert await backend.agent_states.get_active() == ()


# ---------------------------------------------------------------------------
# Paging arguments of the bespoke list methods
# ---------------------------------------------------------------------------

LISTERS: dict[str, Callable[[PersistenceBackend, int, int], Awaitable[Any]]] = {
    "decision_records.list_by_task": lambda b, lim, off: (
        b.decision_records.list_by_task("t", lim, off)
    ),
    "decision_records.list_by_agent": lambda b, lim, off: (
        b.decision_records.list_by_agent("a", DecisionRole.REVIEWER, lim, off)
    ),
    "webhook_receipts.get_by_connection": lambda b, lim, off: (
        b.webhook_receipts.get_by_connection("c", lim, off)
    ),
    "heartbeats.get_stale": lambda b, lim, off: b.heartbeats.get_stale(T0, lim, off),
    "agent_states.get_active": lambda b, lim, off: b.agent_states.get_active(lim, off),
}


@pytest.mark.parametrize("method", sorted(LISTERS))
@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (-1, 0), (1, -1), (True, 0)])
async def test_bespoke_lists_refuse_bad_pages(
    backend: PersistenceBackend, method: str, limit: int, offset: int
) -> None:
    with pytest.raises(QueryError):
        await LISTERS[method](backend, limit, offset)
