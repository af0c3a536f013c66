"""``list`` methods: filtered, ordered listings and their ``limit``/``offset`` pages.

A test that takes the ``backend`` fixture runs on both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from synthorg.persistence import (
    AgentStatus,
    CeremonySchedulerState,
    CircuitState,
    ConstraintViolationError,
    ContainerState,
    FineTuneStatus,
    HumanRole,
    MeetingCooldown,
    PersistenceBackend,
    QueryError,
    TrackedContainer,
    UserFilterSpec,
)
from tests.repositories._rows import (
    LISTERS,
    T0,
    T2025,
    _seed_heartbeats,
    agent_state,
    at_second,
    breaker,
    decision,
    ft_checkpoint,
    heartbeat,
    ids,
    message,
    parked,
    receipt,
    risk_override,
    run,
    setting_row,
    user,
)


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


async def test_list_active_excludes_revoked_and_expired(
    backend: PersistenceBackend,
) -> None:
    ro = backend.risk_overrides
    hour = timedelta(hours=1)
    rows = [
        risk_override("o1", 3 * hour),
        risk_override("o2", -hour),  # expired
        risk_override("o3", hour),
        risk_override("o4", 2 * hour, revoked_at=T0, revoked_by="ops"),  # revoked
        risk_override("o5", 2 * hour),
        risk_override("o6", -timedelta(seconds=1)),  # just expired
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
            risk_override(ov_id, timedelta(), expires_at=expires)
        )
    assert ids(await backend.risk_overrides.list_active()) == ["o1", "o2", "o3"]


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


async def test_load_all_lists_by_key_in_pages(backend: PersistenceBackend) -> None:
    sprints = [f"sprint-{n}" for n in (3, 1, 10, 2)]
    for sprint in sprints:
        await backend.ceremony_scheduler_state.save(
            CeremonySchedulerState(
                sprint_id=sprint, strategy="calendar", last_fired={"standup": "x"}
            )
        )
        await backend.meeting_cooldown.save(
            MeetingCooldown(meeting_type=sprint, last_triggered_at=T2025)
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


async def test_checkpoints_of_a_run_newest_first_and_cascade(
    backend: PersistenceBackend,
) -> None:
    await backend.fine_tune_runs.save(run("run", FineTuneStatus.COMPLETED))
    await backend.fine_tune_runs.save(run("other", FineTuneStatus.COMPLETED))
    repo = backend.fine_tune_checkpoints
    for i in range(3):
        await repo.save(ft_checkpoint(f"a-{i}", minutes=i))
    await repo.save(ft_checkpoint("b-0", minutes=9, run_id="other"))
    assert [c.id for c in await repo.list_by_run("run")] == ["a-2", "a-1", "a-0"]
    with pytest.raises(ConstraintViolationError):
        await repo.save(ft_checkpoint("orphan", run_id="no-such-run"))
    assert await backend.fine_tune_runs.delete("run") is True
    assert [c.id for c in await repo.list_items()] == ["b-0"]


async def test_list_by_task_orders_by_version_not_time_and_pages(
    backend: PersistenceBackend,
) -> None:
    repo = backend.decision_records
    # Recorded times run backwards so a time ordering would reverse the list.
    for i in range(5):
        await repo.append_with_next_version(
            decision(f"d{i}", recorded_at=at_second(-i * 10))
        )
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


async def test_get_by_connection_newest_first_with_paging(
    backend: PersistenceBackend,
) -> None:
    repo = backend.webhook_receipts
    rows = [
        receipt("r-old", received_at=at_second(0)),
        receipt("r-new", received_at=at_second(300)),
        receipt("r-mid-b", received_at=at_second(100)),
        receipt("r-mid-a", received_at=at_second(100)),
        receipt("r-other", connection_name="conn-b", received_at=at_second(200)),
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
    assert stale[0] == heartbeat("e-oldest", at_second(-3600))


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
    assert await backend.heartbeats.get_stale(at_second(-7200)) == ()


async def test_get_stale_sees_a_refreshed_heartbeat(
    backend: PersistenceBackend,
) -> None:
    await _seed_heartbeats(backend)
    await backend.heartbeats.save(heartbeat("e-oldest", at_second(500)))
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


async def test_get_active_excludes_idle_and_orders_newest_first(
    backend: PersistenceBackend,
) -> None:
    rows = [
        agent_state("idle-newest", AgentStatus.IDLE, at_second(1000)),
        agent_state("run-b", AgentStatus.RUNNING, at_second(50)),
        agent_state("run-a", AgentStatus.PAUSED, at_second(50)),  # tie: agent_id asc
        agent_state("start", AgentStatus.STARTING, at_second(90)),
        agent_state("wait", AgentStatus.WAITING, at_second(10)),
        agent_state("stop", AgentStatus.STOPPING, at_second(-10)),
        agent_state("err", AgentStatus.ERROR, at_second(70)),
        agent_state("idle-old", AgentStatus.IDLE, at_second(-1000)),
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
            agent_state(f"ag-{i}", AgentStatus.RUNNING, at_second(i))
        )
    page = await backend.agent_states.get_active(limit=2, offset=1)
    assert [a.agent_id for a in page] == ["ag-3", "ag-2"]
    assert await backend.agent_states.get_active(limit=3, offset=5) == ()
    # An agent that goes idle leaves the list; one that wakes joins it.
    await backend.agent_states.save(agent_state("ag-4", AgentStatus.IDLE, at_second(4)))
    await backend.agent_states.save(
        agent_state("ag-0", AgentStatus.RUNNING, at_second(99))
    )
    active = await backend.agent_states.get_active()
    assert [a.agent_id for a in active] == ["ag-0", "ag-3", "ag-2", "ag-1"]


async def test_get_active_when_everyone_is_idle(backend: PersistenceBackend) -> None:
    await backend.agent_states.save(agent_state("a", AgentStatus.IDLE, at_second(0)))
    assert await backend.agent_states.get_active() == ()


@pytest.mark.parametrize("method", sorted(LISTERS))
@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (-1, 0), (1, -1), (True, 0)])
async def test_bespoke_lists_refuse_bad_pages(
    backend: PersistenceBackend, method: str, limit: int, offset: int
) -> None:
    with pytest.raises(QueryError):
        await LISTERS[method](backend, limit, offset)


async def test_get_history_only_that_channel_newest_first_at_most_limit(
    backend: PersistenceBackend,
) -> None:
    for i in range(5):
        await backend.messages.append(
            message(f"g{i}", channel="general", timestamp=T0 + timedelta(minutes=i))
        )
    for i in range(3):
        await backend.messages.append(
            message(f"o{i}", channel="other", timestamp=T0 + timedelta(minutes=10 + i))
        )
    history = await backend.messages.get_history("general", 3)
    assert [m.id for m in history] == ["g4", "g3", "g2"]
    assert all(m.channel == "general" for m in history)
    full = await backend.messages.get_history("general", 100)
    assert [m.id for m in full] == ["g4", "g3", "g2", "g1", "g0"]
    assert [m.id for m in await backend.messages.get_history("other")] == [
        "o2",
        "o1",
        "o0",
    ]
    assert await backend.messages.get_history("empty-channel", 10) == ()


async def test_get_history_breaks_timestamp_ties_by_id(
    backend: PersistenceBackend,
) -> None:
    for message_id in ["b", "c", "a"]:
        await backend.messages.append(message(message_id))
    assert [m.id for m in await backend.messages.get_history("general", 2)] == [
        "a",
        "b",
    ]


@pytest.mark.parametrize("bad", [0, -1, True, 2.0])
async def test_get_history_refuses_a_bad_limit(
    backend: PersistenceBackend, bad: Any
) -> None:
    await backend.messages.append(message("m1"))
    with pytest.raises(QueryError):
        await backend.messages.get_history("general", bad)


async def test_get_namespace_sorted_by_key_and_only_that_namespace(
    backend: PersistenceBackend,
) -> None:
    for key in ["zeta", "alpha", "Mid", "beta"]:
        await backend.settings.save(setting_row("ui", key, f"v-{key}", "t1"))
    await backend.settings.save(setting_row("uix", "aaa", "other", "t1"))
    await backend.settings.save(setting_row("u", "aaa", "other", "t1"))
    rows = await backend.settings.get_namespace("ui")
    assert [r.key for r in rows] == ["Mid", "alpha", "beta", "zeta"]
    assert all(r.namespace == "ui" for r in rows)
    assert rows[1] == setting_row("ui", "alpha", "v-alpha", "t1")
    assert await backend.settings.get_namespace("missing") == ()


async def test_system_user_is_left_out_of_every_list(
    backend: PersistenceBackend,
) -> None:
    humans = [user("u1", HumanRole.CEO), user("u3", HumanRole.OBSERVER)]
    system = user("u2", HumanRole.SYSTEM)
    for u in [humans[0], system, humans[1]]:
        await backend.users.save(u)
    users = backend.users
    assert await users.count_by_role(HumanRole.SYSTEM) == 1
    assert await users.get("u2") == system  # a point read still finds it
    assert await users.list_items() == tuple(humans)
    assert await users.query(UserFilterSpec()) == tuple(humans)
    assert await users.query(UserFilterSpec(role=HumanRole.SYSTEM)) == ()
    assert await users.query(UserFilterSpec(role=HumanRole.CEO)) == (humans[0],)
    assert await users.count(UserFilterSpec()) == 2
    assert await users.count(UserFilterSpec(role=HumanRole.SYSTEM)) == 0
    assert await users.list_after_id(None, 10) == tuple(humans)
    assert await users.list_after_id("u1", 10) == (humans[1],)
