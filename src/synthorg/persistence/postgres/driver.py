"""PostgreSQL driver helpers: pool type, connection scope, error mapping.

Every generated PostgreSQL repository maps psycopg errors through
:func:`map_postgres_error`; SQLSTATE classes, not message text, decide the
persistence error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import TypeAlias

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from synthorg.persistence.errors import (
    ConstraintViolationError,
    DuplicateRecordError,
    InvalidValueError,
    PersistenceConnectionError,
    PersistenceError,
    QueryError,
)

Pool: TypeAlias = AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]
"""The backend's pool: autocommit connections returning tuple rows."""


def map_postgres_error(exc: BaseException, operation: str) -> PersistenceError:
    """Translate a psycopg / psycopg_pool error raised by ``operation``."""
    if isinstance(exc, pg_errors.UniqueViolation):
        constraint = exc.diag.constraint_name or ""
        return DuplicateRecordError(
            f"{operation}: duplicate record (constraint {constraint or '<unknown>'})"
        )
    if isinstance(exc, pg_errors.IntegrityError):
        # Check, not-null, foreign-key and exclusion violations (class 23).
        return ConstraintViolationError(
            f"{operation}: {exc.diag.message_primary or exc}",
            constraint=exc.diag.constraint_name or "",
        )
    if isinstance(exc, psycopg.DataError | UnicodeError | OverflowError):
        # SQLSTATE class 22 (numeric out of range, invalid text
        # representation, untranslatable character, datetime overflow...) and
        # the client-side refusals of a value (NUL in text, a lone surrogate,
        # an int psycopg cannot dump): the same value fails again.
        return InvalidValueError(
            f"{operation}: value refused: {exc}", field=_field_of(exc, operation)
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


def _field_of(exc: BaseException, operation: str) -> str:
    """``<table>.<column>`` when the server names the column, else ``operation``."""
    diag = getattr(exc, "diag", None)
    column = getattr(diag, "column_name", None) if diag is not None else None
    if column:
        table = getattr(diag, "table_name", None) or operation.split(".")[0]
        return f"{table}.{column}"
    return operation


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
