"""Behaviour of the bespoke methods of catalogue part B, on both backends.

connection_secrets (``store``/``retrieve``), training_results
(``get_by_plan``, the foreign key to training_plans), custom_rules
(``get_by_name``, unique names, ``enabled_only``), provider_audit_events
(``list_before`` keyset pages), preset_overrides (``save_if_unchanged``), the
``load_all`` listings, fine_tune_runs (``get_active_run``,
``mark_interrupted``), fine_tune_checkpoints (the one-active partial unique
index, ``set_active`` and its races, ``get_active_checkpoint``,
``deactivate_all``) and idempotency_keys (``claim`` and its races,
``complete``/``fail`` guarded by the claim token, expiry, ``cleanup_expired``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from synthorg.persistence import (
    CeremonySchedulerState,
    ConnectionSecret,
    ConstraintViolationError,
    ContainerState,
    CustomRule,
    CustomRuleFilterSpec,
    DuplicateRecordError,
    FineTuneCheckpoint,
    FineTuneRun,
    FineTuneStatus,
    IdempotencyClaim,
    IdempotencyClaimOutcome,
    IdempotencyRecord,
    IdempotencyStatus,
    InvalidValueError,
    MeetingCooldown,
    PersistenceBackend,
    PresetOverride,
    ProviderAuditAction,
    ProviderAuditEvent,
    ProviderAuditEventFilterSpec,
    QueryError,
    RuleComparator,
    TrackedContainer,
    TrainingPlan,
    TrainingResult,
)

T0 = datetime(2025, 1, 10, 8, 0, 0, tzinfo=UTC)
RACERS = 20


# ---------------------------------------------------------------------------
# connection_secrets
# ---------------------------------------------------------------------------


def secret(secret_id: str, value: bytes, version: int = 1) -> ConnectionSecret:
    return ConnectionSecret(
        secret_id=secret_id,
        connection_name="github",
        encrypted_value=value,
        key_version=version,
        created_at=T0,
    )


async def test_store_then_retrieve_round_trips_the_bytes(
    backend: PersistenceBackend,
) -> None:
    repo = backend.connection_secrets
    blob = bytes(range(256)) + b"\x00\x00"  # every byte value, NULs included
    assert await repo.retrieve("s1") is None
    await repo.store(secret("s1", blob))
    assert await repo.retrieve("s1") == secret("s1", blob)


async def test_store_replaces_the_ciphertext_and_key_version(
    backend: PersistenceBackend,
) -> None:
    repo = backend.connection_secrets
    await repo.store(secret("s1", b"old", 1))
    await repo.store(secret("s2", b"other", 1))
    await repo.store(secret("s1", b"rotated", 2))
    assert await repo.retrieve("s1") == secret("s1", b"rotated", 2)
    assert await repo.retrieve("s2") == secret("s2", b"other", 1)
    assert await repo.delete("s1") is True
    assert await repo.retrieve("s1") is None
    assert await repo.delete("s1") is False


async def test_a_key_version_below_one_is_refused_by_the_model() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        secret("s", b"x", 0)


# ---------------------------------------------------------------------------
# training_plans / training_results
# ---------------------------------------------------------------------------


def plan(plan_id: str, agent_id: str = "agent-a") -> TrainingPlan:
    return TrainingPlan(id=plan_id, agent_id=agent_id, created_at=T0)


def result(result_id: str, plan_id: str, minutes: int) -> TrainingResult:
    return TrainingResult(
        id=result_id,
        plan_id=plan_id,
        agent_id="agent-a",
        items_stored=minutes,
        started_at=T0,
        completed_at=T0 + timedelta(minutes=minutes),
    )


async def test_get_by_plan_returns_the_newest_result_of_that_plan(
    backend: PersistenceBackend,
) -> None:
    await backend.training_plans.save(plan("p1"))
    await backend.training_plans.save(plan("p2"))
    results = backend.training_results
    assert await results.get_by_plan("p1") is None
    await results.save(result("r-old", "p1", 1))
    await results.save(result("r-new", "p1", 5))
    await results.save(result("r-mid", "p1", 3))
    await results.save(result("r-other", "p2", 9))  # newer, another plan
    assert await results.get_by_plan("p1") == result("r-new", "p1", 5)
    assert await results.get_by_plan("p2") == result("r-other", "p2", 9)
    # Same completed_at: the ordering's tie-break (id ascending) decides.
    await results.save(result("r-a", "p1", 5))
    got = await results.get_by_plan("p1")
    assert got is not None
    assert got.id == "r-a"
    assert await results.get_by_plan("missing") is None


async def test_a_result_needs_its_plan_and_goes_with_it(
    backend: PersistenceBackend,
) -> None:
    with pytest.raises(ConstraintViolationError):
        await backend.training_results.save(result("r1", "no-such-plan", 1))
    await backend.training_plans.save(plan("p1"))
    await backend.training_results.save(result("r1", "p1", 1))
    assert await backend.training_plans.delete("p1") is True
    assert await backend.training_results.get("r1") is None  # ON DELETE CASCADE


# ---------------------------------------------------------------------------
# custom_rules
# ---------------------------------------------------------------------------


def rule(rule_id: str, name: str, *, enabled: bool = True) -> CustomRule:
    return CustomRule(
        id=rule_id,
        name=name,
        metric_path="cost.daily_usd",
        comparator=RuleComparator.GT,
        threshold=100.0,
        enabled=enabled,
        created_at=T0,
        updated_at=T0,
    )


async def test_get_by_name_and_listing_by_name(backend: PersistenceBackend) -> None:
    rules = backend.custom_rules
    await rules.save(rule("id-3", "alpha"))
    await rules.save(rule("id-1", "gamma", enabled=False))
    await rules.save(rule("id-2", "beta"))
    assert await rules.get_by_name("gamma") == rule("id-1", "gamma", enabled=False)
    assert await rules.get_by_name("delta") is None
    names = [r.name for r in await rules.list_items()]
    assert names == ["alpha", "beta", "gamma"]  # name order, not id order
    enabled = await rules.query(CustomRuleFilterSpec(enabled_only=True))
    assert [r.name for r in enabled] == ["alpha", "beta"]
    assert await rules.count(CustomRuleFilterSpec(enabled_only=True)) == 2
    # enabled_only=False is "no filter", not "disabled only".
    assert await rules.count(CustomRuleFilterSpec(enabled_only=False)) == 3


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


# ---------------------------------------------------------------------------
# provider_audit_events
# ---------------------------------------------------------------------------


def event(n: int, provider: str = "openai") -> ProviderAuditEvent:
    return ProviderAuditEvent(
        id=f"evt-{n:04d}",
        provider_name=provider,
        action=ProviderAuditAction.UPDATED,
        actor="ops",
        timestamp=T0 + timedelta(seconds=n),
        after={"n": n},
    )


async def test_list_before_pages_concatenate_to_the_full_listing(
    backend: PersistenceBackend,
) -> None:
    log = backend.provider_audit_events
    events = [event(n, "openai" if n % 2 else "anthropic") for n in range(23)]
    for e in reversed(events):
        await log.append(e)
    full = await log.query(ProviderAuditEventFilterSpec(), limit=1000)
    assert [e.id for e in full] == [e.id for e in reversed(events)]  # id desc
    for limit in (1, 4, 7, 23, 50):
        pages: list[ProviderAuditEvent] = []
        cursor: str | None = None
        while True:
            window = await log.list_before(cursor, limit)
            assert len(window) <= limit
            if not window:
                break
            pages.extend(window)
            cursor = window[-1].id
        assert pages == list(full), limit
    assert await log.list_before("evt-0000", 10) == ()
    assert [e.id for e in await log.list_before("evt-0003", 10)] == [
        "evt-0002",
        "evt-0001",
        "evt-0000",
    ]
    # A cursor need not be a stored id: ids before it, newest first.
    assert [e.id for e in await log.list_before("evt-0001x", 2)] == [
        "evt-0001",
        "evt-0000",
    ]
    by_provider = await log.query(ProviderAuditEventFilterSpec(provider_name="openai"))
    assert [e.id for e in by_provider] == [f"evt-{n:04d}" for n in range(21, 0, -2)]


@pytest.mark.parametrize("limit", [0, -1, True])
async def test_list_before_refuses_a_bad_limit(
    backend: PersistenceBackend, limit: Any
) -> None:
    with pytest.raises(QueryError):
        await backend.provider_audit_events.list_before(None, limit)


async def test_an_audit_event_cannot_be_rewritten(backend: PersistenceBackend) -> None:
    await backend.provider_audit_events.append(event(1))
    with pytest.raises(DuplicateRecordError):
        await backend.provider_audit_events.append(event(1, "anthropic"))
    assert await backend.provider_audit_events.list_before(None, 10) == (event(1),)


# ---------------------------------------------------------------------------
# preset_overrides
# ---------------------------------------------------------------------------


def override(name: str, updated_at: str, **values: Any) -> PresetOverride:
    return PresetOverride(
        preset_name=name, overrides=values, updated_by="ops", updated_at=updated_at
    )


async def test_save_if_unchanged_compare_and_set_rules(
    backend: PersistenceBackend,
) -> None:
    repo = backend.preset_overrides
    first = override("fast", "t1", temperature=0.2)
    # A version for a row that does not exist: refused.
    assert await repo.save_if_unchanged(first, "t0") is False
    assert await repo.get("fast") is None
    # "": only when absent.
    assert await repo.save_if_unchanged(first, "") is True
    assert await repo.save_if_unchanged(override("fast", "t9"), "") is False
    assert await repo.get("fast") == first
    # The current version: written; a stale one: refused, nothing changes.
    second = override("fast", "t2", temperature=0.4)
    assert await repo.save_if_unchanged(second, "t1") is True
    assert await repo.save_if_unchanged(override("fast", "t3"), "t1") is False
    assert await repo.get("fast") == second
    # None: unconditional upsert.
    third = override("fast", "t3", temperature=0.9)
    assert await repo.save_if_unchanged(third) is True
    assert await repo.get("fast") == third


async def test_concurrent_save_if_unchanged_has_one_winner(
    backend: PersistenceBackend,
) -> None:
    repo = backend.preset_overrides
    await repo.save(override("fast", "t0"))
    contenders = [override("fast", f"t-{i}", who=i) for i in range(RACERS)]
    results = await asyncio.gather(
        *(repo.save_if_unchanged(c, "t0") for c in contenders)
    )
    assert results.count(True) == 1
    winner = contenders[results.index(True)]
    assert await repo.get("fast") == winner


# ---------------------------------------------------------------------------
# load_all: ceremony_scheduler_state, meeting_cooldown, tracked_containers
# ---------------------------------------------------------------------------


async def test_load_all_lists_by_key_in_pages(backend: PersistenceBackend) -> None:
    sprints = [f"sprint-{n}" for n in (3, 1, 10, 2)]
    for sprint in sprints:
        await backend.ceremony_scheduler_state.save(
            CeremonySchedulerState(
                sprint_id=sprint, strategy="calendar", last_fired={"standup": "x"}
            )
        )
        await backend.meeting_cooldown.save(
            MeetingCooldown(meeting_type=sprint, last_triggered_at=T0)
        )
        await backend.tracked_containers.save(
            TrackedContainer(
                container_id=sprint,
                name=f"sandbox-{sprint}",
                image="python:3.12",
                state=ContainerState.RUNNING,
            )
        )
    expected = sorted(sprints)
    for repo in (
        backend.ceremony_scheduler_state,
        backend.meeting_cooldown,
        backend.tracked_containers,
    ):
        key = {
            "ceremony_scheduler_state": "sprint_id",
            "meeting_cooldown": "meeting_type",
            "tracked_containers": "container_id",
        }
        rows: list[Any] = list(await repo.load_all())
        field = next(k for t, k in key.items() if getattr(backend, t) is repo)
        assert [getattr(r, field) for r in rows] == expected
        paged: list[Any] = []
        for offset in range(0, 5, 2):
            paged.extend(await repo.load_all(limit=2, offset=offset))
        assert paged == rows
        with pytest.raises(QueryError):
            await repo.load_all(limit=0)


# ---------------------------------------------------------------------------
# fine_tune_runs
# ---------------------------------------------------------------------------


def run(run_id: str, status: FineTuneStatus, minutes: int = 0) -> FineTuneRun:
    return FineTuneRun(
        id=run_id,
        status=status,
        base_model="bge-small",
        source_dir="/data/docs",
        started_at=T0 + timedelta(minutes=minutes),
        updated_at=T0 + timedelta(minutes=minutes),
    )


async def test_get_active_run_is_the_latest_running_run(
    backend: PersistenceBackend,
) -> None:
    runs = backend.fine_tune_runs
    assert await runs.get_active_run() is None
    await runs.save(run("done", FineTuneStatus.COMPLETED, 30))  # newest, not running
    await runs.save(run("r-old", FineTuneStatus.RUNNING, 5))
    assert await runs.get_active_run() == run("r-old", FineTuneStatus.RUNNING, 5)
    await runs.save(run("r-new", FineTuneStatus.RUNNING, 10))
    assert await runs.get_active_run() == run("r-new", FineTuneStatus.RUNNING, 10)
    # Newest first overall: started_at desc, then id.
    assert [r.id for r in await runs.list_items()] == ["done", "r-new", "r-old"]


async def test_mark_interrupted_changes_only_running_runs(
    backend: PersistenceBackend,
) -> None:
    runs = backend.fine_tune_runs
    statuses = {
        "a": FineTuneStatus.RUNNING,
        "b": FineTuneStatus.PENDING,
        "c": FineTuneStatus.RUNNING,
        "d": FineTuneStatus.COMPLETED,
        "e": FineTuneStatus.RUNNING,
        "f": FineTuneStatus.FAILED,
    }
    for i, (run_id, status) in enumerate(statuses.items()):
        await runs.save(run(run_id, status, i))
    before = datetime.now(UTC)
    assert await runs.mark_interrupted() == 3
    for i, (run_id, status) in enumerate(statuses.items()):
        got = await runs.get(run_id)
        assert got is not None
        if status is FineTuneStatus.RUNNING:
            assert got.status is FineTuneStatus.INTERRUPTED
            assert got.updated_at >= before - timedelta(seconds=1)
        else:
            assert got == run(run_id, status, i)  # untouched
    assert await runs.get_active_run() is None
    assert await runs.mark_interrupted() == 0


# ---------------------------------------------------------------------------
# fine_tune_checkpoints
# ---------------------------------------------------------------------------


def checkpoint(
    checkpoint_id: str, *, active: bool = False, minutes: int = 0, run_id: str = "run"
) -> FineTuneCheckpoint:
    return FineTuneCheckpoint(
        id=checkpoint_id,
        run_id=run_id,
        model_path=f"/models/{checkpoint_id}",
        base_model="bge-small",
        is_active=active,
        created_at=T0 + timedelta(minutes=minutes),
    )


async def active_ids(backend: PersistenceBackend) -> list[str]:
    rows = await backend.fine_tune_checkpoints.list_items(limit=1000)
    return [c.id for c in rows if c.is_active]


async def with_checkpoints(backend: PersistenceBackend, n: int) -> list[str]:
    await backend.fine_tune_runs.save(run("run", FineTuneStatus.COMPLETED))
    ids = [f"ck-{i:02d}" for i in range(n)]
    for i, checkpoint_id in enumerate(ids):
        await backend.fine_tune_checkpoints.save(checkpoint(checkpoint_id, minutes=i))
    return ids


async def test_set_active_moves_the_single_active_flag(
    backend: PersistenceBackend,
) -> None:
    ids = await with_checkpoints(backend, 3)
    repo = backend.fine_tune_checkpoints
    assert await repo.get_active_checkpoint() is None
    assert await repo.set_active(ids[0]) is True
    assert await active_ids(backend) == [ids[0]]
    assert await repo.set_active(ids[2]) is True
    assert await active_ids(backend) == [ids[2]]
    assert await repo.get_active_checkpoint() == checkpoint(
        ids[2], active=True, minutes=2
    )
    assert await repo.set_active(ids[2]) is True  # already active: stays active
    assert await active_ids(backend) == [ids[2]]


async def test_set_active_on_a_missing_checkpoint_changes_nothing(
    backend: PersistenceBackend,
) -> None:
    ids = await with_checkpoints(backend, 2)
    repo = backend.fine_tune_checkpoints
    assert await repo.set_active("no-such-checkpoint") is False
    assert await active_ids(backend) == []
    assert await repo.set_active(ids[1]) is True
    before = await repo.list_items()
    # The clear ran inside the transaction and was rolled back with it.
    assert await repo.set_active("no-such-checkpoint") is False
    assert await repo.list_items() == before
    assert await active_ids(backend) == [ids[1]]


async def test_the_partial_unique_index_refuses_a_second_active_row(
    backend: PersistenceBackend,
) -> None:
    ids = await with_checkpoints(backend, 2)
    repo = backend.fine_tune_checkpoints
    await repo.save(checkpoint(ids[0], active=True))
    # A unique violation (of ux_fine_tune_checkpoints_active) maps to
    # ConstraintViolationError naming it, on both backends.
    with pytest.raises(ConstraintViolationError) as clash:
        await repo.save(checkpoint(ids[1], active=True, minutes=1))
    assert clash.value.constraint == "ux_fine_tune_checkpoints_active"
    with pytest.raises(ConstraintViolationError) as clash:
        await repo.save(checkpoint("ck-new", active=True, minutes=5))
    assert clash.value.constraint == "ux_fine_tune_checkpoints_active"
    assert await repo.get("ck-new") is None
    assert await active_ids(backend) == [ids[0]]
    # Inactive rows are outside the index: any number of them.
    await repo.save(checkpoint("ck-new", minutes=5))
    assert len(await repo.list_items()) == 3


async def test_deactivate_all_clears_the_active_checkpoint(
    backend: PersistenceBackend,
) -> None:
    ids = await with_checkpoints(backend, 2)
    repo = backend.fine_tune_checkpoints
    assert await repo.deactivate_all() == 0
    await repo.set_active(ids[1])
    assert await repo.deactivate_all() == 1
    assert await repo.get_active_checkpoint() is None
    assert await repo.deactivate_all() == 0


async def test_concurrent_set_active_leaves_exactly_one_active(
    backend: PersistenceBackend,
) -> None:
    ids = await with_checkpoints(backend, RACERS)
    repo = backend.fine_tune_checkpoints
    results = await asyncio.gather(*(repo.set_active(i) for i in ids))
    assert results == [True] * RACERS
    active = await active_ids(backend)
    assert len(active) == 1
    assert active[0] in ids
    got = await repo.get_active_checkpoint()
    assert got is not None
    assert got.id == active[0]
    # Again, racing a missing id and an already active one.
    results = await asyncio.gather(
        *(repo.set_active(i) for i in [*ids, "missing", active[0]])
    )
    assert results == [True] * RACERS + [False, True]
    assert len(await active_ids(backend)) == 1


async def test_checkpoints_of_a_run_newest_first_and_cascade(
    backend: PersistenceBackend,
) -> None:
    await backend.fine_tune_runs.save(run("run", FineTuneStatus.COMPLETED))
    await backend.fine_tune_runs.save(run("other", FineTuneStatus.COMPLETED))
    repo = backend.fine_tune_checkpoints
    for i in range(3):
        await repo.save(checkpoint(f"a-{i}", minutes=i))
    await repo.save(checkpoint("b-0", minutes=9, run_id="other"))
    assert [c.id for c in await repo.list_by_run("run")] == ["a-2", "a-1", "a-0"]
    with pytest.raises(ConstraintViolationError):
        await repo.save(checkpoint("orphan", run_id="no-such-run"))
    assert await backend.fine_tune_runs.delete("run") is True
    assert [c.id for c in await repo.list_items()] == ["b-0"]


# ---------------------------------------------------------------------------
# idempotency_keys
# ---------------------------------------------------------------------------

FRESH = IdempotencyClaimOutcome.FRESH
IN_FLIGHT = IdempotencyClaimOutcome.IN_FLIGHT
COMPLETED = IdempotencyClaimOutcome.COMPLETED
FAILED = IdempotencyClaimOutcome.FAILED


async def claim(backend: PersistenceBackend, ttl: int = 60) -> IdempotencyClaim:
    return await backend.idempotency_keys.claim("webhooks:github", "delivery-1", ttl)


async def stored(backend: PersistenceBackend) -> IdempotencyRecord:
    record = await backend.idempotency_keys.get(("webhooks:github", "delivery-1"))
    assert record is not None
    return record


async def expire(backend: PersistenceBackend) -> None:
    """Move the row's expiry into the past (as if its TTL had run out)."""
    record = await stored(backend)
    past = datetime.now(UTC) - timedelta(seconds=5)
    await backend.idempotency_keys.save(record.model_copy(update={"expires_at": past}))


async def test_first_claim_is_fresh_and_stores_its_token(
    backend: PersistenceBackend,
) -> None:
    before = datetime.now(UTC)
    got = await claim(backend, ttl=30)
    assert got.outcome is FRESH
    assert got.claimed
    assert got.claim_token is not None
    assert len(got.claim_token) == 32
    int(got.claim_token, 16)  # uuid4 hex
    assert got.attempts == 1
    assert got.error is None
    assert got.response is None
    record = await stored(backend)
    assert record.status is IdempotencyStatus.IN_FLIGHT
    assert record.claim_token == got.claim_token
    assert record.expires_at == got.expires_at
    assert before + timedelta(seconds=29) <= record.expires_at
    assert record.expires_at <= datetime.now(UTC) + timedelta(seconds=31)
    assert record.created_at == record.claimed_at


async def test_a_live_claim_is_in_flight_for_everyone_else(
    backend: PersistenceBackend,
) -> None:
    first = await claim(backend)
    second = await claim(backend)
    assert second.outcome is IN_FLIGHT
    assert not second.claimed
    assert second.claim_token is None  # the holder's token is never handed out
    assert second.expires_at == first.expires_at
    assert (await stored(backend)).claim_token == first.claim_token
    # Another key or another scope is independent.
    other = await backend.idempotency_keys.claim("backup", "delivery-1", 60)
    assert other.outcome is FRESH


async def test_complete_then_claim_returns_the_stored_response(
    backend: PersistenceBackend,
) -> None:
    got = await claim(backend)
    assert got.claim_token is not None
    response = {"status": 202, "body": {"id": "x", "items": [1, 2]}}
    repo = backend.idempotency_keys
    assert await repo.complete(
        "webhooks:github", "delivery-1", got.claim_token, response
    )
    record = await stored(backend)
    assert record.status is IdempotencyStatus.COMPLETED
    assert record.response == response
    assert record.completed_at is not None
    again = await claim(backend)
    assert again.outcome is COMPLETED
    assert again.response == response
    assert again.claim_token is None
    # A completed claim cannot be completed again or failed.
    assert not await repo.complete("webhooks:github", "delivery-1", got.claim_token, {})
    assert not await repo.fail("webhooks:github", "delivery-1", got.claim_token, "x")
    assert await stored(backend) == record


async def test_a_wrong_token_changes_nothing(backend: PersistenceBackend) -> None:
    got = await claim(backend)
    repo = backend.idempotency_keys
    before = await stored(backend)
    for token in ("0" * 32, "not-a-token"):
        assert (
            await repo.complete("webhooks:github", "delivery-1", token, {"a": 1})
            is False
        )
        assert await repo.fail("webhooks:github", "delivery-1", token, "boom") is False
    assert await stored(backend) == before
    assert got.claim_token is not None
    # The right token on the wrong key: nothing either.
    assert await repo.complete("webhooks:github", "other", got.claim_token, {}) is False
    assert await repo.get(("webhooks:github", "other")) is None


async def test_failed_key_is_claimed_again_as_a_retry(
    backend: PersistenceBackend,
) -> None:
    repo = backend.idempotency_keys
    first = await claim(backend)
    assert first.claim_token is not None
    assert await repo.fail("webhooks:github", "delivery-1", first.claim_token, "boom")
    record = await stored(backend)
    assert record.status is IdempotencyStatus.FAILED
    assert record.error == "boom"
    retry = await claim(backend)
    assert retry.outcome is FAILED
    assert retry.claimed
    assert retry.claim_token not in (None, first.claim_token)
    assert retry.attempts == 2
    assert retry.error == "boom"
    assert (await claim(backend)).outcome is IN_FLIGHT  # the retry holds the lease
    # The first holder's token is stale now.
    assert not await repo.complete(
        "webhooks:github", "delivery-1", first.claim_token, {}
    )
    assert retry.claim_token is not None
    assert await repo.complete(
        "webhooks:github", "delivery-1", retry.claim_token, {"ok": 1}
    )
    done = await claim(backend)
    assert (done.outcome, done.response, done.attempts) == (COMPLETED, {"ok": 1}, 2)


async def test_an_expired_claim_is_fresh_again(backend: PersistenceBackend) -> None:
    repo = backend.idempotency_keys
    first = await claim(backend)
    assert first.claim_token is not None
    await repo.fail("webhooks:github", "delivery-1", first.claim_token, "boom")
    second = await claim(backend)
    assert second.outcome is FAILED
    await expire(backend)
    third = await claim(backend)
    assert third.outcome is FRESH  # expired counts as absent: history is reset
    assert third.attempts == 1
    assert third.error is None
    record = await stored(backend)
    assert record.error is None
    assert record.created_at == record.claimed_at
    # An expired completed claim is fresh too (the dedup window is over).
    assert third.claim_token is not None
    await repo.complete("webhooks:github", "delivery-1", third.claim_token, {"r": 1})
    await expire(backend)
    fourth = await claim(backend)
    assert (fourth.outcome, fourth.response) == (FRESH, None)
    assert (await stored(backend)).response is None


async def test_an_expired_holder_cannot_complete_after_a_re_claim(
    backend: PersistenceBackend,
) -> None:
    repo = backend.idempotency_keys
    stale = await claim(backend)
    await expire(backend)
    current = await claim(backend)
    assert current.outcome is FRESH
    assert stale.claim_token is not None
    assert not await repo.complete(
        "webhooks:github", "delivery-1", stale.claim_token, {}
    )
    assert not await repo.fail("webhooks:github", "delivery-1", stale.claim_token, "x")
    assert (await stored(backend)).claim_token == current.claim_token


@pytest.mark.parametrize("ttl", [0, -5, True, 1.5, "60"])
async def test_claim_refuses_a_bad_ttl(backend: PersistenceBackend, ttl: Any) -> None:
    with pytest.raises(InvalidValueError, match="ttl_seconds"):
        await backend.idempotency_keys.claim("s", "k", ttl)
    assert await backend.idempotency_keys.get(("s", "k")) is None


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


def outcomes(claims: list[IdempotencyClaim]) -> Counter[IdempotencyClaimOutcome]:
    return Counter(c.outcome for c in claims)


async def test_concurrent_claims_have_exactly_one_fresh_winner(
    backend: PersistenceBackend,
) -> None:
    claims = list(await asyncio.gather(*(claim(backend) for _ in range(RACERS))))
    assert outcomes(claims) == {FRESH: 1, IN_FLIGHT: RACERS - 1}
    winner = next(c for c in claims if c.claimed)
    assert (await stored(backend)).claim_token == winner.claim_token


async def test_concurrent_re_claims_of_an_expired_key_have_one_winner(
    backend: PersistenceBackend,
) -> None:
    first = await claim(backend)
    await expire(backend)
    claims = list(await asyncio.gather(*(claim(backend) for _ in range(RACERS))))
    assert outcomes(claims) == {FRESH: 1, IN_FLIGHT: RACERS - 1}
    winner = next(c for c in claims if c.claimed)
    assert winner.claim_token != first.claim_token
    assert (await stored(backend)).claim_token == winner.claim_token


async def test_concurrent_retries_of_a_failed_key_have_one_winner(
    backend: PersistenceBackend,
) -> None:
    first = await claim(backend)
    assert first.claim_token is not None
    await backend.idempotency_keys.fail(
        "webhooks:github", "delivery-1", first.claim_token, "boom"
    )
    claims = list(await asyncio.gather(*(claim(backend) for _ in range(RACERS))))
    assert outcomes(claims) == {FAILED: 1, IN_FLIGHT: RACERS - 1}
    assert (await stored(backend)).attempts == 2


async def test_racing_complete_and_fail_only_one_lands(
    backend: PersistenceBackend,
) -> None:
    got = await claim(backend)
    token = got.claim_token
    assert token is not None
    repo = backend.idempotency_keys
    results = await asyncio.gather(
        *(
            repo.complete("webhooks:github", "delivery-1", token, {"i": i})
            if i % 2
            else repo.fail("webhooks:github", "delivery-1", token, f"e{i}")
            for i in range(RACERS)
        )
    )
    assert results.count(True) == 1
    record = await stored(backend)
    i = results.index(True)
    if i % 2:
        assert (record.status, record.response) == (
            IdempotencyStatus.COMPLETED,
            {"i": i},
        )
    else:
        assert (record.status, record.error) == (IdempotencyStatus.FAILED, f"e{i}")


def test_claim_result_invariants() -> None:
    now = datetime.now(UTC)
    with pytest.raises(ValueError, match="claim_token"):
        IdempotencyClaim(outcome=FRESH, attempts=1, expires_at=now)
    with pytest.raises(ValueError, match="claim_token"):
        IdempotencyClaim(outcome=IN_FLIGHT, claim_token="t", attempts=1, expires_at=now)
    with pytest.raises(ValueError, match="response"):
        IdempotencyClaim(outcome=IN_FLIGHT, response={}, attempts=1, expires_at=now)
