"""``query`` of filtered repositories: filters, time windows, order, counts.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from synthorg.persistence import (
    AgentLifecycleEvent,
    AgentLifecycleEventFilterSpec,
    ApiKeyFilterSpec,
    ApprovalRiskLevel,
    AuditEntryFilterSpec,
    AuditVerdict,
    CostRecordFilterSpec,
    LifecycleEventType,
    PersistenceBackend,
    QueryError,
    TaskMetricRecordFilterSpec,
)
from tests.repositories._rows import (
    T0,
    _seed_audit,
    _seed_keys,
    at_minute,
    cost,
    ids,
    metric,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (AuditEntryFilterSpec(), ["e4", "e5", "e3", "e2", "e1", "e0"]),
        (AuditEntryFilterSpec(since=at_minute(20)), ["e4", "e5", "e3", "e2"]),
        (AuditEntryFilterSpec(until=at_minute(20)), ["e2", "e1", "e0"]),
        (
            AuditEntryFilterSpec(since=at_minute(10), until=at_minute(30)),
            ["e3", "e2", "e1"],
        ),
        (AuditEntryFilterSpec(since=at_minute(40), until=at_minute(40)), ["e4", "e5"]),
        (AuditEntryFilterSpec(since=at_minute(11), until=at_minute(19)), []),
        (
            AuditEntryFilterSpec(
                since=at_minute(0), until=at_minute(40), agent_id="a1"
            ),
            ["e5", "e3", "e1", "e0"],
        ),
        (
            AuditEntryFilterSpec(since=at_minute(5), verdict=AuditVerdict.DENY),
            ["e5", "e1"],
        ),
        (
            AuditEntryFilterSpec(
                until=at_minute(39), risk_level=ApprovalRiskLevel.HIGH
            ),
            ["e1"],
        ),
        (AuditEntryFilterSpec(action_type="vcs:push", since=at_minute(30)), ["e3"]),
        (AuditEntryFilterSpec(action_type="vcs:push", since=at_minute(31)), []),
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
    spec = AuditEntryFilterSpec(
        since=at_minute(10).astimezone(ist), until=at_minute(20)
    )
    assert ids(await backend.audit_entries.query(spec)) == ["e2", "e1"]


async def test_audit_until_before_since_is_a_query_error(
    backend: PersistenceBackend,
) -> None:
    await _seed_audit(backend)
    spec = AuditEntryFilterSpec(since=at_minute(30), until=at_minute(29))
    with pytest.raises(QueryError):
        await backend.audit_entries.query(spec)


def test_audit_naive_window_bound_is_refused() -> None:
    with pytest.raises(ValidationError):
        AuditEntryFilterSpec(since=datetime(2024, 5, 1, 12, 0))


async def test_audit_pagination(backend: PersistenceBackend) -> None:
    await _seed_audit(backend)
    spec = AuditEntryFilterSpec(since=at_minute(10))
    assert ids(await backend.audit_entries.query(spec, limit=2)) == ["e4", "e5"]
    assert ids(await backend.audit_entries.query(spec, limit=2, offset=2)) == [
        "e3",
        "e2",
    ]
    with pytest.raises(QueryError):
        await backend.audit_entries.query(spec, limit=0)


async def test_task_metrics_window(backend: PersistenceBackend) -> None:
    for i, minutes in enumerate([0, 10, 20, 30]):
        await backend.task_metrics.append(metric(f"m{i}", "a1", minutes))
    await backend.task_metrics.append(metric("x", "a2", 15))
    tm = backend.task_metrics
    spec = TaskMetricRecordFilterSpec(
        agent_id="a1", since=at_minute(10), until=at_minute(20)
    )
    assert ids(await tm.query(spec)) == ["m2", "m1"]
    spec = TaskMetricRecordFilterSpec(since=at_minute(10), until=at_minute(20))
    assert ids(await tm.query(spec)) == ["m2", "x", "m1"]
    with pytest.raises(QueryError):
        await tm.query(
            TaskMetricRecordFilterSpec(since=at_minute(20), until=at_minute(10))
        )


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
                timestamp=at_minute(minutes),
                initiated_by="hr",
                metadata={"step": minutes},
            )
        )
    le = backend.lifecycle_events
    assert ids(await le.query(AgentLifecycleEventFilterSpec(since=at_minute(5)))) == [
        "l3",
        "l2",
        "l1",
    ]
    spec = AgentLifecycleEventFilterSpec(
        agent_id="a1", event_type=LifecycleEventType.HIRED, since=at_minute(0)
    )
    assert ids(await le.query(spec)) == ["l0"]


async def test_query_is_newest_first_with_id_breaking_timestamp_ties(
    backend: PersistenceBackend,
) -> None:
    later = T0 + timedelta(minutes=5)
    earlier = T0 - timedelta(minutes=5)
    # Appended in an order that matches neither the timestamp nor the id order.
    for record_id, ts in [
        ("m-b", T0),
        ("z-old", earlier),
        ("m-c", T0),
        ("a-new", later),
        ("m-a", T0),
    ]:
        await backend.cost_records.append(cost(record_id, timestamp=ts))
    rows = await backend.cost_records.query(CostRecordFilterSpec())
    assert [r.id for r in rows] == ["a-new", "m-a", "m-b", "m-c", "z-old"]
    page = await backend.cost_records.query(CostRecordFilterSpec(), limit=2, offset=1)
    assert [r.id for r in page] == ["m-a", "m-b"]


async def test_query_orders_by_instant_across_utc_offsets(
    backend: PersistenceBackend,
) -> None:
    """A +02:00 timestamp that is earlier in UTC sorts as earlier."""
    plus_two = datetime(2024, 5, 1, 15, 0, tzinfo=timezone(timedelta(hours=2)))
    await backend.cost_records.append(cost("utc-14", timestamp=T0 + timedelta(hours=2)))
    await backend.cost_records.append(cost("plus2-13", timestamp=plus_two))
    rows = await backend.cost_records.query(CostRecordFilterSpec())
    assert [r.id for r in rows] == ["utc-14", "plus2-13"]
    assert rows[1].timestamp == plus_two


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (ApiKeyFilterSpec(), ["k1", "k2", "k3", "k4", "k5"]),
        (ApiKeyFilterSpec(revoked_only=False), ["k1", "k2", "k3", "k4", "k5"]),
        (ApiKeyFilterSpec(user_id="alice"), ["k1", "k2", "k5"]),
        (ApiKeyFilterSpec(user_id="bob", revoked_only=False), ["k3", "k4"]),
        (ApiKeyFilterSpec(revoked_only=True), ["k2", "k3", "k5"]),
        (ApiKeyFilterSpec(user_id="alice", revoked_only=True), ["k2", "k5"]),
        (ApiKeyFilterSpec(user_id="bob", revoked_only=True), ["k3"]),
        (ApiKeyFilterSpec(user_id="nobody"), []),
    ],
    ids=[
        "none",
        "revoked_only_false",
        "user",
        "user_revoked_only_false",
        "revoked_only",
        "user_and_revoked_only",
        "other_user_and_revoked_only",
        "unknown_user",
    ],
)
async def test_api_key_query_and_count(
    backend: PersistenceBackend, spec: ApiKeyFilterSpec, expected: list[str]
) -> None:
    keys = await _seed_keys(backend)
    rows = await backend.api_keys.query(spec)
    assert list(rows) == [keys[k] for k in expected]
    assert await backend.api_keys.count(spec) == len(expected)
