"""The services the backend builds: lockouts, escalations, ontology versions.

Covers, on both backends unless a section says otherwise:

* the ``build_*`` gating (refused before ``connect()`` and after
  ``disconnect()``) and the one-per-connection ``build_lockouts``;
* lockout semantics over the generated ``login_failures`` and ``lockouts``
  repositories: threshold, window, duration, success, unlock, and
  ``is_locked`` following storage (no in-memory answer);
* the escalation queue (enqueue, pending list, acknowledge, resolve, query)
  and, on PostgreSQL, the ``NOTIFY`` published on enqueue;
* ontology versioning: numbering, identical content, history, and
  concurrent publishers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from synthorg.persistence import (
    AuthConfig,
    Escalation,
    EscalationFilterSpec,
    EscalationQueue,
    EscalationSeverity,
    EscalationStatus,
    LockoutRecord,
    LockoutRepository,
    LoginFailure,
    OntologyDocument,
    PersistenceBackend,
    PersistenceConfig,
    PersistenceConnectionError,
    PostgresConfig,
    QueryError,
    create_backend,
)
from synthorg.persistence.versions import content_hash
from tests.support.pgserver import PgServer

AUTH = AuthConfig(
    lockout_threshold=3, lockout_window_seconds=600, lockout_duration_seconds=900
)
CHANNEL = "synthorg_escalations"
BUILDERS: dict[str, Callable[[PersistenceBackend], object]] = {
    "build_lockouts": lambda b: b.build_lockouts(AUTH),
    "build_escalations": lambda b: b.build_escalations(CHANNEL),
    "build_escalations_no_channel": lambda b: b.build_escalations(),
    "build_ontology_versioning": lambda b: b.build_ontology_versioning(),
}


def now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------
# Gating and caching
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("builder", list(BUILDERS))
async def test_builders_refuse_before_connect_and_after_disconnect(
    backend_config: PersistenceConfig, builder: str
) -> None:
    build = BUILDERS[builder]
    instance = create_backend(backend_config)
    with pytest.raises(PersistenceConnectionError):
        build(instance)
    await instance.connect()
    try:
        await instance.migrate()
        assert build(instance) is not None
    finally:
        await instance.disconnect()
    with pytest.raises(PersistenceConnectionError):
        build(instance)


async def test_build_lockouts_is_cached_per_connection(
    backend_config: PersistenceConfig,
) -> None:
    instance = create_backend(backend_config)
    await instance.connect()
    try:
        await instance.migrate()
        first = instance.build_lockouts(AUTH)
        assert isinstance(first, LockoutRepository)
        assert instance.build_lockouts(AUTH) is first
        assert first.config == AUTH
        for _ in range(AUTH.lockout_threshold):
            await first.record_failure("carol")
        assert await first.is_locked("carol") is True
    finally:
        await instance.disconnect()
    await instance.connect()
    try:
        second = instance.build_lockouts(AUTH)
        assert second is not first
        assert instance.build_lockouts(AUTH) is second
        # The new instance reads the stored lock.
        assert await second.is_locked("carol") is True
        assert await second.is_locked("dave") is False
    finally:
        await instance.disconnect()


# ---------------------------------------------------------------------------
# Lockouts
# ---------------------------------------------------------------------------


def fresh_lockouts(backend: PersistenceBackend, config: AuthConfig = AUTH) -> Any:
    """Another lockout repository over the backend's tables."""
    return LockoutRepository(config, backend.login_failures, backend.lockouts)


async def test_threshold_locks(backend: PersistenceBackend) -> None:
    lockouts = backend.build_lockouts(AUTH)
    before = now()
    assert await lockouts.record_failure("alice", "10.0.0.1") is False
    assert await lockouts.record_failure("alice") is False
    assert await lockouts.is_locked("alice") is False
    assert await backend.lockouts.get("alice") is None
    assert await lockouts.record_failure("bob") is False  # other users count apart
    assert await lockouts.record_failure("alice") is True
    assert await lockouts.is_locked("alice") is True
    assert await fresh_lockouts(backend).is_locked("alice") is True  # stored
    assert await lockouts.is_locked("bob") is False
    stored = await backend.lockouts.get("alice")
    assert stored is not None
    assert stored.failure_count == 3
    duration = timedelta(seconds=AUTH.lockout_duration_seconds)
    assert before + duration <= stored.locked_until <= now() + duration
    failures = await backend.login_failures.count_since("alice", before)
    assert failures == 3


async def test_failures_outside_the_window_do_not_count(
    backend: PersistenceBackend,
) -> None:
    lockouts = backend.build_lockouts(AUTH)
    window = timedelta(seconds=AUTH.lockout_window_seconds)
    old = now() - window - timedelta(seconds=30)
    for i in range(5):
        await backend.login_failures.append(
            LoginFailure(id=f"old-{i}", username="alice", failed_at=old)
        )
    assert await lockouts.record_failure("alice") is False
    assert await lockouts.record_failure("alice") is False
    assert await lockouts.is_locked("alice") is False
    # Recent failures (inside the window) do count.
    recent = now() - window + timedelta(seconds=60)
    await backend.login_failures.append(
        LoginFailure(id="recent", username="alice", failed_at=recent)
    )
    assert await lockouts.record_failure("alice") is True
    stored = await backend.lockouts.get("alice")
    assert stored is not None and stored.failure_count == 4


async def test_stored_lock_expires(backend: PersistenceBackend) -> None:
    await backend.lockouts.save(
        LockoutRecord(
            username="expired",
            locked_until=now() - timedelta(seconds=1),
            failure_count=3,
            locked_at=now() - timedelta(minutes=20),
        )
    )
    await backend.lockouts.save(
        LockoutRecord(
            username="active",
            locked_until=now() + timedelta(minutes=5),
            failure_count=3,
            locked_at=now() - timedelta(minutes=1),
        )
    )
    lockouts = fresh_lockouts(backend)
    assert await lockouts.is_locked("expired") is False
    assert await lockouts.is_locked("active") is True
    assert await lockouts.is_locked("nobody") is False


async def test_cached_lock_expires_after_duration(backend: PersistenceBackend) -> None:
    short = AuthConfig(
        lockout_threshold=2, lockout_window_seconds=600, lockout_duration_seconds=1
    )
    lockouts = fresh_lockouts(backend, short)
    assert await lockouts.record_failure("alice") is False
    assert await lockouts.record_failure("alice") is True
    assert await lockouts.is_locked("alice") is True
    await asyncio.sleep(1.2)
    assert await lockouts.is_locked("alice") is False
    assert await fresh_lockouts(backend, short).is_locked("alice") is False


async def test_record_success_clears_failures_and_lock(
    backend: PersistenceBackend,
) -> None:
    lockouts = backend.build_lockouts(AUTH)
    start = now() - timedelta(seconds=1)
    for _ in range(3):
        await lockouts.record_failure("alice")
    await lockouts.record_failure("bob")
    assert await lockouts.is_locked("alice") is True
    await lockouts.record_success("alice")
    assert await lockouts.is_locked("alice") is False
    assert await backend.lockouts.get("alice") is None
    assert await backend.login_failures.count_since("alice", start) == 0
    assert await backend.login_failures.count_since("bob", start) == 1
    # The count starts over: two more failures stay below the threshold.
    assert await lockouts.record_failure("alice") is False
    assert await lockouts.record_failure("alice") is False
    assert await lockouts.is_locked("alice") is False


async def test_unlock_true_then_false(backend: PersistenceBackend) -> None:
    lockouts = backend.build_lockouts(AUTH)
    for _ in range(3):
        await lockouts.record_failure("alice")
    assert await lockouts.is_locked("alice") is True
    assert await lockouts.unlock("alice") is True
    assert await lockouts.is_locked("alice") is False
    assert await backend.lockouts.get("alice") is None
    assert await lockouts.unlock("alice") is False
    assert await lockouts.unlock("never-locked") is False


async def test_is_locked_follows_storage_not_memory(
    backend: PersistenceBackend,
) -> None:
    """The stored lockout is the truth: a row removed or written behind this
    instance's back (e.g. by another process) is seen at once."""
    lockouts = backend.build_lockouts(AUTH)
    for _ in range(3):
        await lockouts.record_failure("alice")
    assert await lockouts.is_locked("alice") is True
    assert await backend.lockouts.delete("alice") is True  # an unlock elsewhere
    assert await lockouts.is_locked("alice") is False
    assert await fresh_lockouts(backend).is_locked("alice") is False
    # A lock written elsewhere is honoured, and its removal seen too.
    await backend.lockouts.save(
        LockoutRecord(username="bob", locked_until=now() + timedelta(minutes=5))
    )
    reader = fresh_lockouts(backend)
    assert await reader.is_locked("bob") is True
    await backend.lockouts.delete("bob")
    assert await reader.is_locked("bob") is False


async def test_concurrent_failures_lock_once_threshold_reached(
    backend: PersistenceBackend,
) -> None:
    lockouts = backend.build_lockouts(AUTH)
    start = now() - timedelta(seconds=1)
    results = await asyncio.gather(
        *(lockouts.record_failure("alice") for _ in range(10))
    )
    assert sum(results) >= 10 - (AUTH.lockout_threshold - 1)
    assert await lockouts.is_locked("alice") is True
    assert await fresh_lockouts(backend).is_locked("alice") is True
    assert await backend.login_failures.count_since("alice", start) == 10


async def test_purge_failures_before(backend: PersistenceBackend) -> None:
    lockouts = backend.build_lockouts(AUTH)
    old = now() - timedelta(days=2)
    for i in range(4):
        await backend.login_failures.append(
            LoginFailure(id=f"old-{i}", username="alice", failed_at=old)
        )
    await lockouts.record_failure("alice")
    assert await lockouts.purge_failures_before(now() - timedelta(days=1)) == 4
    assert await backend.login_failures.count_since("alice", old) == 1


# ---------------------------------------------------------------------------
# Escalations
# ---------------------------------------------------------------------------

T0 = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def escalation(i: int, **changes: Any) -> Escalation:
    return Escalation(
        id=f"esc-{i}",
        source=f"agent-{i}",
        title=f"Escalation {i}",
        severity=list(EscalationSeverity)[i % 4],
        details={"i": i},
        created_at=T0 + timedelta(minutes=i),
        **changes,
    )


async def test_enqueue_get_and_list_pending_oldest_first(
    backend: PersistenceBackend,
) -> None:
    queue = backend.build_escalations()
    for i in (3, 1, 4, 2):
        await queue.enqueue(escalation(i))
    assert await queue.get("esc-4") == escalation(4)
    assert await queue.get("missing") is None
    pending = await queue.list_pending()
    assert [e.id for e in pending] == ["esc-1", "esc-2", "esc-3", "esc-4"]
    assert [e.id for e in await queue.list_pending(limit=2, offset=1)] == [
        "esc-2",
        "esc-3",
    ]
    assert await queue.acknowledge("esc-2", "operator") is True
    assert await queue.resolve("esc-3", "fixed") is True
    assert [e.id for e in await queue.list_pending()] == ["esc-1", "esc-4"]


async def test_acknowledge_only_once(backend: PersistenceBackend) -> None:
    queue = backend.build_escalations()
    await queue.enqueue(escalation(1))
    before = now() - timedelta(seconds=1)
    assert await queue.acknowledge("esc-1", "operator") is True
    assert await queue.acknowledge("esc-1", "someone-else") is False
    assert await queue.acknowledge("missing", "operator") is False
    stored = await queue.get("esc-1")
    assert stored is not None
    assert stored.status is EscalationStatus.ACKNOWLEDGED
    assert stored.acknowledged_by == "operator"
    assert stored.acknowledged_at is not None
    assert stored.acknowledged_at.utcoffset() == timedelta(0)
    assert before <= stored.acknowledged_at <= now() + timedelta(seconds=1)
    assert stored.resolved_at is None and stored.resolution is None


async def test_resolve_once_from_pending_or_acknowledged(
    backend: PersistenceBackend,
) -> None:
    queue = backend.build_escalations()
    await queue.enqueue(escalation(1))
    await queue.enqueue(escalation(2))
    assert await queue.acknowledge("esc-1", "operator") is True
    assert await queue.resolve("esc-1", "restarted the agent") is True
    assert await queue.resolve("esc-2", "not an issue") is True  # from pending
    assert await queue.resolve("esc-1", "again") is False
    assert await queue.resolve("missing", "x") is False
    assert await queue.acknowledge("esc-2", "late") is False  # resolved already
    first = await queue.get("esc-1")
    assert first is not None
    assert first.status is EscalationStatus.RESOLVED
    assert first.resolution == "restarted the agent"
    assert first.acknowledged_by == "operator"
    assert first.resolved_at is not None
    assert first.resolved_at.utcoffset() == timedelta(0)
    second = await queue.get("esc-2")
    assert second is not None
    assert second.resolution == "not an issue"
    assert second.acknowledged_by is None


async def test_query_by_status_and_severity(backend: PersistenceBackend) -> None:
    queue = backend.build_escalations()
    for i in range(8):
        await queue.enqueue(escalation(i))
    await queue.acknowledge("esc-1", "op")
    await queue.acknowledge("esc-5", "op")
    await queue.resolve("esc-6", "done")
    by_status = {
        status: [e.id for e in await queue.query(EscalationFilterSpec(status=status))]
        for status in EscalationStatus
    }
    assert by_status == {
        EscalationStatus.PENDING: ["esc-0", "esc-2", "esc-3", "esc-4", "esc-7"],
        EscalationStatus.ACKNOWLEDGED: ["esc-1", "esc-5"],
        EscalationStatus.RESOLVED: ["esc-6"],
    }
    both = await queue.query(
        EscalationFilterSpec(
            status=EscalationStatus.PENDING, severity=EscalationSeverity.CRITICAL
        )
    )
    assert [e.id for e in both] == ["esc-3", "esc-7"]
    assert len(await queue.query(EscalationFilterSpec(), limit=3)) == 3


async def test_sqlite_ignores_the_channel(backend: PersistenceBackend) -> None:
    queue = backend.build_escalations(CHANNEL)
    if backend.kind == "sqlite":
        assert queue.notify_channel is None
    else:
        assert queue.notify_channel == CHANNEL
    assert backend.build_escalations().notify_channel is None
    await queue.enqueue(escalation(1))
    assert await queue.get("esc-1") == escalation(1)


# ------------------------------------------------------------ PostgreSQL NOTIFY


@pytest.fixture
async def pg_backend(
    pg_server: PgServer, pg_database: str
) -> AsyncIterator[PersistenceBackend]:
    config = PersistenceConfig(
        backend="postgres",
        postgres=PostgresConfig(
            host=pg_server.host,
            port=pg_server.port,
            database=pg_database,
            username=pg_server.user,
            password=SecretStr(pg_server.password),
            pool_min_size=1,
            pool_max_size=4,
        ),
    )
    instance = create_backend(config)
    await instance.connect()
    await instance.migrate()
    try:
        yield instance
    finally:
        await instance.disconnect()


@pytest.fixture
async def listener(
    pg_server: PgServer, pg_database: str
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A separate autocommit connection listening on ``CHANNEL``."""
    conn = await psycopg.AsyncConnection.connect(
        pg_server.dsn(pg_database), autocommit=True
    )
    try:
        await conn.execute(f"LISTEN {CHANNEL}")
        yield conn
    finally:
        await conn.close()


async def receive(
    conn: psycopg.AsyncConnection[Any], count: int, wait: float = 5.0
) -> list[psycopg.Notify]:
    """Up to ``count`` notifications, waiting at most ``wait`` seconds."""

    async def collect() -> list[psycopg.Notify]:
        return [n async for n in conn.notifies(timeout=wait, stop_after=count)]

    return await asyncio.wait_for(collect(), wait + 2)


async def test_postgres_enqueue_publishes_the_id(
    pg_backend: PersistenceBackend, listener: psycopg.AsyncConnection[Any]
) -> None:
    queue = pg_backend.build_escalations(CHANNEL)
    assert queue.notify_channel == CHANNEL
    await queue.enqueue(escalation(7))
    got = await receive(listener, 1)
    assert [(n.channel, n.payload) for n in got] == [(CHANNEL, "esc-7")]
    assert got[0].pid != listener.info.backend_pid
    assert await queue.get("esc-7") == escalation(7)  # committed


async def test_postgres_no_channel_publishes_nothing(
    pg_backend: PersistenceBackend, listener: psycopg.AsyncConnection[Any]
) -> None:
    silent = pg_backend.build_escalations(None)
    assert silent.notify_channel is None
    await silent.enqueue(escalation(1))
    other = pg_backend.build_escalations("some_other_channel")
    await other.enqueue(escalation(2))
    # A sentinel committed afterwards: notifications arrive in commit order,
    # so the first one received is the sentinel only if nothing came before.
    await pg_backend.build_escalations(CHANNEL).enqueue(escalation(3))
    got = await receive(listener, 1)
    assert [n.payload for n in got] == ["esc-3"]
    assert await silent.get("esc-1") == escalation(1)
    assert await silent.get("esc-2") == escalation(2)


async def test_postgres_each_enqueue_publishes_once(
    pg_backend: PersistenceBackend, listener: psycopg.AsyncConnection[Any]
) -> None:
    queue = pg_backend.build_escalations(CHANNEL)
    await asyncio.gather(*(queue.enqueue(escalation(i)) for i in range(6)))
    got = await receive(listener, 6)
    assert sorted(n.payload for n in got) == [f"esc-{i}" for i in range(6)]
    assert await receive(listener, 1, wait=0.3) == []


async def test_postgres_failed_notify_rolls_back_the_enqueue(
    pg_backend: PersistenceBackend,
) -> None:
    """NOTIFY runs in the enqueue's transaction: if it fails, no row is kept."""

    async def failing(channel: str, payload: str) -> None:
        raise QueryError(f"notify on {channel} failed for {payload}")

    queue = EscalationQueue(
        pg_backend.escalations,
        pg_backend._transaction,  # type: ignore[attr-defined]
        "synthorg_escalations",
        failing,
    )
    with pytest.raises(QueryError, match="notify"):
        await queue.enqueue(escalation(1))
    assert await queue.get("esc-1") is None
    assert await pg_backend.escalations.list_items() == ()


@pytest.mark.parametrize("channel", ["", "x" * 100], ids=["empty", "too_long"])
async def test_an_invalid_notify_channel_is_refused(
    pg_backend: PersistenceBackend, channel: str
) -> None:
    with pytest.raises(ValueError, match="notify_channel"):
        pg_backend.build_escalations(channel)


# ---------------------------------------------------------------------------
# Ontology versioning
# ---------------------------------------------------------------------------


def document(n: int, ontology_id: str = "org") -> OntologyDocument:
    return OntologyDocument(
        ontology_id=ontology_id,
        concepts=({"name": f"concept-{n}"}, {"name": "agent"}),
        relations=({"from": "agent", "to": f"concept-{n}"},),
        notes=f"revision {n}",
    )


async def test_publish_numbers_versions_and_skips_identical_content(
    backend: PersistenceBackend,
) -> None:
    service = backend.build_ontology_versioning()
    first = await service.publish(document(1), "alice")
    assert first.version == 1
    assert first.entity_id == "org"
    assert first.saved_by == "alice"
    assert first.content_hash == content_hash(document(1))
    assert first.snapshot == document(1)
    second = await service.publish(document(2), "bob")
    assert second.version == 2
    same = await service.publish(document(2), "carol")
    assert same == second  # the stored latest, not a new version
    assert same.saved_by == "bob"
    assert await backend.ontology_versions.count_versions("org") == 2
    # Content equal to an older (not the latest) version is a new version.
    third = await service.publish(document(1), "dave")
    assert third.version == 3
    assert await service.latest("org") == third
    assert [s.version for s in await service.history("org")] == [3, 2, 1]
    assert [s.version for s in await service.history("org", limit=1, offset=1)] == [2]
    got = await service.get("org", 1)
    assert got is not None and got.snapshot == document(1) and got.saved_by == "alice"
    assert await service.get("org", 4) is None
    # Other ontologies are numbered on their own.
    other = await service.publish(document(1, "other"), "alice")
    assert other.version == 1
    assert await service.latest("missing") is None
    assert await service.history("missing") == ()


async def test_concurrent_publishes_get_distinct_versions(
    backend: PersistenceBackend,
) -> None:
    service = backend.build_ontology_versioning()
    published = await asyncio.gather(
        *(service.publish(document(n), f"p{n}") for n in range(10))
    )
    assert sorted(s.version for s in published) == list(range(1, 11))
    history = await service.history("org")
    assert [s.version for s in history] == list(range(10, 0, -1))
    assert sorted(s.snapshot.notes for s in history) == sorted(
        f"revision {n}" for n in range(10)
    )
    for snapshot in published:  # each caller got what was stored for it
        assert await service.get("org", snapshot.version) == snapshot


async def test_concurrent_identical_publishes_share_one_version(
    backend: PersistenceBackend,
) -> None:
    service = backend.build_ontology_versioning()
    published = await asyncio.gather(
        *(service.publish(document(5), f"p{n}") for n in range(8))
    )
    assert {s.version for s in published} == {1}
    assert len({s.saved_by for s in published}) == 1
    assert await backend.ontology_versions.count_versions("org") == 1
