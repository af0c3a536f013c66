"""PostgreSQL driver helpers: the pool type and the one error mapping.

Every generated PostgreSQL repository maps psycopg errors through
:func:`map_postgres_error`; SQLSTATE classes, not message text, decide the
persistence error.
"""

from __future__ import annotations

from typing import TypeAlias

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from synthorg.persistence.errors import (
    ConstraintViolationError,
    DuplicateRecordError,
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
    if isinstance(exc, PoolTimeout):
        return PersistenceConnectionError(f"{operation}: pool checkout timed out")
    if isinstance(exc, psycopg.OperationalError):
        # Lost or refused connections, admin shutdown, query cancelled by
        # statement_timeout (57014) is also operational and retryable.
        return PersistenceConnectionError(f"{operation}: {exc}")
    if isinstance(exc, psycopg.InterfaceError):
        return PersistenceConnectionError(f"{operation}: {exc}")
    return QueryError(f"{operation}: {exc}")
