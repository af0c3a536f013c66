"""``is_retryable`` on every error path: deterministic failures are final.

A caller's retry loop branches on ``error.is_retryable``. A refused argument
or value, a duplicate, a constraint, a conflicting version or a malformed
row fails again however often it is retried, so it must say
``is_retryable = False``; a lost connection, a deadlock, a serialization
failure or a lock timeout may pass on the next attempt and says ``True``.

Two halves: the error paths reached through the repositories of both
backends (class AND flag), and a table over the two mapping functions with
synthetic driver exceptions (psycopg error classes can be instantiated;
sqlite3 ones take their error name as an attribute).
"""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout

from synthorg.persistence import (
    ConstraintViolationError,
    DuplicateRecordError,
    InvalidValueError,
    MalformedRowError,
    PersistenceBackend,
    PersistenceConfig,
    PersistenceConnectionError,
    PersistenceError,
    PersistenceVersionConflictError,
    QueryError,
    SQLiteConfig,
    create_backend,
)
from synthorg.persistence.generated.manifest import ENTITIES
from synthorg.persistence.postgres.driver import map_postgres_error
from synthorg.persistence.sqlite.driver import map_sqlite_error
from tests.test_conformance import BY_TABLE, sample

FAR_EAST = timezone(timedelta(hours=5, minutes=30))


async def _raises(
    call: Any, cls: type[PersistenceError], retryable: bool
) -> PersistenceError:
    with pytest.raises(PersistenceError) as info:
        await call
    error = info.value
    assert isinstance(error, cls), f"{type(error).__name__}: {error}"
    assert error.is_retryable is retryable, f"{type(error).__name__}: {error}"
    return error


# ------------------------------------------------------------ through repos


async def test_bad_window_is_final(backend: PersistenceBackend) -> None:
    for limit, offset in ((0, 0), (-1, 0), (True, 0), (10, -1)):
        await _raises(
            backend.tasks.list_items(limit=limit, offset=offset),
            InvalidValueError,
            retryable=False,
        )


async def test_naive_datetime_is_final(backend: PersistenceBackend) -> None:
    error = await _raises(
        backend.audit_entries.purge_before(datetime(2026, 1, 1)),
        InvalidValueError,
        retryable=False,
    )
    assert isinstance(error, InvalidValueError)
    assert error.field == "audit_entries.threshold"


@pytest.mark.parametrize(
    ("label", "value", "field"),
    [
        ("blank", "", "tasks.entity_id"),
        ("nul", "a\x00b", "tasks.entity_id"),
        ("surrogate", "\ud800", "tasks.entity_id"),
        ("wrong type", 12, "tasks.entity_id"),
    ],
)
async def test_refused_lookup_is_final(
    backend: PersistenceBackend, label: str, value: Any, field: str
) -> None:
    """A lookup argument the field refuses: the same error on both backends
    (SQLite used to return None for NUL, PostgreSQL raised a retryable error)."""
    for call in (backend.tasks.get(value), backend.tasks.delete(value)):
        error = await _raises(call, InvalidValueError, retryable=False)
        assert isinstance(error, InvalidValueError)
        assert error.field == field, label


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", ""),  # blank id
        ("id", "a\x00"),  # NUL
        ("title", "\udfff"),  # lone surrogate
        ("budget_limit", math.nan),
        ("budget_limit", math.inf),
        ("status", "no-such-status"),
        ("created_at", datetime(1, 1, 1, tzinfo=FAR_EAST)),  # before year 1 UTC
        ("created_at", datetime(2026, 1, 1)),
    ],
)
async def test_refused_entity_value_is_final(
    backend: PersistenceBackend, field: str, value: Any
) -> None:
    entity = BY_TABLE["tasks"]
    good = sample(entity, 0)
    bad = type(good).model_construct(**{**good.__dict__, field: value})
    error = await _raises(backend.tasks.save(bad), InvalidValueError, retryable=False)
    assert isinstance(error, InvalidValueError)
    assert error.field == f"tasks.{field}"
    assert await backend.tasks.list_items() == ()


async def test_out_of_range_integer_is_final(backend: PersistenceBackend) -> None:
    entity = BY_TABLE["artifacts"]
    good = sample(entity, 0)
    for value in (2**63, -(2**63) - 1, 10**30):
        bad = type(good).model_construct(**{**good.__dict__, "size_bytes": value})
        error = await _raises(
            backend.artifacts.save(bad), InvalidValueError, retryable=False
        )
        assert isinstance(error, InvalidValueError)
        assert error.field == "artifacts.size_bytes"


async def test_unstorable_json_is_final(backend: PersistenceBackend) -> None:
    entity = next(e for e in ENTITIES if any(f.kind == "json" for f in e.fields))
    name = next(f.name for f in entity.fields if f.kind == "json")
    good = sample(entity, 0)
    repo = getattr(backend, entity.accessor)
    write = repo.save if "id_keyed" in entity.kinds else repo.append
    for value in ({"k": math.nan}, {"k": 1e23}, {"k\x00": 1}, {"k": "\ud800"}):
        bad = type(good).model_construct(**{**good.__dict__, name: value})
        error = await _raises(write(bad), InvalidValueError, retryable=False)
        assert isinstance(error, InvalidValueError)
        assert error.field == f"{entity.table}.{name}"


async def test_refused_method_argument_is_final(backend: PersistenceBackend) -> None:
    aggregates = backend.project_cost_aggregates
    for amount in (math.nan, math.inf, -math.inf):
        error = await _raises(
            aggregates.increment("p", amount, "USD"),
            InvalidValueError,
            retryable=False,
        )
        assert isinstance(error, InvalidValueError)
        assert error.field == "project_cost_aggregates.amount"
    await _raises(backend.idempotency_keys.claim("", "", 60), InvalidValueError, False)
    assert await aggregates.list_items() == ()


async def test_out_of_range_filter_is_final(backend: PersistenceBackend) -> None:
    """A ``since`` whose UTC instant is before year 1 (SQLite raised a raw
    OverflowError) is refused by both backends, naming the filter."""
    spec_cls = BY_TABLE["audit_entries"].filter_spec
    assert spec_cls is not None
    spec = spec_cls.model_construct(since=datetime(1, 1, 1, tzinfo=FAR_EAST))
    error = await _raises(
        backend.audit_entries.query(spec), InvalidValueError, retryable=False
    )
    assert isinstance(error, InvalidValueError)
    assert error.field == "audit_entries.since"


async def test_duplicate_is_final(backend: PersistenceBackend) -> None:
    entity = BY_TABLE["audit_entries"]
    row = sample(entity, 0)
    await backend.audit_entries.append(row)
    await _raises(
        backend.audit_entries.append(row), DuplicateRecordError, retryable=False
    )
    await _raises(
        backend.audit_entries.append_many([row]),
        DuplicateRecordError,
        retryable=False,
    )


async def test_constraint_is_final(backend: PersistenceBackend) -> None:
    """A foreign key to a missing parent: a constraint, not retryable."""
    entity = next(e for e in ENTITIES if e.foreign_keys and "id_keyed" in e.kinds)
    child = sample(entity, 0)
    repo = getattr(backend, entity.accessor)
    await _raises(repo.save(child), ConstraintViolationError, retryable=False)


async def test_not_connected_is_a_connection_error(tmp_path: Any) -> None:
    config = PersistenceConfig(sqlite=SQLiteConfig(path=str(tmp_path / "x.db")))
    backend = create_backend(config)
    with pytest.raises(PersistenceConnectionError) as info:
        await backend.tasks.get("t")
    assert info.value.is_retryable is True  # after connect()


def test_final_classes_say_so() -> None:
    """The classes no repository path above reaches directly."""
    assert PersistenceVersionConflictError.is_retryable is False
    assert MalformedRowError.is_retryable is False
    assert InvalidValueError.is_retryable is False
    assert issubclass(InvalidValueError, ConstraintViolationError)
    assert issubclass(InvalidValueError, QueryError)  # except QueryError still works


# ------------------------------------------------------------ mapping tables


def _sqlite(cls: type[Exception], message: str, name: str = "") -> Exception:
    exc = cls(message)
    if name:
        exc.sqlite_errorname = name  # type: ignore[attr-defined]
    return exc


SQLITE_CASES: list[tuple[str, Exception, type[PersistenceError], bool]] = [
    (
        "int beyond 64 bits",
        OverflowError("Python int too large to convert to SQLite INTEGER"),
        InvalidValueError,
        False,
    ),
    (
        "lone surrogate",
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        InvalidValueError,
        False,
    ),
    (
        "unsupported type",
        sqlite3.ProgrammingError(
            "Error binding parameter 1: type 'dict' is not supported"
        ),
        InvalidValueError,
        False,
    ),
    (
        "wrong parameter count",
        sqlite3.ProgrammingError("Incorrect number of bindings supplied."),
        InvalidValueError,
        False,
    ),
    (
        "too big",
        _sqlite(sqlite3.DataError, "string or blob too big", "SQLITE_TOOBIG"),
        InvalidValueError,
        False,
    ),
    (
        "unique",
        _sqlite(
            sqlite3.IntegrityError,
            "UNIQUE constraint failed: t.id",
            "SQLITE_CONSTRAINT_PRIMARYKEY",
        ),
        DuplicateRecordError,
        False,
    ),
    (
        "check",
        _sqlite(
            sqlite3.IntegrityError,
            "CHECK constraint failed: ck_t_x",
            "SQLITE_CONSTRAINT_CHECK",
        ),
        ConstraintViolationError,
        False,
    ),
    (
        "foreign key",
        _sqlite(
            sqlite3.IntegrityError,
            "FOREIGN KEY constraint failed",
            "SQLITE_CONSTRAINT_FOREIGNKEY",
        ),
        ConstraintViolationError,
        False,
    ),
    (
        "busy",
        _sqlite(sqlite3.OperationalError, "database is locked", "SQLITE_BUSY"),
        PersistenceError,
        True,
    ),
    (
        "I/O error",
        _sqlite(sqlite3.OperationalError, "disk I/O error", "SQLITE_IOERR"),
        PersistenceConnectionError,
        True,
    ),
    (
        "closed",
        ValueError("Connection closed"),
        PersistenceConnectionError,
        True,
    ),
]


@pytest.mark.parametrize(
    ("label", "exc", "cls", "retryable"),
    SQLITE_CASES,
    ids=[case[0] for case in SQLITE_CASES],
)
def test_map_sqlite_error(
    label: str, exc: Exception, cls: type[PersistenceError], retryable: bool
) -> None:
    error = map_sqlite_error(exc, "tasks.save")
    assert isinstance(error, cls), f"{label}: {type(error).__name__}"
    assert error.is_retryable is retryable, label
    if cls is InvalidValueError:
        assert isinstance(error, InvalidValueError)
        assert error.field == "tasks.save"  # the operation, when no field is known


PG_CASES: list[tuple[str, BaseException, type[PersistenceError], bool]] = [
    # SQLSTATE class 22: the value is wrong, the same value fails again.
    (
        "22003",
        pg_errors.NumericValueOutOfRange("bigint out of range"),
        InvalidValueError,
        False,
    ),
    (
        "22P02",
        pg_errors.InvalidTextRepresentation("invalid input syntax"),
        InvalidValueError,
        False,
    ),
    (
        "22P05",
        pg_errors.UntranslatableCharacter("unsupported Unicode escape sequence"),
        InvalidValueError,
        False,
    ),
    (
        "22008",
        pg_errors.DatetimeFieldOverflow("timestamp out of range"),
        InvalidValueError,
        False,
    ),
    (
        "22021",
        pg_errors.CharacterNotInRepertoire("invalid byte sequence"),
        InvalidValueError,
        False,
    ),
    (
        "client NUL",
        psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
        InvalidValueError,
        False,
    ),
    (
        "client surrogate",
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
        InvalidValueError,
        False,
    ),
    ("client overflow", OverflowError("int too big"), InvalidValueError, False),
    (
        "23505",
        pg_errors.UniqueViolation("duplicate key"),
        DuplicateRecordError,
        False,
    ),
    (
        "23514",
        pg_errors.CheckViolation("check"),
        ConstraintViolationError,
        False,
    ),
    (
        "23503",
        pg_errors.ForeignKeyViolation("fk"),
        ConstraintViolationError,
        False,
    ),
    # Transient: the next attempt may pass.
    ("40P01", pg_errors.DeadlockDetected("deadlock"), PersistenceError, True),
    ("40001", pg_errors.SerializationFailure("serialize"), PersistenceError, True),
    ("55P03", pg_errors.LockNotAvailable("lock timeout"), PersistenceError, True),
    ("57014", pg_errors.QueryCanceled("statement timeout"), PersistenceError, True),
    (
        "57P01",
        pg_errors.AdminShutdown("terminating connection"),
        PersistenceConnectionError,
        True,
    ),
    (
        "connection lost",
        psycopg.OperationalError("server closed the connection unexpectedly"),
        PersistenceConnectionError,
        True,
    ),
    (
        "pool timeout",
        PoolTimeout("couldn't get a connection"),
        PersistenceConnectionError,
        True,
    ),
]


@pytest.mark.parametrize(
    ("label", "exc", "cls", "retryable"),
    PG_CASES,
    ids=[case[0] for case in PG_CASES],
)
def test_map_postgres_error(
    label: str, exc: BaseException, cls: type[PersistenceError], retryable: bool
) -> None:
    error = map_postgres_error(exc, "tasks.save")
    assert isinstance(error, cls), f"{label}: {type(error).__name__}"
    assert error.is_retryable is retryable, label


def test_utc_reference() -> None:
    """The far-east year-1 instant really is before year 1 in UTC."""
    with pytest.raises(OverflowError):
        datetime(1, 1, 1, tzinfo=FAR_EAST).astimezone(UTC)
