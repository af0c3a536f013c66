"""SQLite driver helpers: write lock, transactions and the one error mapping.

Every generated SQLite repository maps ``sqlite3`` errors through
:func:`map_sqlite_error`, so the translation into the persistence error
family lives in exactly one place for this dialect.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

import aiosqlite

from synthorg.persistence.errors import (
    ConstraintViolationError,
    DuplicateRecordError,
    InvalidValueError,
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
    if isinstance(exc, ValueError) and (
        "closed" in message.lower() or "no active connection" in message.lower()
    ):
        # Once closed, aiosqlite raises ValueError("Connection closed") for a
        # new call and ValueError("no active connection") for one that was
        # already queued (or a property such as ``in_transaction``).
        return PersistenceConnectionError(f"{operation}: connection closed")
    if name.split("_")[0:2] and any(name.startswith(c) for c in _CONNECTION_CODES):
        return PersistenceConnectionError(f"{operation}: {message}")
    if isinstance(exc, sqlite3.ProgrammingError) and "closed" in message.lower():
        return PersistenceConnectionError(f"{operation}: {message}")
    if _refused_value(exc, name, message):
        return InvalidValueError(
            f"{operation}: value refused: {message}", field=operation
        )
    return QueryError(f"{operation}: {message}")


def _refused_value(exc: BaseException, name: str, message: str) -> bool:
    """Whether ``exc`` refuses a value deterministically (retrying cannot help).

    An int outside 64 bits (OverflowError), text that cannot be encoded
    (UnicodeEncodeError), a value of an unsupported type or a wrong number of
    parameters (InterfaceError/ProgrammingError "binding"), a value too big
    (SQLITE_TOOBIG, DataError), and any other ValueError raised while binding.
    """
    if isinstance(exc, OverflowError | ValueError | sqlite3.DataError):
        return True
    if isinstance(exc, sqlite3.InterfaceError | sqlite3.ProgrammingError):
        return "binding" in message.lower() or "supported" in message.lower()
    return name.startswith(("SQLITE_TOOBIG", "SQLITE_MISMATCH", "SQLITE_RANGE"))


class WriteLock:
    """The backend's shared write lock, re-entrant for its holder.

    SQLite has one ``aiosqlite.Connection`` per backend, so a multi-statement
    transaction must not interleave with another coroutine's statements.
    Every repository write and :meth:`write_context` hold this lock. It is
    re-entrant so that a caller holding ``write_context()`` can call
    repository writes inside its own transaction instead of deadlocking.

    Re-entrancy follows the holder's :mod:`contextvars` context rather than
    the task object: tasks created while the lock is held (``asyncio.gather``,
    and ``asyncio.wait_for``, which wraps its awaitable in a new task on
    Python 3.11) inherit the holder's context and join its hold instead of
    deadlocking on it. Each acquisition gets a fresh token, so a task that
    outlives the block does not re-enter a later, unrelated hold.
    """

    __slots__ = ("_depth", "_holder", "_lock", "_var")

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        # One variable per lock (a backend lives as long as the process does).
        self._var: contextvars.ContextVar[object | None] = contextvars.ContextVar(
            f"synthorg_sqlite_write_lock_{id(self):x}", default=None
        )
        self._holder: object | None = None
        self._depth = 0

    def locked(self) -> bool:
        """Whether any holder has the lock."""
        return self._lock.locked()

    @property
    def held_by_current_task(self) -> bool:
        """True inside a ``write_context`` (or write) of the current holder."""
        return self._holder is not None and self._var.get() is self._holder

    async def __aenter__(self) -> None:
        if self.held_by_current_task:
            self._depth += 1
            return
        await self._lock.acquire()
        holder = object()
        self._holder = holder
        self._depth = 1
        self._var.set(holder)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._holder = None
            self._lock.release()


@asynccontextmanager
async def transaction(db: aiosqlite.Connection, lock: WriteLock) -> AsyncIterator[None]:
    """One transaction on the shared connection, under the write lock.

    ``BEGIN IMMEDIATE`` takes SQLite's write lock up front (no upgrade
    deadlock with another process); inside an open transaction a SAVEPOINT
    nests instead. Repository calls made in the block by the same task join
    it, because the lock is re-entrant per task. Any exception rolls back.
    """
    async with lock:
        nested = db.in_transaction
        await db.execute("SAVEPOINT synthorg_tx" if nested else "BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if nested:
                await db.execute("ROLLBACK TO SAVEPOINT synthorg_tx")
                await db.execute("RELEASE SAVEPOINT synthorg_tx")
            elif db.in_transaction:
                await db.execute("ROLLBACK")
            raise
        await db.execute("RELEASE SAVEPOINT synthorg_tx" if nested else "COMMIT")


# An inline point read may run INLINE_BUDGET * INLINE_STEPS SQLite VM steps
# (tens of microseconds; a key lookup needs well under a thousand) before it
# is interrupted and retried through the reader thread.
INLINE_STEPS = 1000
INLINE_BUDGET = 20


class Connections:
    """The connections a SQLite backend's repositories share.

    ``db`` is the one writer. ``reader`` is a second, read-only connection
    for file databases in WAL mode: its reads see only committed data (no
    dirty reads of another coroutine's open transaction) and run on their
    own thread, beside the writer. An in-memory database has one connection
    (``reader is db``): there a read waits while another task holds the
    write lock, for the same isolation. Inside the caller's own transaction
    (it holds the lock) reads go to the writer, to see its own writes.
    """

    __slots__ = ("_steps", "db", "inline", "lock", "reader")

    def __init__(
        self,
        db: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        lock: WriteLock,
        inline: sqlite3.Connection | None = None,
    ) -> None:
        self.db = db
        self.reader = reader
        self.lock = lock
        self.inline = inline
        self._steps = 0
        if inline is not None:
            # Called every INLINE_STEPS VM instructions, also while SQLite
            # (re)reads its schema; a non-zero return interrupts.
            inline.set_progress_handler(self._tick, INLINE_STEPS)

    def warm_inline(self) -> None:
        """Load the schema on the inline connection outside any read's budget.

        After a migration SQLite re-reads the whole schema on first use; that
        one-off parse must not count against (and defeat) point reads.
        """
        if self.inline is None:
            return
        self._steps = -1_000_000
        # On failure, reads simply fall back to the reader thread.
        with contextlib.suppress(sqlite3.Error):
            self.inline.execute("SELECT 1 FROM sqlite_schema LIMIT 1").fetchall()

    def _tick(self) -> int:
        self._steps += 1
        return 1 if self._steps > INLINE_BUDGET else 0

    async def read_point(self, sql: str, params: Any) -> Iterable[sqlite3.Row]:
        """A key or unique-index lookup: inline on the loop thread when safe.

        The inline connection is read-only, WAL (never waits for a writer),
        has ``busy_timeout = 0`` and a progress handler that interrupts a
        statement after a small budget of VM steps: a point read finishes in
        a few dozen microseconds or is abandoned and retried through the
        reader thread. Inside the caller's own transaction it reads from the
        writer, to see its own writes.
        """
        inline = self.inline
        if inline is not None and not self.lock.held_by_current_task:
            self._steps = 0  # each read gets the whole budget
            cursor = inline.cursor()
            try:
                return cursor.execute(sql, params).fetchall()
            except (sqlite3.OperationalError, sqlite3.ProgrammingError):
                # Busy, over budget or another thread: take the thread hop.
                # Closing the cursor resets the interrupted statement; SQLite
                # keeps the connection "interrupted" while one stays active.
                cursor.close()
        return await self.read(sql, params)

    async def read(self, sql: str, params: Any) -> Iterable[sqlite3.Row]:
        """Run a read statement with committed-data isolation."""
        lock = self.lock
        if lock.held_by_current_task:
            return await self.db.execute_fetchall(sql, params)
        if self.reader is not self.db:
            return await self.reader.execute_fetchall(sql, params)
        if lock.locked():
            async with lock:
                return await self.db.execute_fetchall(sql, params)
        return await self.db.execute_fetchall(sql, params)

    async def write(self, sql: str, params: Any) -> Iterable[sqlite3.Row]:
        """Run one write statement under the write lock (autocommit)."""
        async with self.lock:
            return await self.db.execute_fetchall(sql, params)
