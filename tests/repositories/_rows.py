"""Rows, fixed instants and seeders shared by the repository behaviour tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from synthorg.persistence import (
    AgentRuntimeState,
    AgentStatus,
    ApiKey,
    ApprovalRiskLevel,
    Artifact,
    ArtifactType,
    AuditEntry,
    AuditVerdict,
    CallCategory,
    Checkpoint,
    CircuitBreakerState,
    ConnectionSecret,
    CostRecord,
    CustomRule,
    DecisionOutcome,
    DecisionRecord,
    DecisionRole,
    FineTuneCheckpoint,
    FineTuneRun,
    FineTuneStatus,
    Heartbeat,
    HumanRole,
    IdempotencyClaim,
    IdempotencyClaimOutcome,
    IdempotencyRecord,
    Message,
    MessageType,
    OAuthState,
    ParkedContext,
    PersistenceBackend,
    PresetOverride,
    Priority,
    Project,
    ProviderAuditAction,
    ProviderAuditEvent,
    RiskTierOverride,
    RuleComparator,
    SettingRow,
    SsrfViolation,
    TaskMetricRecord,
    TaskType,
    TrainingPlan,
    TrainingResult,
    User,
    WebhookReceipt,
    WorkflowDefinition,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowType,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


RACERS = 20


def ids(rows: tuple[Any, ...]) -> list[str]:
    return [r.id for r in rows]


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


def at_minute(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def metric(record_id: str, agent_id: str, minutes: int) -> TaskMetricRecord:
    return TaskMetricRecord(
        id=record_id,
        agent_id=agent_id,
        task_id=f"task-{record_id}",
        task_type=TaskType.DEVELOPMENT,
        timestamp=at_minute(minutes),
        is_success=minutes % 20 == 0,
        duration_seconds=12.5,
        cost=0.02,
        turns_used=4,
        tokens_used=1200,
        quality_score=None if minutes % 20 else 7.5,
    )


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


def execution(exec_id: str, def_id: str, minutes: int) -> WorkflowExecution:
    return WorkflowExecution(
        id=exec_id,
        definition_id=def_id,
        status=WorkflowExecutionStatus.RUNNING,
        activated_by="alice",
        created_at=T0,
        updated_at=at_minute(minutes),
    )


def risk_override(
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


def violation(v_id: str, minutes: int, **extra: Any) -> SsrfViolation:
    values: dict[str, Any] = {
        "url": f"http://10.0.0.{minutes % 250}:8080/admin",
        "hostname": "internal.example",
        "port": 8080,
        "resolved_ip": "10.0.0.5",
        "blocked_range": "10.0.0.0/8",
    }
    values.update(extra)
    return SsrfViolation(id=v_id, timestamp=at_minute(minutes), **values)


def breaker(a: str, b: str, bounces: int = 0, **extra: Any) -> CircuitBreakerState:
    return CircuitBreakerState(
        pair_key_a=a, pair_key_b=b, bounce_count=bounces, updated_at=T0, **extra
    )


T2025 = datetime(2025, 1, 10, 8, 0, 0, tzinfo=UTC)


def secret(secret_id: str, value: bytes, version: int = 1) -> ConnectionSecret:
    return ConnectionSecret(
        secret_id=secret_id,
        connection_name="github",
        encrypted_value=value,
        key_version=version,
        created_at=T2025,
    )


def plan(plan_id: str, agent_id: str = "agent-a") -> TrainingPlan:
    return TrainingPlan(id=plan_id, agent_id=agent_id, created_at=T2025)


def result(result_id: str, plan_id: str, minutes: int) -> TrainingResult:
    return TrainingResult(
        id=result_id,
        plan_id=plan_id,
        agent_id="agent-a",
        items_stored=minutes,
        started_at=T2025,
        completed_at=T2025 + timedelta(minutes=minutes),
    )


def rule(rule_id: str, name: str, *, enabled: bool = True) -> CustomRule:
    return CustomRule(
        id=rule_id,
        name=name,
        metric_path="cost.daily_usd",
        comparator=RuleComparator.GT,
        threshold=100.0,
        enabled=enabled,
        created_at=T2025,
        updated_at=T2025,
    )


def event(n: int, provider: str = "openai") -> ProviderAuditEvent:
    return ProviderAuditEvent(
        id=f"evt-{n:04d}",
        provider_name=provider,
        action=ProviderAuditAction.UPDATED,
        actor="ops",
        timestamp=T2025 + timedelta(seconds=n),
        after={"n": n},
    )


def preset_override(name: str, updated_at: str, **values: Any) -> PresetOverride:
    return PresetOverride(
        preset_name=name, overrides=values, updated_by="ops", updated_at=updated_at
    )


def run(run_id: str, status: FineTuneStatus, minutes: int = 0) -> FineTuneRun:
    return FineTuneRun(
        id=run_id,
        status=status,
        base_model="bge-small",
        source_dir="/data/docs",
        started_at=T2025 + timedelta(minutes=minutes),
        updated_at=T2025 + timedelta(minutes=minutes),
    )


def ft_checkpoint(
    checkpoint_id: str, *, active: bool = False, minutes: int = 0, run_id: str = "run"
) -> FineTuneCheckpoint:
    return FineTuneCheckpoint(
        id=checkpoint_id,
        run_id=run_id,
        model_path=f"/models/{checkpoint_id}",
        base_model="bge-small",
        is_active=active,
        created_at=T2025 + timedelta(minutes=minutes),
    )


async def active_ids(backend: PersistenceBackend) -> list[str]:
    rows = await backend.fine_tune_checkpoints.list_items(limit=1000)
    return [c.id for c in rows if c.is_active]


async def with_checkpoints(backend: PersistenceBackend, n: int) -> list[str]:
    await backend.fine_tune_runs.save(run("run", FineTuneStatus.COMPLETED))
    ids = [f"ck-{i:02d}" for i in range(n)]
    for i, checkpoint_id in enumerate(ids):
        await backend.fine_tune_checkpoints.save(
            ft_checkpoint(checkpoint_id, minutes=i)
        )
    return ids


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


def outcomes(claims: list[IdempotencyClaim]) -> Counter[IdempotencyClaimOutcome]:
    return Counter(c.outcome for c in claims)


def at_second(seconds: float) -> datetime:
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


async def _seed_agent_decisions(backend: PersistenceBackend) -> None:
    """Agent "a" executes d1, d3, d5 and reviews d2, d4; "b"/"c" fill in."""
    rows = [
        decision(
            "d1", task_id="t1", executor="a", reviewer="b", recorded_at=at_second(10)
        ),
        decision(
            "d2", task_id="t1", executor="b", reviewer="a", recorded_at=at_second(20)
        ),
        decision(
            "d3", task_id="t2", executor="a", reviewer="c", recorded_at=at_second(30)
        ),
        decision(
            "d4", task_id="t2", executor="c", reviewer="a", recorded_at=at_second(5)
        ),
        decision(
            "d5", task_id="t3", executor="a", reviewer="b", recorded_at=at_second(30)
        ),
        decision(
            "d6", task_id="t3", executor="b", reviewer="c", recorded_at=at_second(40)
        ),
    ]
    for row in rows:
        await backend.decision_records.append_with_next_version(row)


async def _seed_checkpoints(backend: PersistenceBackend) -> None:
    rows = [
        checkpoint(
            "c1", execution_id="e1", task_id="t1", turn=0, created_at=at_second(0)
        ),
        checkpoint(
            "c2", execution_id="e1", task_id="t1", turn=3, created_at=at_second(10)
        ),
        # Newest by time but an earlier turn: get_latest must not pick it.
        checkpoint(
            "c3", execution_id="e1", task_id="t1", turn=1, created_at=at_second(99)
        ),
        checkpoint(
            "c4", execution_id="e2", task_id="t1", turn=5, created_at=at_second(5)
        ),
        checkpoint(
            "c5", execution_id="e3", task_id="t2", turn=9, created_at=at_second(1)
        ),
        checkpoint(
            "c6", execution_id="e1", task_id="t2", turn=2, created_at=at_second(2)
        ),
    ]
    for row in rows:
        await backend.checkpoints.append(row)


async def _seed_heartbeats(backend: PersistenceBackend) -> None:
    rows = [
        heartbeat("e-new", at_second(100)),
        heartbeat("e-exact", at_second(0)),  # exactly at the threshold: not stale
        heartbeat("e-old-b", at_second(-50)),
        heartbeat("e-old-a", at_second(-50)),
        heartbeat("e-oldest", at_second(-3600)),
        heartbeat("e-just", at_second(-0.001)),
    ]
    for row in rows:
        await backend.heartbeats.save(row)


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


def cost(
    record_id: str,
    *,
    agent_id: str = "agent-a",
    task_id: str = "task-1",
    amount: float = 1.0,
    currency: str = "USD",
    timestamp: datetime = T0,
) -> CostRecord:
    return CostRecord(
        id=record_id,
        agent_id=agent_id,
        task_id=task_id,
        provider="prov",
        model="model-x",
        input_tokens=10,
        output_tokens=20,
        cost=amount,
        currency=currency,
        timestamp=timestamp,
        call_category=CallCategory.PRODUCTIVE,
    )


def message(
    message_id: str,
    *,
    channel: str = "general",
    timestamp: datetime = T0,
    **extra: Any,
) -> Message:
    return Message(
        id=message_id,
        timestamp=timestamp,
        sender="agent-a",
        to=channel,
        type=MessageType.ANNOUNCEMENT,
        priority=Priority.HIGH,
        channel=channel,
        **extra,
    )


async def _seed_costs(backend: PersistenceBackend) -> None:
    """a/1: 1.5, a/2: 2.25, b/1: 4.0, b/2: 8.0 (all USD)."""
    rows = [
        cost("c1", agent_id="a", task_id="t1", amount=1.5),
        cost("c2", agent_id="a", task_id="t2", amount=2.25),
        cost("c3", agent_id="b", task_id="t1", amount=4.0),
        cost("c4", agent_id="b", task_id="t2", amount=8.0),
    ]
    for row in rows:
        await backend.cost_records.append(row)


def _constructed(**overrides: Any) -> CostRecord:
    """A CostRecord built without validation, to reach the database checks."""
    values: dict[str, Any] = cost("c-bad").model_dump()
    values.update(overrides)
    return CostRecord.model_construct(**values)


_RAW_COLUMNS = (
    '"id", "agent_id", "task_id", "provider", "model", "input_tokens", '
    '"output_tokens", "cost", "currency", "timestamp", "call_category"'
)


async def _raw_insert_cost(
    backend: PersistenceBackend, *, currency: str, amount: float
) -> None:
    """Insert a cost_records row with plain SQL, bypassing model and repository."""
    if backend.kind == "sqlite":
        db = backend.get_db()
        await db.execute(
            f"INSERT INTO cost_records ({_RAW_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                "raw",
                "a",
                "t",
                "p",
                "m",
                1,
                1,
                amount,
                currency,
                "2024-05-01T12:00:00.000000+00:00",
                "productive",
            ),
        )
    else:
        pool = backend.get_db()
        async with pool.connection() as conn:
            await conn.execute(
                f"INSERT INTO cost_records ({_RAW_COLUMNS}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                ("raw", "a", "t", "p", "m", 1, 1, amount, currency, T0, "productive"),
            )


def setting_row(namespace: str, key: str, value: str, updated_at: str) -> SettingRow:
    return SettingRow(namespace=namespace, key=key, value=value, updated_at=updated_at)


async def snapshot(backend: PersistenceBackend, *namespaces: str) -> list[SettingRow]:
    """Every row of the given namespaces, in key order."""
    rows: list[SettingRow] = []
    for namespace in namespaces:
        rows.extend(await backend.settings.get_namespace(namespace))
    return rows


def user(user_id: str, role: HumanRole = HumanRole.OBSERVER, **extra: Any) -> User:
    values: dict[str, Any] = {
        "username": f"name-{user_id}",
        "password_hash": f"hash-{user_id}",
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(extra)
    return User(id=user_id, role=role, **values)


def api_key(
    key_id: str, user_id: str, *, revoked: bool = False, **extra: Any
) -> ApiKey:
    values: dict[str, Any] = {
        "key_hash": f"hash-{key_id}",
        "name": f"key {key_id}",
        "role": HumanRole.MANAGER,
        "created_at": T0,
        "expires_at": T0 + timedelta(days=30),
    }
    values.update(extra)
    return ApiKey(id=key_id, user_id=user_id, revoked=revoked, **values)


async def _seed_keys(backend: PersistenceBackend) -> dict[str, ApiKey]:
    await backend.users.save(user("alice"))
    await backend.users.save(user("bob"))
    keys = {
        "k1": api_key("k1", "alice"),
        "k2": api_key("k2", "alice", revoked=True),
        "k3": api_key("k3", "bob", revoked=True, expires_at=None),
        "k4": api_key("k4", "bob"),
        "k5": api_key("k5", "alice", revoked=True),
    }
    for key in keys.values():
        await backend.api_keys.save(key)
    return keys
