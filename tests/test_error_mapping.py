"""Driver-error mapping tests, with real exceptions from real databases.

Unit tests feed :func:`map_sqlite_error` and :func:`map_postgres_error` the
exceptions sqlite3/aiosqlite and psycopg raise against real databases (an
in-memory SQLite, and a throwaway PostgreSQL from ``pg_server``), then
end-to-end tests check the same mapping through the generated repositories
on both backends: upserts, rows that no longer validate, and constraint
violations that must leave the table unchanged.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from synthorg.persistence import (
    ConstraintViolationError,
    DuplicateRecordError,
    InvalidValueError,
    MalformedRowError,
    PersistenceBackend,
    PersistenceConfig,
    PersistenceConnectionError,
    PersistenceError,
    QueryError,
    SQLiteConfig,
    Task,
    TaskFilterSpec,
    TaskStatus,
    TaskType,
    create_backend,
)
from synthorg.persistence.postgres.driver import map_postgres_error
from synthorg.persistence.sqlite.driver import map_sqlite_error
from tests.support.pgserver import PgServer

# ---------------------------------------------------------------------------
# SQLite: real sqlite3 / aiosqlite exceptions
# ---------------------------------------------------------------------------

SQLITE_SCHEMA = """
CREATE TABLE parent (id INTEGER PRIMARY KEY);
CREATE TABLE child (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    qty INTEGER NOT NULL CONSTRAINT ck_child_qty_positive CHECK (qty > 0),
    parent_id INTEGER NOT NULL REFERENCES parent (id)
);
INSERT INTO parent VALUES (1);
INSERT INTO child VALUES (1, 'a', 1, 1);
"""


@pytest.fixture
def sqlite_conn() -> Iterator[sqlite3.Connection]:
    """In-memory SQLite with PK, UNIQUE, named CHECK, NOT NULL and an FK."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.executescript(SQLITE_SCHEMA)
    try:
        yield conn
    finally:
        conn.close()


def sqlite_failure(conn: sqlite3.Connection, sql: str) -> sqlite3.Error:
    """The exception ``sql`` raises on ``conn`` (it must raise)."""
    with pytest.raises(sqlite3.Error) as info:
        conn.execute(sql)
    return info.value


def test_sqlite_primary_key_violation_is_duplicate(
    sqlite_conn: sqlite3.Connection,
) -> None:
    exc = sqlite_failure(sqlite_conn, "INSERT INTO child VALUES (1, 'b', 1, 1)")
    mapped = map_sqlite_error(exc, "child.insert")
    assert type(mapped) is DuplicateRecordError
    assert "child.insert" in str(mapped)
    assert mapped.is_retryable is False


def test_sqlite_unique_violation_is_a_named_constraint_violation(
    sqlite_conn: sqlite3.Connection,
) -> None:
    # The reference: ConstraintViolationError covers unique violations other
    # than the primary key. A table the generated schema does not declare is
    # named by the message's stable token (generated ones by their index).
    exc = sqlite_failure(sqlite_conn, "INSERT INTO child VALUES (2, 'a', 1, 1)")
    mapped = map_sqlite_error(exc, "child.insert")
    assert type(mapped) is ConstraintViolationError
    assert mapped.constraint == "child.code"
    assert mapped.is_retryable is False
    assert "child.insert" in str(mapped)


def test_sqlite_named_check_violation_carries_constraint_name(
    sqlite_conn: sqlite3.Connection,
) -> None:
    exc = sqlite_failure(sqlite_conn, "INSERT INTO child VALUES (2, 'b', 0, 1)")
    mapped = map_sqlite_error(exc, "child.insert")
    assert type(mapped) is ConstraintViolationError
    assert mapped.constraint == "ck_child_qty_positive"
    assert mapped.is_retryable is False


def test_sqlite_not_null_violation_is_constraint_violation(
    sqlite_conn: sqlite3.Connection,
) -> None:
    exc = sqlite_failure(sqlite_conn, "INSERT INTO child VALUES (2, NULL, 1, 1)")
    mapped = map_sqlite_error(exc, "child.insert")
    assert type(mapped) is ConstraintViolationError
    assert mapped.constraint == "child.code"


def test_sqlite_foreign_key_violation_is_constraint_violation(
    sqlite_conn: sqlite3.Connection,
) -> None:
    exc = sqlite_failure(sqlite_conn, "INSERT INTO child VALUES (2, 'b', 1, 99)")
    assert isinstance(exc, sqlite3.IntegrityError)
    mapped = map_sqlite_error(exc, "child.insert")
    assert type(mapped) is ConstraintViolationError
    assert mapped.constraint == "foreign_key"
    assert mapped.is_retryable is False


def test_sqlite_foreign_key_violation_on_delete_is_constraint_violation(
    sqlite_conn: sqlite3.Connection,
) -> None:
    exc = sqlite_failure(sqlite_conn, "DELETE FROM parent WHERE id = 1")
    mapped = map_sqlite_error(exc, "parent.delete")
    assert type(mapped) is ConstraintViolationError


def test_sqlite_closed_connection_is_connection_error() -> None:
    conn = sqlite3.connect(":memory:")
    conn.close()
    with pytest.raises(sqlite3.ProgrammingError) as info:
        conn.execute("SELECT 1")
    mapped = map_sqlite_error(info.value, "probe")
    assert type(mapped) is PersistenceConnectionError
    assert mapped.is_retryable is True


async def test_aiosqlite_closed_connection_is_connection_error() -> None:
    db = await aiosqlite.connect(":memory:")
    await db.close()
    with pytest.raises(ValueError) as info:
        await db.execute_fetchall("SELECT 1")
    mapped = map_sqlite_error(info.value, "probe")
    assert type(mapped) is PersistenceConnectionError


async def test_aiosqlite_no_active_connection_is_connection_error() -> None:
    """aiosqlite's other closed-connection message: ``no active connection``."""
    db = await aiosqlite.connect(":memory:")
    await db.close()
    with pytest.raises(ValueError, match="no active connection") as info:
        _ = db.in_transaction
    mapped = map_sqlite_error(info.value, "probe")
    assert type(mapped) is PersistenceConnectionError


def test_sqlite_cannot_open_is_connection_error(tmp_path: Path) -> None:
    with pytest.raises(sqlite3.OperationalError) as info:
        sqlite3.connect(str(tmp_path / "missing-dir" / "x.db"))
    mapped = map_sqlite_error(info.value, "connect")
    assert type(mapped) is PersistenceConnectionError


def test_sqlite_syntax_error_is_retryable_query_error(
    sqlite_conn: sqlite3.Connection,
) -> None:
    exc = sqlite_failure(sqlite_conn, "SELEKT * FROM child")
    mapped = map_sqlite_error(exc, "child.query")
    assert type(mapped) is QueryError
    assert mapped.is_retryable is True
    assert "child.query" in str(mapped)


def test_sqlite_unknown_table_is_query_error(
    sqlite_conn: sqlite3.Connection,
) -> None:
    exc = sqlite_failure(sqlite_conn, "SELECT * FROM no_such_table")
    assert type(map_sqlite_error(exc, "q")) is QueryError


# ---------------------------------------------------------------------------
# PostgreSQL: real psycopg exceptions
# ---------------------------------------------------------------------------

PG_SCHEMA = """
CREATE TABLE parent (id INTEGER CONSTRAINT pk_parent PRIMARY KEY);
CREATE TABLE child (
    id INTEGER CONSTRAINT pk_child PRIMARY KEY,
    code TEXT NOT NULL CONSTRAINT uq_child_code UNIQUE,
    qty INTEGER NOT NULL CONSTRAINT ck_child_qty_positive CHECK (qty > 0),
    parent_id INTEGER NOT NULL
        CONSTRAINT fk_child_parent REFERENCES parent (id)
);
INSERT INTO parent VALUES (1);
INSERT INTO child VALUES (1, 'a', 1, 1);
"""


@pytest.fixture
def pg_conn(pg_server: PgServer, pg_database: str) -> Iterator[psycopg.Connection[Any]]:
    """Autocommit psycopg connection to a fresh database with the test schema."""
    conn = psycopg.connect(pg_server.dsn(pg_database), autocommit=True)
    conn.execute(PG_SCHEMA)
    try:
        yield conn
    finally:
        conn.close()


def pg_failure(conn: psycopg.Connection[Any], sql: str) -> psycopg.Error:
    """The exception ``sql`` raises on ``conn`` (it must raise)."""
    with pytest.raises(psycopg.Error) as info:
        conn.execute(sql)
    return info.value


def free_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_pg_unique_violation_is_a_named_constraint_violation(
    pg_conn: psycopg.Connection[Any],
) -> None:
    exc = pg_failure(pg_conn, "INSERT INTO child VALUES (2, 'a', 1, 1)")
    assert isinstance(exc, pg_errors.UniqueViolation)
    mapped = map_postgres_error(exc, "child.insert")
    assert type(mapped) is ConstraintViolationError
    assert mapped.constraint == "uq_child_code"
    assert "uq_child_code" in str(mapped)
    assert "child.insert" in str(mapped)
    assert mapped.is_retryable is False


def test_pg_primary_key_violation_is_duplicate(
    pg_conn: psycopg.Connection[Any],
) -> None:
    exc = pg_failure(pg_conn, "INSERT INTO child VALUES (1, 'b', 1, 1)")
    mapped = map_postgres_error(exc, "child.insert")
    assert type(mapped) is DuplicateRecordError
    assert "pk_child" in str(mapped)


def test_pg_check_violation_carries_constraint_name(
    pg_conn: psycopg.Connection[Any],
) -> None:
    exc = pg_failure(pg_conn, "INSERT INTO child VALUES (2, 'b', 0, 1)")
    assert isinstance(exc, pg_errors.CheckViolation)
    mapped = map_postgres_error(exc, "child.insert")
    assert type(mapped) is ConstraintViolationError
    assert mapped.constraint == "ck_child_qty_positive"
    assert mapped.is_retryable is False


def test_pg_foreign_key_violation_carries_constraint_name(
    pg_conn: psycopg.Connection[Any],
) -> None:
    exc = pg_failure(pg_conn, "INSERT INTO child VALUES (2, 'b', 1, 99)")
    assert isinstance(exc, pg_errors.ForeignKeyViolation)
    mapped = map_postgres_error(exc, "child.insert")
    assert type(mapped) is ConstraintViolationError
    assert mapped.constraint == "fk_child_parent"


def test_pg_foreign_key_violation_on_delete_carries_constraint_name(
    pg_conn: psycopg.Connection[Any],
) -> None:
    exc = pg_failure(pg_conn, "DELETE FROM parent WHERE id = 1")
    mapped = map_postgres_error(exc, "parent.delete")
    assert type(mapped) is ConstraintViolationError
    assert mapped.constraint == "fk_child_parent"


def test_pg_not_null_violation_is_constraint_violation(
    pg_conn: psycopg.Connection[Any],
) -> None:
    exc = pg_failure(pg_conn, "INSERT INTO child VALUES (2, NULL, 1, 1)")
    assert isinstance(exc, pg_errors.NotNullViolation)
    mapped = map_postgres_error(exc, "child.insert")
    assert type(mapped) is ConstraintViolationError
    assert mapped.constraint  # never blank (PostgreSQL names no constraint)


def test_pg_connection_to_closed_port_is_connection_error(
    pg_server: PgServer,
) -> None:
    secret = "not-the-real-password"
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(
            host="127.0.0.1",
            port=free_port(),
            dbname="postgres",
            user=pg_server.user,
            password=secret,
            connect_timeout=2,
        )
    mapped = map_postgres_error(info.value, "connect")
    assert type(mapped) is PersistenceConnectionError
    assert mapped.is_retryable is True
    assert secret not in str(mapped)


def test_pg_closed_connection_is_connection_error(
    pg_server: PgServer, pg_database: str
) -> None:
    conn = psycopg.connect(pg_server.dsn(pg_database))
    conn.close()
    exc = pg_failure(conn, "SELECT 1")
    mapped = map_postgres_error(exc, "probe")
    assert type(mapped) is PersistenceConnectionError


def test_pg_statement_timeout_is_retryable(pg_conn: psycopg.Connection[Any]) -> None:
    pg_conn.execute("SET statement_timeout = 1")
    exc = pg_failure(pg_conn, "SELECT pg_sleep(1)")
    assert isinstance(exc, pg_errors.QueryCanceled)
    mapped = map_postgres_error(exc, "slow.query")
    assert isinstance(mapped, PersistenceError)
    assert mapped.is_retryable is True
    assert not isinstance(mapped, ConstraintViolationError | DuplicateRecordError)


def test_pg_syntax_error_is_query_error(pg_conn: psycopg.Connection[Any]) -> None:
    exc = pg_failure(pg_conn, "SELEKT 1")
    mapped = map_postgres_error(exc, "q")
    assert type(mapped) is QueryError


async def test_pg_pool_checkout_timeout_is_connection_error(
    pg_server: PgServer, pg_database: str
) -> None:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        pg_server.dsn(pg_database), min_size=1, max_size=1, timeout=0.2, open=False
    )
    await pool.open(wait=True)
    try:
        async with pool.connection():
            with pytest.raises(psycopg.Error) as info:
                async with pool.connection():
                    pass  # pragma: no cover - the checkout itself times out
    finally:
        await pool.close()
    mapped = map_postgres_error(info.value, "checkout")
    assert type(mapped) is PersistenceConnectionError
    assert mapped.is_retryable is True


# ---------------------------------------------------------------------------
# End to end through the repositories, on both backends
# ---------------------------------------------------------------------------

TASK_COLUMNS = tuple(Task.model_fields)


def make_task(task_id: str = "task-1", **overrides: Any) -> Task:
    """A valid task; ``overrides`` replace fields."""
    fields: dict[str, Any] = {
        "id": task_id,
        "title": f"Title of {task_id}",
        "type": TaskType.RESEARCH,
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


async def raw_execute(backend: PersistenceBackend, *statements: str) -> None:
    """Run statements in order (autocommit) on one raw connection."""
    db = backend.get_db()
    if backend.kind == "sqlite":
        async with backend.write_context():
            for sql in statements:
                await db.execute_fetchall(sql)
        return
    async with db.connection() as conn:
        for sql in statements:
            await conn.execute(sql)


async def corrupt_task(
    backend: PersistenceBackend,
    task_id: str,
    column: str,
    literal: str,
    constraint: str,
) -> None:
    """Store ``literal`` in ``column`` of a task, bypassing its CHECK constraint.

    SQLite ignores CHECKs for the one statement; PostgreSQL drops
    ``constraint`` (it has no such switch).
    """
    update = f"UPDATE tasks SET {column} = {literal} WHERE id = '{task_id}'"
    if backend.kind == "sqlite":
        await raw_execute(
            backend,
            "PRAGMA ignore_check_constraints = ON",
            update,
            "PRAGMA ignore_check_constraints = OFF",
        )
    else:
        await raw_execute(
            backend,
            f"ALTER TABLE tasks DROP CONSTRAINT {constraint}",
            update,
        )


def map_driver_error(backend: PersistenceBackend, exc: BaseException) -> Any:
    """Map a raw driver exception with the backend's own mapper."""
    if backend.kind == "sqlite":
        return map_sqlite_error(exc, "raw")
    return map_postgres_error(exc, "raw")


async def test_saving_a_task_twice_is_an_upsert(backend: PersistenceBackend) -> None:
    task = make_task()
    await backend.tasks.save(task)
    await backend.tasks.save(task)  # no DuplicateRecordError
    changed = task.model_copy(update={"title": "Renamed", "status": TaskStatus.BLOCKED})
    await backend.tasks.save(changed)
    assert await backend.tasks.get(task.id) == changed
    assert await backend.tasks.count(TaskFilterSpec()) == 1


async def test_row_with_invalid_enum_value_is_malformed(
    backend: PersistenceBackend,
) -> None:
    good = make_task("good")
    await backend.tasks.save(good)
    await backend.tasks.save(make_task("bad"))
    await corrupt_task(backend, "bad", "status", "'no_such_status'", "ck_tasks_status")

    with pytest.raises(MalformedRowError, match="bad") as info:
        await backend.tasks.get("bad")
    assert info.value.is_retryable is False
    assert isinstance(info.value.__cause__, ValidationError)
    with pytest.raises(MalformedRowError):
        await backend.tasks.list_items()
    with pytest.raises(MalformedRowError):
        await backend.tasks.query(TaskFilterSpec(project="apollo"))
    # Other rows still read fine, and counting does not decode rows.
    assert await backend.tasks.get("good") == good
    assert await backend.tasks.count(TaskFilterSpec()) == 2


async def test_row_with_wrong_json_shape_is_malformed(
    backend: PersistenceBackend,
) -> None:
    await backend.tasks.save(make_task("bad-json"))
    # An array where an object is required (valid JSON on both dialects).
    literal = "'[1, 2]'" if backend.kind == "sqlite" else "'[1, 2]'::jsonb"
    await corrupt_task(
        backend, "bad-json", "metadata", literal, "ck_tasks_metadata_format"
    )
    with pytest.raises(MalformedRowError, match="bad-json"):
        await backend.tasks.get("bad-json")


async def test_sqlite_row_with_undecodable_json_is_malformed(tmp_path: Path) -> None:
    """SQLite stores JSON as text, so it can hold text that is not JSON at all.

    (PostgreSQL JSONB cannot; its wrong-shape case is the test above.)
    """
    instance = create_backend(
        PersistenceConfig(
            backend="sqlite", sqlite=SQLiteConfig(path=str(tmp_path / "json.db"))
        )
    )
    await instance.connect()
    try:
        await instance.migrate()
        await instance.tasks.save(make_task("broken-json"))
        await corrupt_task(
            instance,
            "broken-json",
            "reviewers",
            "'[not json'",
            "ck_tasks_reviewers_format",
        )
        with pytest.raises(MalformedRowError, match="broken-json") as info:
            await instance.tasks.get("broken-json")
        assert isinstance(info.value.__cause__, ValueError)
    finally:
        await instance.disconnect()


async def test_constraint_violation_through_repository_leaves_table_unchanged(
    backend: PersistenceBackend,
) -> None:
    original = make_task("budgeted", budget_limit=5.0)
    await backend.tasks.save(original)
    # model_copy skips validation; the repository re-validates such an entity
    # and refuses the bad value before the database sees it, naming the field.
    bad_update = original.model_copy(update={"budget_limit": -1.0})
    bad_insert = make_task("new").model_copy(update={"budget_limit": -1.0})

    for bad in (bad_update, bad_insert):
        with pytest.raises(InvalidValueError) as info:
            await backend.tasks.save(bad)
        assert isinstance(info.value, ConstraintViolationError)
        assert info.value.constraint == "tasks.budget_limit"
        assert info.value.is_retryable is False

    assert await backend.tasks.get("budgeted") == original
    assert await backend.tasks.get("new") is None
    assert await backend.tasks.count(TaskFilterSpec()) == 1


async def test_raw_sql_constraint_violation_maps_to_named_error(
    backend: PersistenceBackend,
) -> None:
    await backend.tasks.save(make_task("source"))
    columns = ", ".join(f'"{c}"' for c in TASK_COLUMNS)
    values = ", ".join(
        "'copy'" if c == "id" else "-1" if c == "budget_limit" else f'"{c}"'
        for c in TASK_COLUMNS
    )
    insert = (
        f"INSERT INTO tasks ({columns}) SELECT {values} FROM tasks WHERE id = 'source'"
    )
    driver_errors = (sqlite3.Error, ValueError, psycopg.Error)
    with pytest.raises(driver_errors) as info:
        await raw_execute(backend, insert)
    mapped = map_driver_error(backend, info.value)
    assert type(mapped) is ConstraintViolationError
    assert mapped.constraint == "ck_tasks_budget_limit_ge"
    assert await backend.tasks.get("copy") is None
    assert await backend.tasks.count(TaskFilterSpec()) == 1
    rows = await raw_fetch(backend, "SELECT id FROM tasks")
    assert rows == [("source",)]


async def test_invalid_model_is_refused_before_any_sql(
    backend: PersistenceBackend,
) -> None:
    await backend.tasks.save(make_task("existing"))
    with pytest.raises(ValidationError):
        make_task("negative", budget_limit=-1.0)
    with pytest.raises(ValidationError):
        make_task("bad-status", status="no_such_status")
    assert await backend.tasks.count(TaskFilterSpec()) == 1
    assert [t.id for t in await backend.tasks.list_items()] == ["existing"]
