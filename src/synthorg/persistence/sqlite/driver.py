"""SQLite driver helpers: the shared write lock and the one error mapping.

Every generated SQLite repository maps ``sqlite3`` errors through
:func:`map_sqlite_error`, so the translation into the persistence error
family lives in exactly one place for this dialect.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from types import TracebackType

from synthorg.persistence.errors import (
    ConstraintViolationError,
    DuplicateRecordError,
    PersistenceConnectionError,
    PersistenceError,
    QueryError,
)

_CHECK = re.compile(r"CHECK constraint failed: (.+)$")
_NOT_NULL = re.compile(r"NOT NULL constraint failed: (.+)$")
_CONNECTION_CODES = frozenset(
    {
        "SQLITE_CANTOPEN",
        "SQLITE_NOTADB",
        "SQLITE_IOERR",
        "SQLITE_FULL",
        "SQLITE_READONLY",
        "SQLITE_CORRUPT",
    }
)


def map_sqlite_error(exc: BaseException, operation: str) -> PersistenceError:
    """Translate a ``sqlite3``/aiosqlite error raised by ``operation``."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    message = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if name in ("SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"):
            return DuplicateRecordError(f"{operation}: duplicate record ({message})")
        if name == "SQLITE_CONSTRAINT_FOREIGNKEY":
            return ConstraintViolationError(
                f"{operation}: {message}", constraint="foreign_key"
            )
        match = _CHECK.search(message) or _NOT_NULL.search(message)
        constraint = match.group(1) if match else ""
        return ConstraintViolationError(
            f"{operation}: {message}", constraint=constraint
        )
    if isinstance(exc, ValueError) and "closed" in message.lower():
        # aiosqlite raises ValueError("no active connection") once closed.
        return PersistenceConnectionError(f"{operation}: connection closed")
    if name.split("_")[0:2] and any(name.startswith(c) for c in _CONNECTION_CODES):
        return PersistenceConnectionError(f"{operation}: {message}")
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in message.lower():
        return PersistenceConnectionError(f"{operation}: {message}")
    return QueryError(f"{operation}: {message}")


class WriteLock:
    """The backend's shared write lock, re-entrant within one asyncio task.

    SQLite has one ``aiosqlite.Connection`` per backend, so a multi-statement
    transaction must not interleave with another coroutine's statements.
    Every repository write and :meth:`write_context` hold this lock. It is
    re-entrant per task so that a caller holding ``write_context()`` can call
    repository writes inside its own transaction instead of deadlocking.
    """

    __slots__ = ("_depth", "_lock", "_owner")

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None
        self._depth = 0

    @property
    def held_by_current_task(self) -> bool:
        """True inside a ``write_context`` (or write) of the current task."""
        return self._owner is not None and self._owner is asyncio.current_task()

    async def __aenter__(self) -> None:
        task = asyncio.current_task()
        if self._owner is not None and self._owner is task:
            self._depth += 1
            return
        await self._lock.acquire()
        self._owner = task
        self._depth = 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()
