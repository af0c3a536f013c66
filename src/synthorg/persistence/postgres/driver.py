"""PostgreSQL driver helpers: pool type, connection scope, error mapping.

Every generated PostgreSQL repository maps psycopg errors through
:func:`map_postgres_error`; SQLSTATE classes, not message text, decide the
persistence error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from contextvars import ContextVar
from types import TracebackType
from typing import TypeAlias

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from synthorg.persistence._constraints import (
    is_primary_key,
    postgres_unique_constraint,
    unique_is_duplicate,
)
from synthorg.persistence.errors import (
    ConstraintViolationError,
    DuplicateRecordError,
    MalformedRowError,
    PersistenceConnectionError,
    PersistenceError,
    QueryError,
)

Pool: TypeAlias = AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]
"""The backend's pool: autocommit connections returning tuple rows."""


# psycopg's client-side errors for a fetched timestamp it cannot load.
_LOAD_ERRORS = ("timestamp too small", "timestamp too large", "can't parse timestamp")


def map_postgres_error(exc: BaseException, operation: str) -> PersistenceError:
    """Translate a psycopg / psycopg_pool error raised by ``operation``."""
    if (
        isinstance(exc, psycopg.DataError)
        and exc.sqlstate is None
        and str(exc).startswith(_LOAD_ERRORS)
    ):
        # A stored value psycopg cannot load: deterministic, not retryable.
        # The generated reads name the row and column (postgres.rows).
        return MalformedRowError(f"{operation}: a stored value cannot be read: {exc}")
    if isinstance(exc, pg_errors.UniqueViolation):
        constraint = exc.diag.constraint_name or ""
        if (
            not constraint
            or is_primary_key(constraint)
            or unique_is_duplicate(operation)
        ):
            return DuplicateRecordError(
                f"{operation}: duplicate record "
                f"(constraint {constraint or '<unknown>'})"
            )
        # Another unique index: the reference's ConstraintViolationError,
        # named as on SQLite.
        constraint = postgres_unique_constraint(constraint)
        return ConstraintViolationError(
            f"{operation}: unique constraint {constraint} violated "
            f"({exc.diag.message_primary or exc})",
            constraint=constraint,
        )
    if isinstance(exc, pg_errors.IntegrityError):
        # Check, not-null, foreign-key and exclusion violations (class 23).
        return ConstraintViolationError(
            f"{operation}: {exc.diag.message_primary or exc}",
            constraint=exc.diag.constraint_name or "",
        )
    if isinstance(exc, PoolTimeout):
        return PersistenceConnectionError(f"{operation}: pool checkout timed out")
    if isinstance(exc, psycopg.OperationalError):
        # Lost or refused connections, admin shutdown, query cancelled by
        # statement_timeout (57014) is also operational and retryable.
        return PersistenceConnectionError(f"{operation}: {exc}")
    if isinstance(exc, psycopg.InterfaceError):
        return PersistenceConnectionError(f"{operation}: {exc}")
    return QueryError(f"{operation}: {exc}")


# The connection of the transaction open in this asyncio context, per pool.
# Repository calls made inside ``transaction(pool)`` use it instead of
# checking out another connection, so they join the transaction.
_CURRENT: ContextVar[tuple[Pool, psycopg.AsyncConnection[TupleRow]] | None] = (
    ContextVar("synthorg_pg_transaction", default=None)
)


class _Joined:
    """An async context manager that hands out the open transaction's connection."""

    __slots__ = ("_conn",)

    def __init__(self, conn: psycopg.AsyncConnection[TupleRow]) -> None:
        self._conn = conn

    async def __aenter__(self) -> psycopg.AsyncConnection[TupleRow]:
        return self._conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


def connection(
    pool: Pool,
) -> AbstractAsyncContextManager[psycopg.AsyncConnection[TupleRow]]:
    """A pooled connection, or the open transaction's one in this context.

    Outside a transaction this is exactly ``pool.connection()`` (no wrapper
    on the hot path); inside ``transaction(pool)`` it joins that transaction.
    """
    current = _CURRENT.get()
    if current is not None and current[0] is pool:
        return _Joined(current[1])
    return pool.connection()


@asynccontextmanager
async def transaction(pool: Pool) -> AsyncIterator[psycopg.AsyncConnection[TupleRow]]:
    """One explicit transaction; repository calls in the block join it.

    Nested use opens a savepoint on the same connection. Any exception rolls
    back (to the savepoint when nested).
    """
    current = _CURRENT.get()
    if current is not None and current[0] is pool:
        async with current[1].transaction():
            yield current[1]
        return
    async with pool.connection() as conn, conn.transaction():
        token = _CURRENT.set((pool, conn))
        try:
            yield conn
        finally:
            _CURRENT.reset(token)


_NO_SAVEPOINT = nullcontext()


def savepoint_in_transaction(
    conn: psycopg.AsyncConnection[TupleRow],
) -> AbstractAsyncContextManager[object]:
    """A savepoint around a statement that may fail, inside a transaction only.

    In a transaction a failed statement aborts it; a statement the caller
    retries (a version number taken by a concurrent writer) runs under a
    savepoint so the retry, and the caller's transaction, stay usable.
    Outside one (autocommit) there is nothing to protect and no round trip
    to add.
    """
    if conn.info.transaction_status == TransactionStatus.IDLE:
        return _NO_SAVEPOINT
    return conn.transaction()
