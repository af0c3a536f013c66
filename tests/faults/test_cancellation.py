"""Cancellation at every await of every multi-statement operation, both backends.

For each operation: start it as a task, let the event loop run N steps
(``await asyncio.sleep(0)`` N times), cancel, for N = 0, 1, 2, ... until the
operation completes before the cancel arrives. SQLite statements run on a
worker thread, so seeded trials that cancel after a small random real delay
follow. After every cancellation:

* no partial effect: the operation's rows are all there or none (read from an
  independent connection, which sees committed data only);
* the lock is free (SQLite: the shared connection is not inside a
  transaction, and another connection with ``busy_timeout = 0`` can
  ``BEGIN IMMEDIATE``); the pool is not leaked and no session is
  ``idle in transaction`` (PostgreSQL);
* the next write is acknowledged and visible to that independent connection;
  after each sweep the backend is disconnected and a fresh one must read
  every such write back.

On the code before the fix, a save_many cancelled while its BEGIN IMMEDIATE
ran left the shared SQLite connection inside a transaction: the checks above
fail at the first such N (defect 1 of issue 9).
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from synthorg.persistence import (
    AuditEntry,
    AuditVerdict,
    AuthConfig,
    DecisionOutcome,
    DecisionRecord,
    Escalation,
    EscalationSeverity,
    FineTuneCheckpoint,
    FineTuneRun,
    FineTuneStatus,
    PersistenceBackend,
    PersistenceConfig,
    SettingRow,
    SQLiteConfig,
    Task,
    TaskType,
    create_backend,
)
from synthorg.persistence.generated.enums import ApprovalRiskLevel
from synthorg.persistence.generated.models import OntologyDocument
from tests.faults._soak import report, soak_factor, trials
from tests.support.pgserver import PgServer

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
STEP_LIMIT = 50_000  # a sweep that never completes is a hang, not a pass
WAIT = 15.0  # seconds: anything slower is a leaked lock or connection


def task(task_id: str, project: str = "apollo") -> Task:
    return Task(
        id=task_id,
        title=f"Title of {task_id}",
        type=TaskType.DEVELOPMENT,
        project=project,
        created_by="alice",
    )


def audit(entry_id: str, minutes: int, agent_id: str = "a1") -> AuditEntry:
    return AuditEntry(
        id=entry_id,
        timestamp=T0 + timedelta(minutes=minutes),
        agent_id=agent_id,
        tool_name="write_file",
        tool_category="file_system",
        action_type="code:write",
        arguments_hash="ab" * 32,
        verdict=AuditVerdict.ALLOW,
        risk_level=ApprovalRiskLevel.LOW,
        matched_rules=(),
        evaluation_duration_ms=1.5,
    )


def setting(namespace: str, key: str) -> SettingRow:
    return SettingRow(namespace=namespace, key=key, value="v", updated_at="t0")


# ---------------------------------------------------------------------------
# The harness: one backend, an independent connection, the checks
# ---------------------------------------------------------------------------


@dataclass
class Harness:
    kind: str
    config: PersistenceConfig
    dsn: str | None  # PostgreSQL: the test database
    database: str | None
    backend: PersistenceBackend = field(init=False)
    markers: list[str] = field(default_factory=list)
    cancelled: int = 0
    completed: int = 0
    _sqlite: sqlite3.Connection | None = None
    _pg: psycopg.AsyncConnection[Any] | None = None

    async def open(self, *, migrate: bool = True) -> None:
        self.backend = create_backend(self.config)
        await self.backend.connect()
        if migrate:
            await self.backend.migrate()
        if self.kind == "sqlite":
            assert self.config.sqlite is not None
            self._sqlite = sqlite3.connect(
                self.config.sqlite.path, isolation_level=None
            )
            self._sqlite.execute("PRAGMA busy_timeout = 0")
        else:
            assert self.dsn is not None
            self._pg = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)

    async def close(self) -> None:
        await self.backend.disconnect()
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            await self._pg.close()

    async def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Committed data, through a connection of the test's own."""
        if self._sqlite is not None:
            return [tuple(r) for r in self._sqlite.execute(sql, params).fetchall()]
        assert self._pg is not None
        cur = await self._pg.execute(sql.replace("?", "%s"), params)
        return [tuple(r) for r in await cur.fetchall()]

    async def count(self, sql: str, *params: Any) -> int:
        return int((await self.rows(sql, *params))[0][0])

    async def assert_clean(self, label: str) -> None:
        """The lock is free, the pool whole, no session idle in transaction."""
        if self.kind == "sqlite":
            db = self.backend.get_db()
            assert not db.in_transaction, f"{label}: writer left in a transaction"
            lock = self.backend._write_lock  # type: ignore[attr-defined]
            assert not lock.locked(), f"{label}: write lock still held"
            assert self._sqlite is not None
            try:
                self._sqlite.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                pytest.fail(f"{label}: another connection cannot write: {exc}")
            self._sqlite.execute("ROLLBACK")
            return
        pool = self.backend.get_db()
        idle_sql = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = ? "
            "AND state IN ('idle in transaction', 'idle in transaction (aborted)')"
        )
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            stats = pool.get_stats()
            out = stats["pool_size"] - stats["pool_available"]
            idle = await self.count(idle_sql, self.database)
            if out == 0 and idle == 0:
                return
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(
                    f"{label}: {out} connection(s) checked out, "
                    f"{idle} session(s) idle in transaction"
                )
            await asyncio.sleep(0.01)

    async def next_write(self, tag: str) -> None:
        """A write after the cancellation is acknowledged and committed."""
        marker = f"marker-{tag}"
        await asyncio.wait_for(self.backend.tasks.save(task(marker)), WAIT)
        self.markers.append(marker)
        found = await self.count('SELECT count(*) FROM "tasks" WHERE "id" = ?', marker)
        assert found == 1, f"{tag}: an acknowledged write is not committed"

    async def reopen_and_verify(self) -> None:
        """Disconnect; a fresh backend reads back every acknowledged marker."""
        await self.close()
        await self.open(migrate=False)
        for marker in self.markers:
            assert await self.backend.tasks.get(marker) is not None, marker


async def _harness(
    request: pytest.FixtureRequest, backend_kind: str, tmp_path: Path, migrate: bool
) -> AsyncIterator[Harness]:
    if backend_kind == "sqlite":
        config = PersistenceConfig(
            backend="sqlite", sqlite=SQLiteConfig(path=str(tmp_path / "cancel.db"))
        )
        h = Harness("sqlite", config, None, None)
    else:
        from tests.conftest import make_config

        config = make_config("postgres", tmp_path, request)
        server: PgServer = request.getfixturevalue("pg_server")
        database: str = request.getfixturevalue("pg_database")
        h = Harness("postgres", config, server.dsn(database), database)
    await h.open(migrate=migrate)
    try:
        yield h
    finally:
        await h.close()


@pytest.fixture
async def harness(
    request: pytest.FixtureRequest, backend_kind: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    """A fresh, migrated database of each kind, with an independent connection."""
    async for h in _harness(request, backend_kind, tmp_path, migrate=True):
        yield h


@pytest.fixture
async def empty_harness(
    request: pytest.FixtureRequest, backend_kind: str, tmp_path: Path
) -> AsyncIterator[Harness]:
    """The same on an empty database (not migrated)."""
    async for h in _harness(request, backend_kind, tmp_path, migrate=False):
        yield h


# ---------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------

Step = Callable[[PersistenceBackend, str], Awaitable[object]]
Check = Callable[[Harness, str], Awaitable[None]]


async def cancel_after(
    run: Awaitable[object], steps: int, delay: float, again: int | None = None
) -> bool:
    """Run ``run`` as a task, cancel it after ``steps`` loop steps (or
    ``delay`` seconds), and with ``again`` once more that many steps later
    (while it cleans up); True when it completed before the cancel."""
    job = asyncio.ensure_future(run)
    if delay:
        await asyncio.sleep(delay)
    for _ in range(steps):
        await asyncio.sleep(0)
    done = job.done()
    job.cancel()
    if again is not None:
        for _ in range(again):
            await asyncio.sleep(0)
        job.cancel()
    try:
        await asyncio.wait_for(asyncio.shield(job), WAIT)
    except asyncio.CancelledError:
        assert not done
    # Cancelled before it finished, the operation must end cancelled: the
    # cancellation is never absorbed (and, say, committed instead).
    assert done or job.cancelled(), "the cancellation was swallowed"
    return done


async def sweep(
    h: Harness,
    name: str,
    run: Step,
    check: Check,
    setup: Step | None = None,
    *,
    stride: Callable[[int], int] = lambda n: 1,
    verify_each: bool = True,
    max_steps: int = STEP_LIMIT,
    max_delay: float = 0.004,
    again: int | None = None,
) -> None:
    """Cancel ``run`` at every loop step, then after seeded random delays."""
    rng = random.Random(f"cancel-{name}")
    n = 0
    trial = 0
    # make soak repeats the deterministic sweep: the worker thread's timing
    # (SQLite) and the server's (PostgreSQL) put each N somewhere else.
    for _ in range(soak_factor()):
        n = 0
        while True:
            tag = f"{name}-{trial}"
            trial += 1
            if setup is not None:
                await setup(h.backend, tag)
            completed = await cancel_after(run(h.backend, tag), n, 0.0, again)
            await after(h, name, tag, check, verify_each)
            if completed:
                break
            n += stride(n)
            if n > max_steps:
                # Only for a long operation (migrate on PostgreSQL): the
                # seeded delays below and an uncancelled run cover the rest.
                assert max_steps < STEP_LIMIT, f"{name}: never completed in {n} steps"
                break
    for _ in range(trials(6)):
        tag = f"{name}-{trial}"
        trial += 1
        if setup is not None:
            await setup(h.backend, tag)
        delay = rng.uniform(0, max_delay)
        # Every other trial cancels twice: the second lands in the clean-up.
        again = rng.randint(0, 4) if trial % 2 else None
        await cancel_after(run(h.backend, tag), 0, delay, again)
        await after(h, name, tag, check, verify_each)
    await h.reopen_and_verify()
    report(
        f"cancellation {h.kind} {name}",
        trials=trial,
        steps_to_complete=n,
        acknowledged=len(h.markers),
        lost=0,
    )


async def after(h: Harness, name: str, tag: str, check: Check, write: bool) -> None:
    await h.assert_clean(tag)
    await check(h, tag)
    if write:
        await h.next_write(tag)
        await h.assert_clean(f"{tag} after the next write")


def all_or_nothing(sql: str, total: int) -> Check:
    async def check(h: Harness, tag: str) -> None:
        found = await h.count(sql, tag)
        assert found in (0, total), f"{tag}: partial effect, {found} of {total}"

    return check


# ---------------------------------------------------------------------------
# The operations
# ---------------------------------------------------------------------------


async def test_save_many(harness: Harness) -> None:
    async def run(b: PersistenceBackend, tag: str) -> None:
        await b.tasks.save_many([task(f"{tag}/{i}", tag) for i in range(5)])

    check = all_or_nothing('SELECT count(*) FROM "tasks" WHERE "project" = ?', 5)
    await sweep(harness, "tasks.save_many", run, check)


async def test_save_many_large(harness: Harness) -> None:
    # Past _STAGE_THRESHOLD: PostgreSQL's direct COPY (new keys, autocommit),
    # then, with every key stored, the staged merge in BEGIN/COMMIT.
    async def run(b: PersistenceBackend, tag: str) -> None:
        await b.tasks.save_many([task(f"{tag}/{i}", tag) for i in range(70)])

    check = all_or_nothing('SELECT count(*) FROM "tasks" WHERE "project" = ?', 70)
    await sweep(harness, "tasks.save_many.large", run, check, stride=lambda n: 3)

    async def setup(b: PersistenceBackend, tag: str) -> None:
        await b.tasks.save_many([task(f"{tag}/{i}", "stored") for i in range(70)])

    moved = all_or_nothing('SELECT count(*) FROM "tasks" WHERE "project" = ?', 70)
    await sweep(harness, "tasks.save_many.merge", run, moved, setup, stride=lambda n: 3)


async def test_append_many(harness: Harness) -> None:
    async def run(b: PersistenceBackend, tag: str) -> None:
        await b.audit_entries.append_many(
            [audit(f"{tag}/{i}", i, agent_id=tag) for i in range(5)]
        )

    check = all_or_nothing(
        'SELECT count(*) FROM "audit_entries" WHERE "agent_id" = ?', 5
    )
    await sweep(harness, "audit_entries.append_many", run, check)


async def test_settings_set_many(harness: Harness) -> None:
    async def run(b: PersistenceBackend, tag: str) -> None:
        assert await b.settings.set_many([setting(tag, f"k{i}") for i in range(3)])

    check = all_or_nothing('SELECT count(*) FROM "settings" WHERE "namespace" = ?', 3)
    await sweep(harness, "settings.set_many", run, check)


async def test_append_with_next_version(harness: Harness) -> None:
    async def setup(b: PersistenceBackend, tag: str) -> None:
        await b.decision_records.append_with_next_version(record(f"{tag}/first", tag))

    async def run(b: PersistenceBackend, tag: str) -> None:
        await b.decision_records.append_with_next_version(record(f"{tag}/next", tag))

    async def check(h: Harness, tag: str) -> None:
        versions = await h.rows(
            'SELECT "version" FROM "decision_records" WHERE "task_id" = ? '
            'ORDER BY "version"',
            tag,
        )
        assert [v for (v,) in versions] in ([1], [1, 2]), (tag, versions)

    await sweep(harness, "decision_records.append_with_next_version", run, check, setup)


def record(record_id: str, task_id: str) -> DecisionRecord:
    return DecisionRecord(
        id=record_id,
        task_id=task_id,
        executing_agent_id="exec",
        reviewer_agent_id="rev",
        decision=DecisionOutcome.APPROVED,
        recorded_at=T0,
    )


async def test_idempotency_claim(harness: Harness) -> None:
    async def setup(b: PersistenceBackend, tag: str) -> None:
        # A failed attempt: the claim under test re-claims it (two statements
        # on SQLite: the upsert, then nothing to read).
        first = await b.idempotency_keys.claim(tag, "k", 60)
        assert first.claim_token is not None
        assert await b.idempotency_keys.fail(tag, "k", first.claim_token, "boom")

    async def run(b: PersistenceBackend, tag: str) -> None:
        await b.idempotency_keys.claim(tag, "k", 60)
        await b.idempotency_keys.claim(tag, "k", 60)  # refused: upsert + read

    async def check(h: Harness, tag: str) -> None:
        rows = await h.rows(
            'SELECT "status", "attempts" FROM "idempotency_keys" WHERE "scope" = ?',
            tag,
        )
        assert rows in ([("failed", 1)], [("in_flight", 2)]), (tag, rows)

    await sweep(harness, "idempotency_keys.claim", run, check, setup)


async def test_fine_tune_set_active(harness: Harness) -> None:
    await harness.backend.fine_tune_runs.save(
        FineTuneRun(
            id="run",
            status=FineTuneStatus.COMPLETED,
            base_model="bge-small",
            source_dir="/data/docs",
            started_at=T0,
            updated_at=T0,
        )
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

    await harness.backend.fine_tune_checkpoints.save(checkpoint("first", True))

    async def setup(b: PersistenceBackend, tag: str) -> None:
        await b.fine_tune_checkpoints.save(checkpoint(tag, False))

    async def run(b: PersistenceBackend, tag: str) -> None:
        assert await b.fine_tune_checkpoints.set_active(tag)

    async def check(h: Harness, tag: str) -> None:
        active = await h.rows(
            'SELECT "id" FROM "fine_tune_checkpoints" WHERE "is_active"'
        )
        # Deactivate-all then activate is one transaction: never zero active.
        assert len(active) == 1, (tag, active)

    await sweep(harness, "fine_tune_checkpoints.set_active", run, check, setup)


async def test_lockouts_record_failure(harness: Harness) -> None:
    """Not one transaction (on PostgreSQL, READ COMMITTED would hide
    concurrent failures from each other's count): a cancel may leave a
    failure stored before its lockout, a consistent state the next failure
    completes. Nothing is lost and nothing half-written."""
    config = AuthConfig(lockout_threshold=1)

    async def run(b: PersistenceBackend, tag: str) -> None:
        assert await b.build_lockouts(config).record_failure(tag, "10.0.0.1")

    async def check(h: Harness, tag: str) -> None:
        failures_sql = 'SELECT count(*) FROM "login_failures" WHERE "username" = ?'
        locked_sql = 'SELECT count(*) FROM "lockouts" WHERE "username" = ?'
        failures = await h.count(failures_sql, tag)
        locked = await h.count(locked_sql, tag)
        assert (failures, locked) in ((0, 0), (1, 0), (1, 1)), (tag, failures, locked)
        if locked == 0:
            # The next failure is counted with the stored one, and locks.
            lockouts = h.backend.build_lockouts(config)
            assert await asyncio.wait_for(lockouts.record_failure(tag), WAIT)
            assert await h.count(failures_sql, tag) == failures + 1
            assert await h.count(locked_sql, tag) == 1

    await sweep(harness, "lockouts.record_failure", run, check)


async def test_escalations_enqueue(harness: Harness) -> None:
    # PostgreSQL: insert and NOTIFY in one transaction; SQLite ignores it.
    async def run(b: PersistenceBackend, tag: str) -> None:
        queue = b.build_escalations("cancel_test")
        await queue.enqueue(
            Escalation(
                id=tag,
                source="agent",
                title="t",
                severity=EscalationSeverity.HIGH,
                details={},
                created_at=T0,
            )
        )

    check = all_or_nothing('SELECT count(*) FROM "escalations" WHERE "id" = ?', 1)
    await sweep(harness, "escalations.enqueue", run, check)


async def test_ontology_publish(harness: Harness) -> None:
    async def run(b: PersistenceBackend, tag: str) -> None:
        service = b.build_ontology_versioning()
        await service.publish(
            OntologyDocument(ontology_id=tag, concepts=(), relations=(), notes="n"),
            "alice",
        )

    check = all_or_nothing(
        'SELECT count(*) FROM "ontology_versions" WHERE "entity_id" = ?', 1
    )
    await sweep(harness, "ontology.publish", run, check)


async def test_transaction_with_two_calls(harness: Harness) -> None:
    async def run(b: PersistenceBackend, tag: str) -> None:
        async with b.transaction():
            await b.tasks.save(task(tag))
            await b.settings.save(setting(tag, "k"))

    await sweep(harness, "transaction", run, together(1))


async def test_transaction_cancelled_twice(harness: Harness) -> None:
    """A second cancel, one loop step after the first, lands in the rollback."""

    async def run(b: PersistenceBackend, tag: str) -> None:
        async with b.transaction():
            await b.tasks.save(task(tag))
            await b.settings.save(setting(tag, "k"))

    await sweep(harness, "transaction cancelled twice", run, together(1), again=1)


async def test_nested_transaction(harness: Harness) -> None:
    async def run(b: PersistenceBackend, tag: str) -> None:
        async with b.transaction():
            await b.tasks.save(task(tag))
            async with b.transaction():  # a savepoint
                await b.settings.save(setting(tag, "k"))
            await b.settings.save(setting(tag, "k2"))

    await sweep(harness, "nested transaction", run, together(2))


def together(settings: int) -> Check:
    async def check(h: Harness, tag: str) -> None:
        tasks = await h.count('SELECT count(*) FROM "tasks" WHERE "id" = ?', tag)
        rows = await h.count(
            'SELECT count(*) FROM "settings" WHERE "namespace" = ?', tag
        )
        assert (tasks, rows) in ((0, 0), (1, settings)), (tag, tasks, rows)

    return check


async def test_write_context(harness: Harness) -> None:
    """A lock, not a transaction: a cancelled block may keep its first call,
    but never leaves the lock held or the connection in a transaction."""

    async def run(b: PersistenceBackend, tag: str) -> None:
        async with b.write_context():
            await b.tasks.save(task(tag))
            await b.settings.save(setting(tag, "k"))

    async def check(h: Harness, tag: str) -> None:
        tasks = await h.count('SELECT count(*) FROM "tasks" WHERE "id" = ?', tag)
        rows = await h.count(
            'SELECT count(*) FROM "settings" WHERE "namespace" = ?', tag
        )
        assert (tasks, rows) in ((0, 0), (1, 0), (1, 1)), (tag, tasks, rows)

    await sweep(harness, "write_context", run, check)


async def test_migrate_on_a_fresh_database(empty_harness: Harness) -> None:
    """Each cancelled migrate() leaves whole revisions only; the next one
    (cancelled later, and finally one that completes) carries on from there."""

    async def run(b: PersistenceBackend, tag: str) -> None:
        await b.migrate()

    async def check(h: Harness, tag: str) -> None:
        # A half-applied revision would make the next migrate() fail
        # ("table already exists"); recorded revisions are whole.
        return None

    harness = empty_harness
    # Migrations run many statements: widen the stride as N grows.
    await sweep(
        harness,
        "migrate",
        run,
        check,
        stride=lambda n: max(1, n // 4),
        verify_each=False,
        max_steps=STEP_LIMIT // 2,
        max_delay=0.2,
    )
    await harness.backend.migrate()
    await harness.next_write("after-migrate")
    await harness.assert_clean("after migrate")


# ---------------------------------------------------------------------------
# SQLite in memory: the reader is the writer
# ---------------------------------------------------------------------------


async def test_sqlite_in_memory() -> None:
    backend = create_backend(
        PersistenceConfig(backend="sqlite", sqlite=SQLiteConfig(path=":memory:"))
    )
    await backend.connect()
    await backend.migrate()
    try:
        db = backend.get_db()
        n = 0
        while True:
            tag = f"mem-{n}"
            batch = [task(f"{tag}/{i}") for i in range(5)]
            done = await cancel_after(backend.tasks.save_many(batch), n, 0.0)
            assert not db.in_transaction, tag
            stored = len(await backend.tasks.list_items(limit=10_000))
            await backend.tasks.save(task(f"marker-{tag}"))
            assert await backend.tasks.get(f"marker-{tag}") is not None
            listed = {t.id for t in await backend.tasks.list_items(limit=10_000)}
            assert len(listed) == stored + 1
            found = sum(1 for t in listed if t.startswith(f"{tag}/"))
            assert found in (0, 5), (tag, found)
            if done:
                break
            n += 1
            assert n < STEP_LIMIT
        # Everything still commits: a second connection is not possible in
        # memory, so roll back nothing and read through the same connection.
        assert not db.in_transaction
    finally:
        await backend.disconnect()
