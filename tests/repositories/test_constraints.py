"""What tables refuse: keys, foreign keys, unique indexes, append-only, model rules.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import psycopg
import pytest
from pydantic import ValidationError

from synthorg.persistence import (
    ApiKeyFilterSpec,
    AuditEntryFilterSpec,
    AuditVerdict,
    ConstraintViolationError,
    CostRecordFilterSpec,
    DecisionOutcome,
    DecisionRecord,
    DuplicateRecordError,
    HumanRole,
    InvalidValueError,
    PersistenceBackend,
    WorkflowExecutionFilterSpec,
)
from tests.repositories._rows import (
    T0,
    _constructed,
    _raw_insert_cost,
    _seed_keys,
    active_ids,
    api_key,
    audit,
    cost,
    decision,
    definition,
    event,
    execution,
    ft_checkpoint,
    ids,
    message,
    parked,
    plan,
    result,
    rule,
    secret,
    user,
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


@pytest.mark.parametrize("bad", ["usd", "US", "USDD", "U1D", "€UR"])
def test_model_refuses_a_malformed_currency(bad: str) -> None:
    with pytest.raises(ValidationError):
        cost("c1", currency=bad)


def test_model_refuses_a_negative_cost() -> None:
    with pytest.raises(ValidationError):
        cost("c1", amount=-0.01)


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


async def test_message_append_with_an_existing_id_is_refused(
    backend: PersistenceBackend,
) -> None:
    original = message("m1", channel="general")
    await backend.messages.append(original)
    with pytest.raises(DuplicateRecordError):
        await backend.messages.append(message("m1", channel="other"))
    assert await backend.messages.get_by_id("general", "m1") == original
    assert await backend.messages.get_by_id("other", "m1") is None


async def test_duplicate_username_on_another_id_is_refused(
    backend: PersistenceBackend,
) -> None:
    first = user("u1", username="alice", role=HumanRole.CEO)
    await backend.users.save(first)
    with pytest.raises(ConstraintViolationError) as info:
        await backend.users.save(user("u2", username="alice"))
    # Named the same on both backends (the reference's constraint attribute).
    assert info.value.constraint == "ux_users_username"
    assert info.value.is_retryable is False
    assert "ux_users_username" in str(info.value)
    assert await backend.users.get("u1") == first
    assert await backend.users.get("u2") is None
    assert await backend.users.get_by_username("alice") == first


async def test_save_same_id_may_keep_its_username(backend: PersistenceBackend) -> None:
    """Upserting a user onto itself is not a username clash."""
    await backend.users.save(user("u1", username="alice"))
    updated = user("u1", username="alice", role=HumanRole.MANAGER)
    await backend.users.save(updated)
    assert await backend.users.get_by_username("alice") == updated


async def test_the_system_user_cannot_be_deleted(
    backend: PersistenceBackend,
) -> None:
    system = user("sys", HumanRole.SYSTEM)
    human = user("u1", HumanRole.CEO)
    await backend.users.save(system)
    await backend.users.save(human)
    with pytest.raises(ConstraintViolationError) as refused:
        await backend.users.delete("sys")
    assert refused.value.constraint == "users.system_user"
    assert refused.value.is_retryable is False
    assert "users.delete" in str(refused.value)
    assert await backend.users.get("sys") == system  # nothing deleted
    assert await backend.users.count_by_role(HumanRole.SYSTEM) == 1
    # Other users are deleted as before; a missing one is still just False.
    assert await backend.users.delete("u1") is True
    assert await backend.users.delete("u1") is False
    assert await backend.users.delete("nobody") is False
    # Demoted first, the same row may go: protection follows the role.
    await backend.users.save(system.model_copy(update={"role": HumanRole.OBSERVER}))
    assert await backend.users.delete("sys") is True


async def test_saving_a_key_for_a_missing_user_is_a_constraint_violation(
    backend: PersistenceBackend,
) -> None:
    with pytest.raises(ConstraintViolationError) as info:
        await backend.api_keys.save(api_key("k1", "ghost"))
    if backend.kind == "postgres":
        assert "fk_api_keys_user_id" in info.value.constraint
    else:
        assert info.value.constraint == "foreign_key"
    assert await backend.api_keys.get("k1") is None
    assert await backend.api_keys.count(ApiKeyFilterSpec()) == 0


async def test_deleting_a_user_deletes_its_keys(backend: PersistenceBackend) -> None:
    keys = await _seed_keys(backend)
    assert await backend.users.delete("alice") is True
    assert await backend.api_keys.get("k1") is None
    assert await backend.api_keys.get_by_hash("hash-k2") is None
    remaining = await backend.api_keys.query(ApiKeyFilterSpec())
    assert list(remaining) == [keys["k3"], keys["k4"]]
    assert await backend.api_keys.count(ApiKeyFilterSpec(user_id="alice")) == 0


async def test_duplicate_key_hash_is_refused(backend: PersistenceBackend) -> None:
    await backend.users.save(user("alice"))
    first = api_key("k1", "alice", key_hash="same")
    await backend.api_keys.save(first)
    with pytest.raises(ConstraintViolationError) as info:
        await backend.api_keys.save(api_key("k2", "alice", key_hash="same"))
    assert info.value.constraint == "ux_api_keys_key_hash"
    assert await backend.api_keys.get("k2") is None
    assert await backend.api_keys.get_by_hash("same") == first


async def test_moving_a_key_to_a_missing_user_is_refused_and_keeps_it(
    backend: PersistenceBackend,
) -> None:
    """The upsert's UPDATE branch is checked by the foreign key too."""
    await backend.users.save(user("alice"))
    original = api_key("k1", "alice")
    await backend.api_keys.save(original)
    with pytest.raises(ConstraintViolationError):
        await backend.api_keys.save(api_key("k1", "ghost"))
    assert await backend.api_keys.get("k1") == original
