"""What tables refuse: keys, foreign keys, unique indexes, append-only, model rules.

Every test runs on both backends (the ``backend`` fixture).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from synthorg.persistence import (
    AuditEntryFilterSpec,
    AuditVerdict,
    ConstraintViolationError,
    DecisionOutcome,
    DecisionRecord,
    DuplicateRecordError,
    InvalidValueError,
    PersistenceBackend,
    WorkflowExecutionFilterSpec,
)
from tests.repositories._rows import (
    T0,
    active_ids,
    audit,
    decision,
    definition,
    event,
    execution,
    ft_checkpoint,
    ids,
    parked,
    plan,
    result,
    rule,
    secret,
    with_checkpoints,
)


async def test_one_parked_context_per_approval(backend: PersistenceBackend) -> None:
    first = parked("p1", "a1", "appr-1", T0)
    await backend.parked_contexts.save(first)
    # A non-key unique violation: the reference's ConstraintViolationError,
    # naming the index the same on both backends.
    with pytest.raises(ConstraintViolationError) as clash:
        await backend.parked_contexts.save(parked("p2", "a2", "appr-1", T0))
    assert clash.value.constraint == "ux_parked_contexts_approval_id"
    assert await backend.parked_contexts.get("p2") is None
    assert await backend.parked_contexts.get_by_approval("appr-1") == first
    # Re-saving the same context (same id) keeps its approval.
    moved = parked("p1", "a1", "appr-1", T0 + timedelta(minutes=1))
    await backend.parked_contexts.save(moved)
    assert await backend.parked_contexts.get_by_approval("appr-1") == moved


async def test_audit_append_is_append_only(backend: PersistenceBackend) -> None:
    original = audit("e1", 0)
    await backend.audit_entries.append(original)
    with pytest.raises(DuplicateRecordError):
        await backend.audit_entries.append(audit("e1", 5, verdict=AuditVerdict.DENY))
    assert list(await backend.audit_entries.query(AuditEntryFilterSpec())) == [original]


async def test_execution_needs_its_definition_and_keeps_it(
    backend: PersistenceBackend,
) -> None:
    with pytest.raises(ConstraintViolationError):
        await backend.workflow_executions.save(execution("x1", "ghost", 0))
    await backend.workflow_definitions.save(definition("w1"))
    await backend.workflow_definitions.save(definition("w2"))
    await backend.workflow_executions.save(execution("x1", "w1", 0))
    await backend.workflow_executions.save(execution("x2", "w1", 5))
    spec = WorkflowExecutionFilterSpec(definition_id="w1")
    assert ids(await backend.workflow_executions.query(spec)) == ["x2", "x1"]
    with pytest.raises(ConstraintViolationError):
        await backend.workflow_definitions.delete("w1")  # RESTRICT
    assert await backend.workflow_definitions.get("w1") is not None
    assert await backend.workflow_definitions.delete("w2") is True


async def test_a_key_version_below_one_is_refused_by_the_model() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        secret("s", b"x", 0)


async def test_a_result_needs_its_plan_and_goes_with_it(
    backend: PersistenceBackend,
) -> None:
    with pytest.raises(ConstraintViolationError):
        await backend.training_results.save(result("r1", "no-such-plan", 1))
    await backend.training_plans.save(plan("p1"))
    await backend.training_results.save(result("r1", "p1", 1))
    assert await backend.training_plans.delete("p1") is True
    assert await backend.training_results.get("r1") is None  # ON DELETE CASCADE


async def test_rule_names_are_unique(backend: PersistenceBackend) -> None:
    rules = backend.custom_rules
    await rules.save(rule("id-1", "alpha"))
    # The reference: a unique violation other than the key is a
    # ConstraintViolationError naming the constraint, the same on both.
    with pytest.raises(ConstraintViolationError) as clash:
        await rules.save(rule("id-2", "alpha"))
    assert type(clash.value) is ConstraintViolationError
    assert clash.value.constraint == "ux_custom_rules_name"
    assert clash.value.is_retryable is False
    assert await rules.get("id-2") is None
    await rules.save(rule("id-1", "alpha-renamed"))  # the same rule may rename
    await rules.save(rule("id-2", "alpha"))  # and free its old name
    assert [r.id for r in await rules.list_items()] == ["id-2", "id-1"]


async def test_an_audit_event_cannot_be_rewritten(backend: PersistenceBackend) -> None:
    await backend.provider_audit_events.append(event(1))
    with pytest.raises(DuplicateRecordError):
        await backend.provider_audit_events.append(event(1, "anthropic"))
    assert await backend.provider_audit_events.list_before(None, 10) == (event(1),)


async def test_the_partial_unique_index_refuses_a_second_active_row(
    backend: PersistenceBackend,
) -> None:
    ids = await with_checkpoints(backend, 2)
    repo = backend.fine_tune_checkpoints
    await repo.save(ft_checkpoint(ids[0], active=True))
    # A unique violation (of ux_fine_tune_checkpoints_active) maps to
    # ConstraintViolationError naming it, on both backends.
    with pytest.raises(ConstraintViolationError) as clash:
        await repo.save(ft_checkpoint(ids[1], active=True, minutes=1))
    assert clash.value.constraint == "ux_fine_tune_checkpoints_active"
    with pytest.raises(ConstraintViolationError) as clash:
        await repo.save(ft_checkpoint("ck-new", active=True, minutes=5))
    assert clash.value.constraint == "ux_fine_tune_checkpoints_active"
    assert await repo.get("ck-new") is None
    assert await active_ids(backend) == [ids[0]]
    # Inactive rows are outside the index: any number of them.
    await repo.save(ft_checkpoint("ck-new", minutes=5))
    assert len(await repo.list_items()) == 3


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
