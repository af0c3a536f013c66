"""Behaviour of the bespoke methods of catalogue part A, on both backends.

parked_contexts: ``get_by_approval`` (one context per approval) and
``get_by_agent`` (newest first, paged).
audit_entries: the ``since``/``until`` window (inclusive, ``until < since`` is
a QueryError) with the other filters, and ``purge_before``.
task_metrics / lifecycle_events: their time windows.
workflow_definitions: ``save_if_revision`` (compare-and-set on ``revision``).
workflow_executions: the definition foreign key (RESTRICT).
risk_overrides: ``list_active`` (not revoked, not expired) and ``revoke``
(once).
ssrf_violations: ``update_status`` (pending -> allowed/denied, once).
circuit_breaker_state: ``load_all`` and the composite key.
Each compare-and-set promise is also raced by 20 concurrent callers.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from synthorg.persistence import (
    AgentLifecycleEvent,
    AgentLifecycleEventFilterSpec,
    ApprovalRiskLevel,
    AuditEntry,
    AuditEntryFilterSpec,
    AuditVerdict,
    CircuitBreakerState,
    CircuitState,
    ConstraintViolationError,
    DuplicateRecordError,
    LifecycleEventType,
    ParkedContext,
    PersistenceBackend,
    QueryError,
    RiskTierOverride,
    SsrfViolation,
    SsrfViolationFilterSpec,
    SsrfViolationStatus,
    TaskMetricRecord,
    TaskMetricRecordFilterSpec,
    TaskType,
    WorkflowDefinition,
    WorkflowDefinitionFilterSpec,
    WorkflowExecution,
    WorkflowExecutionFilterSpec,
    WorkflowExecutionStatus,
    WorkflowType,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
RACERS = 20


def ids(rows: tuple[Any, ...]) -> list[str]:
    return [r.id for r in rows]


# ---------------------------------------------------------------------------
# parked_contexts
# ---------------------------------------------------------------------------


def parked(
    ctx_id: str, agent_id: str, approval_id: str, parked_at: datetime, **extra: Any
) -> ParkedContext:
    values: dict[str, Any] = {
        "execution_id": f"exec-{ctx_id}",
        "context": {"turn": 3, "messages": [{"role": "user", "content": "hi"}]},
    }
    values.update(extra)
    return ParkedContext(
        id=ctx_id,
        agent_id=agent_id,
        approval_id=approval_id,
        parked_at=parked_at,
        **values,
    )


async def test_get_by_approval_hit_and_miss(backend: PersistenceBackend) -> None:
    first = parked("p1", "a1", "appr-1", T0, task_id="t1")
    await backend.parked_contexts.save(first)
    await backend.parked_contexts.save(parked("p2", "a1", "appr-2", T0))
    assert await backend.parked_contexts.get_by_approval("appr-1") == first
    assert await backend.parked_contexts.get_by_approval("appr-9") is None
    assert await backend.parked_contexts.delete("p1") is True
    assert await backend.parked_contexts.get_by_approval("appr-1") is None


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


async def test_get_by_agent_newest_first_ties_by_id_and_paged(
    backend: PersistenceBackend,
) -> None:
    rows = [
        parked("p3", "a1", "ap3", T0 + timedelta(hours=1)),
        parked("p1", "a1", "ap1", T0),
        parked("p5", "a1", "ap5", T0 + timedelta(hours=2)),
        parked("p2", "a1", "ap2", T0 + timedelta(hours=1)),  # ties with p3
        parked("p4", "a2", "ap4", T0 + timedelta(hours=3)),  # another agent
    ]
    for row in rows:
        await backend.parked_contexts.save(row)
    pc = backend.parked_contexts
    assert ids(await pc.get_by_agent("a1")) == ["p5", "p2", "p3", "p1"]
    assert ids(await pc.get_by_agent("a1", limit=2)) == ["p5", "p2"]
    assert ids(await pc.get_by_agent("a1", limit=2, offset=2)) == ["p3", "p1"]
    assert ids(await pc.get_by_agent("a1", limit=2, offset=4)) == []
    assert ids(await pc.get_by_agent("a2")) == ["p4"]
    assert await pc.get_by_agent("nobody") == ()


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (-1, 0), (5, -1)])
async def test_get_by_agent_refuses_bad_paging(
    backend: PersistenceBackend, limit: int, offset: int
) -> None:
    with pytest.raises(QueryError):
        await backend.parked_contexts.get_by_agent("a1", limit=limit, offset=offset)


# ---------------------------------------------------------------------------
# audit_entries
# ---------------------------------------------------------------------------


def audit(
    entry_id: str,
    minutes: int,
    *,
    agent_id: str | None = "a1",
    verdict: AuditVerdict = AuditVerdict.ALLOW,
    risk: ApprovalRiskLevel = ApprovalRiskLevel.LOW,
    action_type: str = "code:write",
) -> AuditEntry:
    return AuditEntry(
        id=entry_id,
        timestamp=T0 + timedelta(minutes=minutes),
        agent_id=agent_id,
        tool_name="write_file",
        tool_category="file_system",
        action_type=action_type,
        arguments_hash="ab" * 32,
        verdict=verdict,
        risk_level=risk,
        matched_rules=("rule-a",) if verdict != AuditVerdict.ALLOW else (),
        evaluation_duration_ms=1.5,
    )


async def _seed_audit(backend: PersistenceBackend) -> None:
    entries = [
        audit("e0", 0),
        audit("e1", 10, verdict=AuditVerdict.DENY, risk=ApprovalRiskLevel.HIGH),
        audit("e2", 20, agent_id="a2"),
        audit("e3", 30, verdict=AuditVerdict.ESCALATE, action_type="vcs:push"),
        audit("e4", 40, agent_id=None, risk=ApprovalRiskLevel.CRITICAL),
        audit("e5", 40, verdict=AuditVerdict.DENY),  # same instant as e4
    ]
    for entry in reversed(entries):
        await backend.audit_entries.append(entry)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (AuditEntryFilterSpec(), ["e4", "e5", "e3", "e2", "e1", "e0"]),
        (AuditEntryFilterSpec(since=at(20)), ["e4", "e5", "e3", "e2"]),
        (AuditEntryFilterSpec(until=at(20)), ["e2", "e1", "e0"]),
        (AuditEntryFilterSpec(since=at(10), until=at(30)), ["e3", "e2", "e1"]),
        (AuditEntryFilterSpec(since=at(40), until=at(40)), ["e4", "e5"]),
        (AuditEntryFilterSpec(since=at(11), until=at(19)), []),
        (
            AuditEntryFilterSpec(since=at(0), until=at(40), agent_id="a1"),
            ["e5", "e3", "e1", "e0"],
        ),
        (
            AuditEntryFilterSpec(since=at(5), verdict=AuditVerdict.DENY),
            ["e5", "e1"],
        ),
        (
            AuditEntryFilterSpec(until=at(39), risk_level=ApprovalRiskLevel.HIGH),
            ["e1"],
        ),
        (AuditEntryFilterSpec(action_type="vcs:push", since=at(30)), ["e3"]),
        (AuditEntryFilterSpec(action_type="vcs:push", since=at(31)), []),
    ],
    ids=[
        "none",
        "since",
        "until",
        "window",
        "instant_window",
        "empty_window",
        "window_agent",
        "since_verdict",
        "until_risk",
        "action_since_hit",
        "action_since_miss",
    ],
)
async def test_audit_query_window_and_filters(
    backend: PersistenceBackend, spec: AuditEntryFilterSpec, expected: list[str]
) -> None:
    await _seed_audit(backend)
    assert ids(await backend.audit_entries.query(spec)) == expected


async def test_audit_window_bounds_compare_instants_not_zones(
    backend: PersistenceBackend,
) -> None:
    await _seed_audit(backend)
    ist = timezone(timedelta(hours=5, minutes=30))
    spec = AuditEntryFilterSpec(since=at(10).astimezone(ist), until=at(20))
    assert ids(await backend.audit_entries.query(spec)) == ["e2", "e1"]


async def test_audit_until_before_since_is_a_query_error(
    backend: PersistenceBackend,
) -> None:
    await _seed_audit(backend)
    spec = AuditEntryFilterSpec(since=at(30), until=at(29))
    with pytest.raises(QueryError):
        await backend.audit_entries.query(spec)


def test_audit_naive_window_bound_is_refused() -> None:
    with pytest.raises(ValidationError):
        AuditEntryFilterSpec(since=datetime(2024, 5, 1, 12, 0))


async def test_audit_pagination(backend: PersistenceBackend) -> None:
    await _seed_audit(backend)
    spec = AuditEntryFilterSpec(since=at(10))
    assert ids(await backend.audit_entries.query(spec, limit=2)) == ["e4", "e5"]
    assert ids(await backend.audit_entries.query(spec, limit=2, offset=2)) == [
        "e3",
        "e2",
    ]
    with pytest.raises(QueryError):
        await backend.audit_entries.query(spec, limit=0)


async def test_audit_append_is_append_only(backend: PersistenceBackend) -> None:
    original = audit("e1", 0)
    await backend.audit_entries.append(original)
    with pytest.raises(DuplicateRecordError):
        await backend.audit_entries.append(audit("e1", 5, verdict=AuditVerdict.DENY))
    assert list(await backend.audit_entries.query(AuditEntryFilterSpec())) == [original]


async def test_audit_purge_before_deletes_strictly_older(
    backend: PersistenceBackend,
) -> None:
    await _seed_audit(backend)
    assert await backend.audit_entries.purge_before(at(20)) == 2  # e0, e1
    remaining = ids(await backend.audit_entries.query(AuditEntryFilterSpec()))
    assert remaining == ["e4", "e5", "e3", "e2"]  # e2 is at the cutoff: kept
    assert await backend.audit_entries.purge_before(at(20)) == 0
    assert await backend.audit_entries.purge_before(at(41)) == 4
    assert await backend.audit_entries.query(AuditEntryFilterSpec()) == ()


async def test_audit_purge_before_refuses_a_naive_cutoff(
    backend: PersistenceBackend,
) -> None:
    await _seed_audit(backend)
    with pytest.raises(QueryError):
        await backend.audit_entries.purge_before(datetime(2030, 1, 1))
    assert len(await backend.audit_entries.query(AuditEntryFilterSpec())) == 6


# ---------------------------------------------------------------------------
# task_metrics and lifecycle_events: time windows
# ---------------------------------------------------------------------------


def metric(record_id: str, agent_id: str, minutes: int) -> TaskMetricRecord:
    return TaskMetricRecord(
        id=record_id,
        agent_id=agent_id,
        task_id=f"task-{record_id}",
        task_type=TaskType.DEVELOPMENT,
        timestamp=at(minutes),
        is_success=minutes % 20 == 0,
        duration_seconds=12.5,
        cost=0.02,
        turns_used=4,
        tokens_used=1200,
        quality_score=None if minutes % 20 else 7.5,
    )


async def test_task_metrics_window(backend: PersistenceBackend) -> None:
    for i, minutes in enumerate([0, 10, 20, 30]):
        await backend.task_metrics.append(metric(f"m{i}", "a1", minutes))
    await backend.task_metrics.append(metric("x", "a2", 15))
    tm = backend.task_metrics
    spec = TaskMetricRecordFilterSpec(agent_id="a1", since=at(10), until=at(20))
    assert ids(await tm.query(spec)) == ["m2", "m1"]
    spec = TaskMetricRecordFilterSpec(since=at(10), until=at(20))
    assert ids(await tm.query(spec)) == ["m2", "x", "m1"]
    with pytest.raises(QueryError):
        await tm.query(TaskMetricRecordFilterSpec(since=at(20), until=at(10)))


async def test_lifecycle_events_since_and_type(backend: PersistenceBackend) -> None:
    events = [
        ("l0", LifecycleEventType.HIRED, 0),
        ("l1", LifecycleEventType.ONBOARDED, 5),
        ("l2", LifecycleEventType.PROMOTED, 60),
        ("l3", LifecycleEventType.FIRED, 120),
    ]
    for event_id, kind, minutes in events:
        await backend.lifecycle_events.append(
            AgentLifecycleEvent(
                id=event_id,
                agent_id="a1",
                agent_name="Ada",
                event_type=kind,
                timestamp=at(minutes),
                initiated_by="hr",
                metadata={"step": minutes},
            )
        )
    le = backend.lifecycle_events
    assert ids(await le.query(AgentLifecycleEventFilterSpec(since=at(5)))) == [
        "l3",
        "l2",
        "l1",
    ]
    spec = AgentLifecycleEventFilterSpec(
        agent_id="a1", event_type=LifecycleEventType.HIRED, since=at(0)
    )
    assert ids(await le.query(spec)) == ["l0"]


# ---------------------------------------------------------------------------
# workflow_definitions: save_if_revision
# ---------------------------------------------------------------------------


def definition(def_id: str, revision: int = 1, **extra: Any) -> WorkflowDefinition:
    values: dict[str, Any] = {
        "name": f"flow {def_id}",
        "workflow_type": WorkflowType.SEQUENTIAL_PIPELINE,
        "nodes": ({"id": "n1", "type": "task"}, {"id": "n2", "type": "task"}),
        "edges": ({"id": "e1", "source": "n1", "target": "n2"},),
        "created_by": "alice",
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(extra)
    return WorkflowDefinition(id=def_id, revision=revision, **values)


async def test_save_if_revision_none_creates_and_overwrites(
    backend: PersistenceBackend,
) -> None:
    wd = backend.workflow_definitions
    first = definition("w1")
    assert await wd.save_if_revision(first, None) is True
    assert await wd.get("w1") == first
    other = definition("w1", revision=7, name="forced")
    assert await wd.save_if_revision(other, None) is True  # unconditional upsert
    assert await wd.get("w1") == other


async def test_save_if_revision_matching_revision_writes(
    backend: PersistenceBackend,
) -> None:
    wd = backend.workflow_definitions
    await wd.save(definition("w1"))
    edited = definition(
        "w1",
        revision=2,
        name="edited",
        workflow_type=WorkflowType.KANBAN,
        updated_at=T0 + timedelta(hours=1),
    )
    assert await wd.save_if_revision(edited, 1) is True
    assert await wd.get("w1") == edited
    spec = WorkflowDefinitionFilterSpec(workflow_type=WorkflowType.KANBAN)
    assert ids(await wd.query(spec)) == ["w1"]


async def test_save_if_revision_stale_revision_changes_nothing(
    backend: PersistenceBackend,
) -> None:
    wd = backend.workflow_definitions
    current = definition("w1", revision=3, name="current")
    await wd.save(current)
    for stale in (1, 2, 4):
        loser = definition("w1", revision=stale + 1, name=f"stale {stale}")
        assert await wd.save_if_revision(loser, stale) is False
    assert await wd.get("w1") == current


async def test_save_if_revision_of_a_missing_definition_creates_nothing(
    backend: PersistenceBackend,
) -> None:
    wd = backend.workflow_definitions
    assert await wd.save_if_revision(definition("w1", revision=2), 1) is False
    assert await wd.get("w1") is None
    assert await wd.count(WorkflowDefinitionFilterSpec()) == 0


async def test_save_if_revision_concurrent_editors_one_winner(
    backend: PersistenceBackend,
) -> None:
    wd = backend.workflow_definitions
    await wd.save(definition("w1"))
    edits = [definition("w1", revision=2, name=f"edit {i}") for i in range(RACERS)]
    results = await asyncio.gather(*(wd.save_if_revision(e, 1) for e in edits))
    assert results.count(True) == 1
    assert await wd.get("w1") == edits[results.index(True)]


# ---------------------------------------------------------------------------
# workflow_executions: the definition foreign key
# ---------------------------------------------------------------------------


def execution(exec_id: str, def_id: str, minutes: int) -> WorkflowExecution:
    return WorkflowExecution(
        id=exec_id,
        definition_id=def_id,
        status=WorkflowExecutionStatus.RUNNING,
        activated_by="alice",
        created_at=T0,
        updated_at=at(minutes),
    )


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


# ---------------------------------------------------------------------------
# risk_overrides: list_active and revoke
# ---------------------------------------------------------------------------


def override(
    ov_id: str, expires_in: timedelta, *, created_minutes: int = 0, **extra: Any
) -> RiskTierOverride:
    values: dict[str, Any] = {
        "action_type": "vcs:push",
        "original_tier": ApprovalRiskLevel.HIGH,
        "override_tier": ApprovalRiskLevel.MEDIUM,
        "reason": "release week",
        "created_by": "ops",
        "created_at": datetime.now(UTC) - timedelta(days=1, minutes=-created_minutes),
        "expires_at": datetime.now(UTC) + expires_in,
    }
    values.update(extra)
    return RiskTierOverride(id=ov_id, **values)


async def test_list_active_excludes_revoked_and_expired(
    backend: PersistenceBackend,
) -> None:
    ro = backend.risk_overrides
    hour = timedelta(hours=1)
    rows = [
        override("o1", 3 * hour),
        override("o2", -hour),  # expired
        override("o3", hour),
        override("o4", 2 * hour, revoked_at=T0, revoked_by="ops"),  # revoked
        override("o5", 2 * hour),
        override("o6", -timedelta(seconds=1)),  # just expired
    ]
    for row in rows:
        await ro.save(row)
    # Soonest to expire first.
    assert ids(await ro.list_active()) == ["o3", "o5", "o1"]
    assert ids(await ro.list_active(limit=2)) == ["o3", "o5"]
    assert ids(await ro.list_active(limit=2, offset=2)) == ["o1"]
    # Every override is still listed (newest first) and readable.
    assert len(await ro.list_items()) == 6
    assert (await ro.get("o2")) == rows[1]


async def test_list_active_ties_on_expiry_are_ordered_by_id(
    backend: PersistenceBackend,
) -> None:
    expires = datetime.now(UTC) + timedelta(hours=1)
    for ov_id in ["o3", "o1", "o2"]:
        await backend.risk_overrides.save(
            override(ov_id, timedelta(), expires_at=expires)
        )
    assert ids(await backend.risk_overrides.list_active()) == ["o1", "o2", "o3"]


async def test_revoke_only_once(backend: PersistenceBackend) -> None:
    ro = backend.risk_overrides
    original = override("o1", timedelta(hours=1))
    await ro.save(original)
    before = datetime.now(UTC)
    assert await ro.revoke("o1", "alice") is True
    after = datetime.now(UTC)
    revoked = await ro.get("o1")
    assert revoked is not None
    assert revoked.revoked_by == "alice"
    assert revoked.revoked_at is not None
    assert revoked.revoked_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= revoked.revoked_at <= after
    assert revoked.model_copy(update={"revoked_at": None, "revoked_by": None}) == (
        original
    )
    assert await ro.list_active() == ()
    # A second revoke changes nothing, whoever asks.
    assert await ro.revoke("o1", "bob") is False
    assert await ro.get("o1") == revoked


async def test_revoke_unknown_is_false_and_expired_may_be_revoked(
    backend: PersistenceBackend,
) -> None:
    ro = backend.risk_overrides
    assert await ro.revoke("ghost", "alice") is False
    assert await ro.list_items() == ()
    await ro.save(override("old", -timedelta(hours=1)))
    assert await ro.revoke("old", "alice") is True
    stored = await ro.get("old")
    assert stored is not None
    assert stored.revoked_by == "alice"


async def test_concurrent_revokes_have_one_winner(backend: PersistenceBackend) -> None:
    ro = backend.risk_overrides
    await ro.save(override("o1", timedelta(hours=1)))
    await ro.save(override("o2", timedelta(hours=1)))
    who = [f"admin-{i:02d}" for i in range(RACERS)]
    results = await asyncio.gather(*(ro.revoke("o1", w) for w in who))
    assert results.count(True) == 1
    stored = await ro.get("o1")
    assert stored is not None
    assert stored.revoked_by == who[results.index(True)]
    assert ids(await ro.list_active()) == ["o2"]


# ---------------------------------------------------------------------------
# ssrf_violations: update_status
# ---------------------------------------------------------------------------


def violation(v_id: str, minutes: int, **extra: Any) -> SsrfViolation:
    values: dict[str, Any] = {
        "url": f"http://10.0.0.{minutes % 250}:8080/admin",
        "hostname": "internal.example",
        "port": 8080,
        "resolved_ip": "10.0.0.5",
        "blocked_range": "10.0.0.0/8",
    }
    values.update(extra)
    return SsrfViolation(id=v_id, timestamp=at(minutes), **values)


@pytest.mark.parametrize(
    "decision", [SsrfViolationStatus.ALLOWED, SsrfViolationStatus.DENIED]
)
async def test_update_status_decides_a_pending_violation_once(
    backend: PersistenceBackend, decision: SsrfViolationStatus
) -> None:
    sv = backend.ssrf_violations
    original = violation("v1", 0)
    await sv.append(original)
    await sv.append(violation("v2", 1))
    before = datetime.now(UTC)
    assert await sv.update_status("v1", decision) is True
    after = datetime.now(UTC)
    decided = await sv.query(SsrfViolationFilterSpec(status=decision))
    assert ids(decided) == ["v1"]
    assert decided[0].resolved_at is not None
    assert before - timedelta(seconds=1) <= decided[0].resolved_at <= after
    undone = {"status": SsrfViolationStatus.PENDING, "resolved_at": None}
    assert decided[0].model_copy(update=undone) == original
    pending = await sv.query(
        SsrfViolationFilterSpec(status=SsrfViolationStatus.PENDING)
    )
    assert ids(pending) == ["v2"]
    # Already decided: neither decision applies again.
    for again in (SsrfViolationStatus.ALLOWED, SsrfViolationStatus.DENIED):
        assert await sv.update_status("v1", again) is False
    assert await sv.query(SsrfViolationFilterSpec(status=decision)) == decided


async def test_update_status_refuses_a_non_decision(
    backend: PersistenceBackend,
) -> None:
    sv = backend.ssrf_violations
    original = violation("v1", 0)
    await sv.append(original)
    with pytest.raises(QueryError):
        await sv.update_status("v1", SsrfViolationStatus.PENDING)
    assert await sv.query(SsrfViolationFilterSpec()) == (original,)


async def test_update_status_of_unknown_or_appended_decided_is_false(
    backend: PersistenceBackend,
) -> None:
    sv = backend.ssrf_violations
    assert await sv.update_status("ghost", SsrfViolationStatus.DENIED) is False
    decided = violation("v1", 0, status=SsrfViolationStatus.DENIED, resolved_at=T0)
    await sv.append(decided)
    assert await sv.update_status("v1", SsrfViolationStatus.ALLOWED) is False
    assert await sv.query(SsrfViolationFilterSpec()) == (decided,)


async def test_concurrent_decisions_have_one_winner(
    backend: PersistenceBackend,
) -> None:
    sv = backend.ssrf_violations
    await sv.append(violation("v1", 0))
    decisions = [
        SsrfViolationStatus.ALLOWED if i % 2 else SsrfViolationStatus.DENIED
        for i in range(RACERS)
    ]
    results = await asyncio.gather(*(sv.update_status("v1", d) for d in decisions))
    assert results.count(True) == 1
    (stored,) = await sv.query(SsrfViolationFilterSpec())
    assert stored.status == decisions[results.index(True)]


# ---------------------------------------------------------------------------
# circuit_breaker_state: load_all and the composite key
# ---------------------------------------------------------------------------


def breaker(a: str, b: str, bounces: int = 0, **extra: Any) -> CircuitBreakerState:
    return CircuitBreakerState(
        pair_key_a=a, pair_key_b=b, bounce_count=bounces, updated_at=T0, **extra
    )


async def test_load_all_in_key_order_and_paged(backend: PersistenceBackend) -> None:
    cb = backend.circuit_breaker_state
    rows = [
        breaker("b", "c", 1),
        breaker("a", "c", 2, state=CircuitState.OPEN, opened_at=T0, trip_count=1),
        breaker("a", "b", 3),
        breaker("c", "d", 4, state=CircuitState.HALF_OPEN),
    ]
    for row in rows:
        await cb.save(row)
    keys = [(r.pair_key_a, r.pair_key_b) for r in await cb.load_all()]
    assert keys == [("a", "b"), ("a", "c"), ("b", "c"), ("c", "d")]
    assert await cb.load_all(limit=2, offset=1) == (rows[1], rows[0])
    assert await cb.load_all(limit=2, offset=4) == ()
    with pytest.raises(QueryError):
        await cb.load_all(limit=0)
    assert await cb.get(("a", "c")) == rows[1]
    assert await cb.get(("c", "a")) is None  # the pair is ordered


async def test_breaker_save_upserts_one_pair_and_refuses_a_self_pair(
    backend: PersistenceBackend,
) -> None:
    cb = backend.circuit_breaker_state
    await cb.save(breaker("a", "b", 1))
    updated = breaker("a", "b", 5, state=CircuitState.OPEN, opened_at=T0)
    await cb.save(updated)
    assert await cb.load_all() == (updated,)
    assert await cb.delete(("a", "b")) is True
    assert await cb.load_all() == ()
    with pytest.raises(ValidationError):
        breaker("a", "a")
