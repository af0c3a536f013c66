"""Backend lifecycle tests, run on SQLite and a real PostgreSQL.

Covers what every ``PersistenceBackend`` promises around its connection:
identity, accessor gating before/after ``connect``/``disconnect``, idempotent
connect/disconnect, reconnecting to the same data, ``health_check``,
idempotent and concurrent ``migrate``, failed and tampered migrations, the
``_system`` settings helpers, ``write_context`` (serialisation and
re-entrancy on SQLite), connection failures and keeping the PostgreSQL
password out of reprs, messages and logs.

Raw SQL goes through ``get_db()``: the shared ``aiosqlite.Connection`` on
SQLite, the ``AsyncConnectionPool`` on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import sqlite3
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import SecretStr

from synthorg.persistence import (
    MigrationError,
    PersistenceBackend,
    PersistenceConfig,
    PersistenceConnectionError,
    PersistenceError,
    PostgresConfig,
    SchemaVersionError,
    SQLiteConfig,
    Task,
    TaskType,
    create_backend,
)
from synthorg.persistence import migrations as migrations_module
from synthorg.persistence.migrations import MIGRATIONS_TABLE, Revision
from tests.support.pgserver import PgServer

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def make_task(task_id: str = "task-1", **overrides: Any) -> Task:
    """A valid task; ``overrides`` replace fields."""
    fields: dict[str, Any] = {
        "id": task_id,
        "title": f"Title of {task_id}",
        "type": TaskType.DEVELOPMENT,
        "project": "apollo",
        "created_by": "alice",
    }
    fields.update(overrides)
    return Task(**fields)


async def raw_fetch(backend: PersistenceBackend, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` through the backend's raw connection / pool."""
    db = backend.get_db()
    if backend.kind == "sqlite":
        return [tuple(row) for row in await db.execute_fetchall(sql)]
    async with db.connection() as conn:
        cur = await conn.execute(sql)
        return [tuple(row) for row in await cur.fetchall()]


async def raw_execute(backend: PersistenceBackend, sql: str) -> None:
    """Run one non-query statement (autocommit) through the raw connection."""
    db = backend.get_db()
    if backend.kind == "sqlite":
        async with backend.write_context():
            await db.execute_fetchall(sql)
        return
    async with db.connection() as conn:
        await conn.execute(sql)


async def table_names(backend: PersistenceBackend) -> set[str]:
    """Names of the user tables of the backend's database."""
    if backend.kind == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    return {str(row[0]) for row in await raw_fetch(backend, sql)}


async def migration_rows(backend: PersistenceBackend) -> list[tuple[Any, ...]]:
    """``(revision, checksum, applied_at)`` rows, ordered by revision."""
    return await raw_fetch(
        backend,
        f'SELECT revision, checksum, applied_at FROM "{MIGRATIONS_TABLE}" '
        "ORDER BY revision",
    )


def real_revisions(kind: str) -> tuple[Revision, ...]:
    """The generated revisions of ``kind`` (never the monkeypatched loader)."""
    assert kind in ("sqlite", "postgres")
    dialect: Literal["sqlite", "postgres"] = (
        "sqlite" if kind == "sqlite" else "postgres"
    )
    return migrations_module.load_revisions(dialect)


def patch_revisions(
    monkeypatch: pytest.MonkeyPatch,
    backend: PersistenceBackend,
    extra: tuple[Revision, ...],
) -> None:
    """Make ``backend.migrate()`` see the real revisions plus ``extra``.

    Both backend modules import ``load_revisions`` by name, so the name in
    the backend's own module is the one to replace.
    """
    real = migrations_module.load_revisions
    module = sys.modules[type(backend).__module__]
    assert module.load_revisions is real

    def fake(dialect: Literal["sqlite", "postgres"]) -> tuple[Revision, ...]:
        return (*real(dialect), *extra)

    monkeypatch.setattr(module, "load_revisions", fake)


async def assert_gated(
    backend: PersistenceBackend,
    *,
    match: str,
    error: type[PersistenceError] = MigrationError,
) -> None:
    """Every accessor raises ``error``: MigrationError (not retryable) after a
    failed migrate(), PersistenceConnectionError (retryable) before connect.
    """
    accessors: list[Callable[[], object]] = [
        lambda: backend.tasks,
        lambda: backend.settings,
    ]
    for accessor in accessors:
        with pytest.raises(error, match=match) as info:
            accessor()
        assert info.value.is_retryable is (error is PersistenceConnectionError)
    with pytest.raises(error, match=match):
        await backend.get_setting("anything")
    with pytest.raises(error, match=match):
        await backend.set_setting("anything", "value")


async def assert_schema_gated(
    backend: PersistenceBackend,
    *,
    pending: tuple[str, ...] = (),
    unknown: tuple[str, ...] = (),
    mismatched: tuple[str, ...] = (),
) -> None:
    """Every accessor raises a non-retryable SchemaVersionError naming these."""
    calls: list[Callable[[], object]] = [
        lambda: backend.tasks,
        lambda: backend.settings,
    ]
    for call in calls:
        with pytest.raises(SchemaVersionError) as raised:
            call()
        error = raised.value
        assert isinstance(error, MigrationError)
        assert error.is_retryable is False
        assert (error.pending, error.unknown, error.mismatched) == (
            pending,
            unknown,
            mismatched,
        )
        for name in (*pending, *unknown, *mismatched):
            assert name in str(error)
    for setting in (
        backend.get_setting("anything"),
        backend.set_setting("anything", "value"),
    ):
        with pytest.raises(SchemaVersionError):
            await setting


def free_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def pg_config(
    server: PgServer, database: str, password: str, **overrides: Any
) -> PersistenceConfig:
    """A PostgreSQL config for ``database`` on ``server`` with ``password``."""
    fields: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "database": database,
        "username": server.user,
        "password": SecretStr(password),
        "pool_min_size": 1,
        "pool_max_size": 4,
    }
    fields.update(overrides)
    return PersistenceConfig(backend="postgres", postgres=PostgresConfig(**fields))


def exception_texts(exc: BaseException) -> list[str]:
    """str/repr of ``exc`` and of every exception chained to it, plus traceback."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.extend([str(current), repr(current)])
        current = current.__cause__ or current.__context__
    texts.append("".join(traceback.format_exception(exc)))
    return texts


@pytest.fixture
async def sqlite_backend(tmp_path: Path) -> AsyncIterator[PersistenceBackend]:
    """A connected, migrated SQLite backend on a fresh file (SQLite-only tests)."""
    instance = create_backend(
        PersistenceConfig(
            backend="sqlite", sqlite=SQLiteConfig(path=str(tmp_path / "wc.db"))
        )
    )
    await instance.connect()
    await instance.migrate()
    await raw_execute(
        instance,
        "CREATE TABLE wc_log "
        "(seq INTEGER PRIMARY KEY AUTOINCREMENT, writer TEXT NOT NULL)",
    )
    try:
        yield instance
    finally:
        await instance.disconnect()


# ---------------------------------------------------------------------------
# Identity
# ---------------------------------------------------------------------------


async def test_kind_and_backend_name_match_the_config(
    backend_config: PersistenceConfig,
) -> None:
    instance = create_backend(backend_config)
    assert instance.kind == backend_config.backend
    assert instance.backend_name == backend_config.backend
    assert instance.backend_name.strip()


# ---------------------------------------------------------------------------
# Before connect / connect / disconnect
# ---------------------------------------------------------------------------


async def test_everything_is_gated_before_connect(
    backend_config: PersistenceConfig,
) -> None:
    instance = create_backend(backend_config)
    assert instance.is_connected is False
    await assert_gated(
        instance, match="not connected", error=PersistenceConnectionError
    )
    with pytest.raises(PersistenceConnectionError, match="not connected"):
        instance.get_db()
    assert await instance.health_check() is False


async def test_migrate_before_connect_raises_connection_error(
    backend_config: PersistenceConfig,
) -> None:
    instance = create_backend(backend_config)
    with pytest.raises(PersistenceConnectionError):
        await instance.migrate()
    assert instance.is_connected is False


async def test_disconnect_before_connect_is_a_no_op(
    backend_config: PersistenceConfig,
) -> None:
    instance = create_backend(backend_config)
    await instance.disconnect()
    await instance.disconnect()
    assert instance.is_connected is False


async def test_connect_twice_keeps_the_same_connection(
    backend_config: PersistenceConfig,
) -> None:
    instance = create_backend(backend_config)
    await instance.connect()
    try:
        first = instance.get_db()
        await instance.connect()
        assert instance.get_db() is first
        assert instance.is_connected is True
        assert await instance.health_check() is True
    finally:
        await instance.disconnect()


async def test_disconnect_twice_is_safe_and_gates_again(
    backend_config: PersistenceConfig,
) -> None:
    instance = create_backend(backend_config)
    await instance.connect()
    await instance.migrate()
    await instance.tasks.save(make_task())
    await instance.disconnect()
    await instance.disconnect()
    assert instance.is_connected is False
    assert await instance.health_check() is False
    await assert_gated(
        instance, match="not connected", error=PersistenceConnectionError
    )
    with pytest.raises(PersistenceConnectionError):
        instance.get_db()
    with pytest.raises(PersistenceConnectionError):
        await instance.migrate()


async def test_reconnect_same_instance_sees_the_stored_data(
    backend_config: PersistenceConfig,
) -> None:
    instance = create_backend(backend_config)
    await instance.connect()
    await instance.migrate()
    task = make_task("persisted", budget_limit=12.5)
    await instance.tasks.save(task)
    await instance.set_setting("greeting", "hello")
    await instance.disconnect()

    await instance.connect()
    try:
        assert instance.is_connected is True
        assert await instance.health_check() is True
        assert await instance.tasks.get("persisted") == task
        assert await instance.get_setting("greeting") == "hello"
    finally:
        await instance.disconnect()


async def test_new_instance_on_same_database_sees_the_stored_data(
    backend_config: PersistenceConfig,
) -> None:
    writer = create_backend(backend_config)
    await writer.connect()
    await writer.migrate()
    task = make_task("shared")
    await writer.tasks.save(task)
    await writer.disconnect()

    reader = create_backend(backend_config)
    await reader.connect()
    try:
        await reader.migrate()  # already up to date: nothing to apply
        assert await reader.tasks.get("shared") == task
    finally:
        await reader.disconnect()


async def test_concurrent_connect_calls_open_one_connection(
    backend_config: PersistenceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Overlapping ``connect()`` calls must open (and keep) one connection set.

    Counts the driver-level opens: ``aiosqlite.connect`` on SQLite, pool
    construction on PostgreSQL. A second open would be a leaked connection
    (or pool) that ``disconnect()`` never closes.
    """
    instance = create_backend(backend_config)
    module = sys.modules[type(instance).__module__]
    owner: Any = module.aiosqlite if instance.kind == "sqlite" else module
    name = "connect" if instance.kind == "sqlite" else "SynthorgPool"
    original = getattr(owner, name)
    opened: list[object] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        opened.append(result)
        return result

    monkeypatch.setattr(owner, name, counting)
    await asyncio.gather(instance.connect(), instance.connect(), instance.connect())
    try:
        assert instance.is_connected is True
        assert await instance.health_check() is True
        # SQLite file databases open a writer and a WAL reader; one set only.
        assert len(opened) == (2 if instance.kind == "sqlite" else 1)
    finally:
        await instance.disconnect()
    assert instance.is_connected is False


async def test_health_check_true_when_connected(backend: PersistenceBackend) -> None:
    # The protocol is checked statically (mypy, see the backends' modules);
    # here: every member it declares exists on the concrete class.
    members = [n for n in dir(PersistenceBackend) if not n.startswith("_")]
    assert members
    assert [n for n in members if not hasattr(type(backend), n)] == []
    assert backend.is_connected is True
    assert await backend.health_check() is True


# ---------------------------------------------------------------------------
# Migrations
# ---------------------------------------------------------------------------


async def test_migrate_records_every_revision(backend: PersistenceBackend) -> None:
    revisions = real_revisions(backend.kind)
    rows = await migration_rows(backend)
    assert [(r[0], r[1]) for r in rows] == [(r.name, r.checksum) for r in revisions]
    assert {"tasks", "settings", MIGRATIONS_TABLE} <= await table_names(backend)


async def test_migrate_twice_is_a_no_op(backend: PersistenceBackend) -> None:
    before = await migration_rows(backend)
    await backend.migrate()
    await backend.migrate()
    after = await migration_rows(backend)
    assert len(before) == len(real_revisions(backend.kind)) > 0
    # Same rows, including applied_at: nothing was re-applied or re-recorded.
    assert after == before
    await backend.tasks.save(make_task())
    assert await backend.tasks.get("task-1") is not None


async def test_failed_migration_leaves_previous_revision_and_gates_accessors(
    backend_config: PersistenceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = create_backend(backend_config)
    await instance.connect()
    try:
        good = real_revisions(instance.kind)
        bogus = Revision(
            name="9000_bogus",
            sql=(
                "CREATE TABLE bogus_partial (x INTEGER);\n"
                "THIS IS NOT VALID SQL AT ALL;\n"
            ),
        )
        patch_revisions(monkeypatch, instance, (bogus,))

        with pytest.raises(MigrationError):
            await instance.migrate()

        # The good revisions were committed, the bogus one entirely rolled back.
        rows = await migration_rows(instance)
        assert [r[0] for r in rows] == [r.name for r in good]
        tables = await table_names(instance)
        assert {"tasks", "settings"} <= tables
        assert "bogus_partial" not in tables

        # Still connected, but the repositories are withdrawn with the reason.
        assert instance.is_connected is True
        await assert_gated(instance, match="migrate")

        # Retrying with the bogus revision still fails and stays gated.
        with pytest.raises(MigrationError):
            await instance.migrate()
        await assert_gated(instance, match="migrate")

        # With the real revisions restored a migrate succeeds and ungates.
        monkeypatch.undo()
        await instance.migrate()
        await instance.tasks.save(make_task("after-recovery"))
        assert await instance.tasks.get("after-recovery") is not None
        assert await instance.get_setting("missing") is None
        rows = await migration_rows(instance)
        assert [r[0] for r in rows] == [r.name for r in good]
    finally:
        await instance.disconnect()


async def test_failed_migration_on_migrated_database_keeps_data(
    backend: PersistenceBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    await backend.tasks.save(make_task("kept"))
    before = await migration_rows(backend)
    patch_revisions(
        monkeypatch,
        backend,
        (Revision(name="9000_bogus", sql="ALTER TABLE no_such_table ADD x INT;\n"),),
    )
    with pytest.raises(MigrationError):
        await backend.migrate()
    await assert_gated(backend, match="migrate")
    assert await migration_rows(backend) == before
    monkeypatch.undo()
    await backend.migrate()
    assert await backend.tasks.get("kept") is not None


async def test_changed_checksum_of_applied_revision_is_refused(
    backend: PersistenceBackend,
) -> None:
    first = real_revisions(backend.kind)[0].name
    await raw_execute(
        backend,
        f"UPDATE \"{MIGRATIONS_TABLE}\" SET checksum = 'tampered' "
        f"WHERE revision = '{first}'",
    )
    with pytest.raises(MigrationError, match="checksum"):
        await backend.migrate()
    # Refused for the edited revision, named, not retryable (it stays edited).
    await assert_schema_gated(backend, mismatched=(first,))
    # The tampered record is left for an operator to inspect, not "repaired".
    rows = await migration_rows(backend)
    assert (first, "tampered") in [(r[0], r[1]) for r in rows]


async def test_unknown_recorded_revision_is_refused(
    backend: PersistenceBackend,
) -> None:
    await raw_execute(
        backend,
        f"INSERT INTO \"{MIGRATIONS_TABLE}\" VALUES ('9999_future', 'x', 'now')",
    )
    with pytest.raises(MigrationError, match="9999_future"):
        await backend.migrate()
    # Refused for the unknown revision, named, not retryable.
    await assert_schema_gated(backend, unknown=("9999_future",))


async def test_concurrent_migrate_from_two_instances_applies_each_revision_once(
    backend_config: PersistenceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = create_backend(backend_config)
    second = create_backend(backend_config)
    await first.connect()
    await second.connect()
    try:
        # Extra revisions without IF NOT EXISTS: applying one twice would fail.
        extra = (
            Revision(name="0900_extra_a", sql="CREATE TABLE extra_a (x INTEGER);\n"),
            Revision(name="0901_extra_b", sql="CREATE TABLE extra_b (x INTEGER);\n"),
        )
        patch_revisions(monkeypatch, first, extra)
        expected = [r.name for r in (*real_revisions(first.kind), *extra)]

        results = await asyncio.wait_for(
            asyncio.gather(first.migrate(), second.migrate(), return_exceptions=True),
            timeout=60,
        )
        assert list(results) == [None, None]

        counts = await raw_fetch(
            first,
            f'SELECT revision, COUNT(*) FROM "{MIGRATIONS_TABLE}" '
            "GROUP BY revision ORDER BY revision",
        )
        assert [(str(r[0]), int(r[1])) for r in counts] == [(n, 1) for n in expected]
        assert {"extra_a", "extra_b"} <= await table_names(first)
        for instance in (first, second):
            await instance.tasks.save(make_task(f"by-{id(instance)}"))
        assert len(await first.tasks.list_items()) == 2
    finally:
        await first.disconnect()
        await second.disconnect()


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


async def test_get_setting_missing_key_returns_none(
    backend: PersistenceBackend,
) -> None:
    assert await backend.get_setting("does-not-exist") is None


async def test_set_setting_upserts_in_system_namespace(
    backend: PersistenceBackend,
) -> None:
    await backend.set_setting("theme", "dark")
    assert await backend.get_setting("theme") == "dark"
    await backend.set_setting("theme", "light")
    assert await backend.get_setting("theme") == "light"

    row = await backend.settings.get(("_system", "theme"))
    assert row is not None
    assert (row.namespace, row.key, row.value) == ("_system", "theme", "light")
    # Upsert: still exactly one row for the key.
    rows = [r for r in await backend.settings.list_items() if r.key == "theme"]
    assert len(rows) == 1
    # Other namespaces are not the _system namespace.
    assert await backend.settings.get(("other", "theme")) is None


async def test_set_setting_accepts_empty_value(backend: PersistenceBackend) -> None:
    await backend.set_setting("blank", "")
    assert await backend.get_setting("blank") == ""


# ---------------------------------------------------------------------------
# write_context
# ---------------------------------------------------------------------------


async def test_write_context_returns_a_fresh_context_manager_per_call(
    backend: PersistenceBackend,
) -> None:
    first = backend.write_context()
    second = backend.write_context()
    assert first is not second
    async with first:
        await backend.tasks.save(make_task("in-first"))
    async with second:
        await backend.tasks.save(make_task("in-second"))
    # A third, nested in the same task, must not deadlock on either backend.
    async with backend.write_context():
        await asyncio.wait_for(_nested_write(backend), timeout=5)
    ids = [t.id for t in await backend.tasks.list_items()]
    assert ids == ["in-first", "in-nested", "in-second"]


async def _nested_write(backend: PersistenceBackend) -> None:
    async with backend.write_context():
        await backend.tasks.save(make_task("in-nested"))


async def test_sqlite_write_context_serialises_transactions(
    sqlite_backend: PersistenceBackend,
) -> None:
    db = sqlite_backend.get_db()
    errors: list[BaseException] = []

    async def writer(name: str) -> None:
        try:
            async with sqlite_backend.write_context():
                await db.execute_fetchall("BEGIN")
                await db.execute_fetchall(
                    "INSERT INTO wc_log (writer) VALUES (?)", (name,)
                )
                await asyncio.sleep(0.05)
                await db.execute_fetchall(
                    "INSERT INTO wc_log (writer) VALUES (?)", (name,)
                )
                await db.execute_fetchall("COMMIT")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
            raise

    await asyncio.wait_for(
        asyncio.gather(writer("a"), writer("b"), writer("c")), timeout=10
    )
    assert errors == []
    rows = [
        r[0]
        for r in await raw_fetch(
            sqlite_backend, "SELECT writer FROM wc_log ORDER BY seq"
        )
    ]
    assert len(rows) == 6
    # Each writer's two rows are adjacent: the transactions never interleaved.
    assert rows[0::2] == rows[1::2]
    assert sorted(rows[0::2]) == ["a", "b", "c"]


async def test_sqlite_transactions_interleave_without_write_context(
    sqlite_backend: PersistenceBackend,
) -> None:
    """Control for the test above: the shared connection really needs the lock."""
    db = sqlite_backend.get_db()

    async def writer(name: str) -> None:
        await db.execute_fetchall("BEGIN")
        try:
            await db.execute_fetchall("INSERT INTO wc_log (writer) VALUES (?)", (name,))
            await asyncio.sleep(0.05)
            await db.execute_fetchall("INSERT INTO wc_log (writer) VALUES (?)", (name,))
            await db.execute_fetchall("COMMIT")
        except sqlite3.Error:
            if db.in_transaction:
                await db.execute_fetchall("ROLLBACK")
            raise

    results = await asyncio.gather(writer("a"), writer("b"), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures, "expected the unguarded transactions to collide"
    assert any("within a transaction" in str(f) for f in failures)
    assert not db.in_transaction


async def test_sqlite_repository_write_inside_write_context_joins_and_rolls_back(
    sqlite_backend: PersistenceBackend,
) -> None:
    db = sqlite_backend.get_db()
    task = make_task("rolled-back")
    async with sqlite_backend.write_context():
        await db.execute_fetchall("BEGIN")
        try:
            # Re-entrant lock: the repository write joins this transaction.
            await asyncio.wait_for(sqlite_backend.tasks.save(task), timeout=5)
            await db.execute_fetchall("INSERT INTO wc_log (writer) VALUES ('tx')")
            assert await sqlite_backend.tasks.get("rolled-back") == task
        finally:
            await db.execute_fetchall("ROLLBACK")
    assert await sqlite_backend.tasks.get("rolled-back") is None
    assert await raw_fetch(sqlite_backend, "SELECT * FROM wc_log") == []


async def test_sqlite_repository_write_inside_write_context_commits(
    sqlite_backend: PersistenceBackend,
) -> None:
    db = sqlite_backend.get_db()
    async with sqlite_backend.write_context():
        await db.execute_fetchall("BEGIN")
        await asyncio.wait_for(
            sqlite_backend.tasks.save(make_task("committed")), timeout=5
        )
        await asyncio.wait_for(sqlite_backend.set_setting("in-tx", "yes"), timeout=5)
        await db.execute_fetchall("COMMIT")
    assert await sqlite_backend.tasks.get("committed") is not None
    assert await sqlite_backend.get_setting("in-tx") == "yes"


async def test_sqlite_other_task_write_waits_for_open_write_context(
    sqlite_backend: PersistenceBackend,
) -> None:
    """Another task's repository write must not land in (and roll back with)
    a transaction it does not own."""
    db = sqlite_backend.get_db()
    in_transaction = asyncio.Event()
    order: list[str] = []

    async def holder() -> None:
        async with sqlite_backend.write_context():
            await db.execute_fetchall("BEGIN")
            await db.execute_fetchall("INSERT INTO wc_log (writer) VALUES ('holder')")
            in_transaction.set()
            await asyncio.sleep(0.1)
            await db.execute_fetchall("ROLLBACK")
            order.append("holder-rolled-back")

    async def other() -> None:
        await in_transaction.wait()
        await sqlite_backend.tasks.save(make_task("outsider"))
        order.append("outsider-saved")

    await asyncio.wait_for(asyncio.gather(holder(), other()), timeout=10)
    assert order == ["holder-rolled-back", "outsider-saved"]
    assert await sqlite_backend.tasks.get("outsider") is not None
    assert await raw_fetch(sqlite_backend, "SELECT * FROM wc_log") == []


# ---------------------------------------------------------------------------
# Connection failures
# ---------------------------------------------------------------------------


async def test_sqlite_connect_in_missing_directory_raises(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "db.sqlite"
    instance = create_backend(
        PersistenceConfig(backend="sqlite", sqlite=SQLiteConfig(path=str(path)))
    )
    with pytest.raises(PersistenceConnectionError):
        await instance.connect()
    assert instance.is_connected is False
    assert not path.parent.exists()
    with pytest.raises(PersistenceConnectionError):
        instance.get_db()


async def test_postgres_wrong_password_raises_without_leaking_it(
    pg_server: PgServer, pg_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = f"wrong-{secrets.token_hex(8)}"
    config = pg_config(
        pg_server,
        pg_database,
        wrong,
        connect_timeout_seconds=1.0,
        pool_timeout_seconds=1.0,
    )
    instance = create_backend(config)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PersistenceConnectionError) as info:
        await instance.connect()
    assert instance.is_connected is False
    assert pg_database in str(info.value)
    for text in exception_texts(info.value):
        assert wrong not in text
        assert pg_server.password not in text
    assert wrong not in caplog.text
    with pytest.raises(PersistenceConnectionError):
        instance.get_db()


async def test_postgres_connect_to_closed_port_raises(pg_database: str) -> None:
    config = PersistenceConfig(
        backend="postgres",
        postgres=PostgresConfig(
            host="127.0.0.1",
            port=free_port(),
            database=pg_database,
            username="nobody",
            password=SecretStr("irrelevant-secret"),
            connect_timeout_seconds=1.0,
        ),
    )
    instance = create_backend(config)
    with pytest.raises(PersistenceConnectionError) as info:
        await instance.connect()
    assert "irrelevant-secret" not in str(info.value)
    assert instance.is_connected is False


# ---------------------------------------------------------------------------
# Secrets in repr, str and logs
# ---------------------------------------------------------------------------


async def test_postgres_password_never_in_repr_or_str(
    pg_server: PgServer, pg_database: str
) -> None:
    config = pg_config(pg_server, pg_database, pg_server.password)
    instance = create_backend(config)
    untyped: Any = instance  # ``config`` is backend-specific, not on the protocol
    backend_settings = untyped.config
    assert isinstance(backend_settings, PostgresConfig)
    # The password is really carried, just not shown.
    assert backend_settings.password.get_secret_value() == pg_server.password
    texts = [
        repr(config),
        str(config),
        repr(config.postgres),
        str(config.postgres),
        repr(backend_settings),
        str(backend_settings),
        config.model_dump_json(),
        str(config.model_dump()),
    ]
    for text in texts:
        assert pg_server.password not in text
    assert "**" in repr(backend_settings)


async def test_connect_and_migrate_logs_never_contain_the_password(
    pg_server: PgServer, pg_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = pg_config(pg_server, pg_database, pg_server.password)
    instance = create_backend(config)
    await instance.connect()
    try:
        await instance.migrate()
        await instance.tasks.save(make_task())
        await instance.set_setting("k", "v")
    finally:
        await instance.disconnect()
    # The check is not vacuous: the lifecycle was logged.
    assert "postgres backend connected" in caplog.text
    assert "migrations applied" in caplog.text
    assert pg_server.password not in caplog.text
    for record in caplog.records:
        assert pg_server.password not in record.getMessage()
        assert pg_server.password not in repr(record.args)
