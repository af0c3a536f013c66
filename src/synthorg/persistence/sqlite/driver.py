"""SQLite driver helpers: write lock, transactions and the one error mapping.

Every generated SQLite repository maps ``sqlite3`` errors through
:func:`map_sqlite_error`, so the translation into the persistence error
family lives in exactly one place for this dialect.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import itertools
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any

import aiosqlite

from synthorg.persistence._codec import json_dumps
from synthorg.persistence._constraints import (
    sqlite_unique_constraint,
    unique_is_duplicate,
)
from synthorg.persistence.batch import duplicate_error
from synthorg.persistence.errors import (
    ConstraintViolationError,
    DuplicateRecordError,
    InvalidValueError,
    MalformedRowError,
    PersistenceConnectionError,
    PersistenceError,
    QueryError,
)
from synthorg.persistence.sqlite.group_commit import GroupCommit
from synthorg.persistence.sqlite.inline import PAGE as INLINE_PAGE
from synthorg.persistence.sqlite.inline import POINT as INLINE_POINT
from synthorg.persistence.sqlite.inline import RANGE as INLINE_RANGE
from synthorg.persistence.sqlite.inline import InlineReader, InlineStats
from synthorg.persistence.support import duplicate_keys

logger = logging.getLogger(__name__)

# sqlite3's error for stored text that is not valid UTF-8 (any Python 3.11+).
_UNDECODABLE = re.compile(r"Could not decode to UTF-8 column '([^']*)'")
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


def undecodable_column(exc: BaseException) -> str | None:
    """The column a failed fetch of non-UTF-8 text names, else None."""
    if not isinstance(exc, sqlite3.OperationalError):
        return None
    match = _UNDECODABLE.search(str(exc))
    return match.group(1) if match else None


def map_sqlite_error(exc: BaseException, operation: str) -> PersistenceError:
    """Translate a ``sqlite3``/aiosqlite error raised by ``operation``."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    message = str(exc)
    column = undecodable_column(exc)
    if column is not None:
        # A stored row cannot be read: deterministic, not retryable. The
        # generated reads name the row too (sqlite.rows.unreadable).
        return MalformedRowError(
            f"{operation}: column {column!r}: stored text is not valid UTF-8",
            column=column,
        )
    if isinstance(exc, sqlite3.IntegrityError):
        if name == "SQLITE_CONSTRAINT_PRIMARYKEY" or (
            name == "SQLITE_CONSTRAINT_UNIQUE" and unique_is_duplicate(operation)
        ):
            return DuplicateRecordError(f"{operation}: duplicate record ({message})")
        if name == "SQLITE_CONSTRAINT_UNIQUE":
            # Another unique index: named as on PostgreSQL (the reference's
            # ConstraintViolationError covers unique violations).
            constraint = sqlite_unique_constraint(message)
            return ConstraintViolationError(
                f"{operation}: unique constraint {constraint} violated ({message})",
                constraint=constraint,
            )
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


# --------------------------------------------------------------------------
# Statements on the aiosqlite worker thread, safe under cancellation
#
# aiosqlite runs every call on one worker thread per connection, fed by a FIFO
# queue. Cancelling the coroutine that awaits a call does not stop the call:
# the statement (BEGIN, an INSERT, COMMIT) still runs on the thread. So every
# path that holds the write lock keeps holding it until the worker has
# finished what it queued, and a transaction that is cancelled or fails is
# rolled back on the same connection *before* the lock is released: the
# rollback is queued as soon as the cancellation is seen (FIFO: it runs right
# after the interrupted statement) and awaited to completion even if the task
# is cancelled again meanwhile; the CancelledError then propagates. A
# cancellation is never absorbed and turned into a commit.
#
# ``aiosqlite.Connection._execute(fn, *args)`` (run ``fn(*args)`` on the
# connection's thread, return its result) is private API, used for two
# reasons: a statement's cursor is closed on every path (aiosqlite's
# ``execute_fetchall`` leaves it open when fetching raises, which pins the
# connection's read snapshot), and recovery jobs run on the same thread. It
# has had this shape since aiosqlite 0.11; the guard below fails at import,
# not at the first write, if a release drops it; pyproject.toml pins
# aiosqlite below the next minor release (written against 0.22).
#
# Single writes that queue while the lock is held are committed in groups
# (group_commit.py): the group runs in a task of its own that holds the lock
# until the thread has finished the whole group, and a cancelled caller
# waits for that before its CancelledError propagates, as above.
# --------------------------------------------------------------------------

if not inspect.iscoroutinefunction(getattr(aiosqlite.Connection, "_execute", None)):
    raise ImportError(
        "synthorg.persistence.sqlite needs aiosqlite.Connection._execute(fn, *args) "
        f"(aiosqlite {aiosqlite.__version__} lacks it)"
    )

# ``_execute(db, fn, *args)``: the unbound method, typed once.
_on_thread: Callable[..., Awaitable[Any]] = aiosqlite.Connection._execute
_SAVEPOINTS = itertools.count(1)


def _fetchall(conn: sqlite3.Connection, sql: str, params: Any) -> list[sqlite3.Row]:
    """Worker thread: run ``sql``, fetch every row, release the statement."""
    cursor = conn.cursor()
    try:
        return cursor.execute(sql, params).fetchall()
    finally:
        # Resets the statement even when fetching raised (a stored value
        # that cannot be decoded): an unreset statement keeps the read
        # transaction, and so the connection's WAL snapshot, open.
        cursor.close()


def _executemany(conn: sqlite3.Connection, sql: str, rows: Iterable[Any]) -> None:
    """Worker thread: ``executemany`` that releases its statement on every path."""
    cursor = conn.cursor()
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


def _barrier(conn: sqlite3.Connection) -> None:
    """Worker thread: nothing; completes once everything queued before it has."""


def _rollback(conn: sqlite3.Connection, savepoint: str | None) -> None:
    """Worker thread: undo the transaction (or savepoint) the caller began.

    A top-level call rolls back whatever transaction is open: under the
    write lock, with the connection idle at ``BEGIN``, that can only be the
    caller's. If ``COMMIT`` already completed there is nothing open and
    nothing to do. A savepoint that was never created, or already released
    into the enclosing transaction, is left to that transaction.
    """
    if savepoint is None:
        if conn.in_transaction:
            conn.execute("ROLLBACK").close()
        return
    try:
        conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}").close()
    except sqlite3.OperationalError as exc:
        if "no such savepoint" in str(exc):
            return
        raise
    conn.execute(f"RELEASE SAVEPOINT {savepoint}").close()


def _conn(db: aiosqlite.Connection) -> sqlite3.Connection:
    # ValueError("no active connection") once closed, as aiosqlite raises.
    return db._conn


async def fetch(db: aiosqlite.Connection, sql: str, params: Any = ()) -> list[Any]:
    """One statement on ``db``'s thread: every row, the statement released.

    The same single hop as ``execute_fetchall``.
    """
    rows: list[Any] = await _on_thread(db, _fetchall, _conn(db), sql, params)
    return rows


async def _settle(db: aiosqlite.Connection, fn: Any, *args: Any) -> None:
    """Queue ``fn(*args)`` on ``db``'s thread now and wait until it has run.

    Runs after everything already queued (one FIFO thread). Waits through
    further cancellations of the calling task and re-raises the first one
    afterwards, so the caller's lock outlives the worker's work. An error of
    ``fn`` is logged, not raised: the caller is already propagating the
    exception that made it recover.
    """
    try:
        conn = _conn(db)
    except ValueError:
        return  # closed: closing the connection rolled any transaction back
    job = asyncio.ensure_future(_on_thread(db, fn, conn, *args))
    cancelled: asyncio.CancelledError | None = None
    while not job.done():
        try:
            await asyncio.shield(job)
        except asyncio.CancelledError as exc:
            if job.cancelled():  # the loop itself is shutting down
                raise
            cancelled = cancelled or exc
        except Exception:  # logged below
            break
    if not job.cancelled() and (error := job.exception()) is not None:
        logger.error("sqlite recovery %s failed: %s", fn.__name__, error)
    if cancelled is not None:
        raise cancelled


async def drain(db: aiosqlite.Connection) -> None:
    """Wait until ``db``'s thread has finished everything queued so far."""
    await _settle(db, _barrier)


async def rollback(db: aiosqlite.Connection) -> None:
    """:func:`drain`, then roll back the transaction open on ``db``, if any.

    Only for the holder of the write lock whose own transaction it is.
    Completes even when the task is cancelled meanwhile (re-raised after).
    """
    await _settle(db, _rollback, None)


def _maybe_execute(conn: sqlite3.Connection, sql: str | None) -> None:
    if sql is not None:
        conn.execute(sql).close()


async def restore(db: aiosqlite.Connection, sql: str | None) -> None:
    """:func:`drain`, then run ``sql`` (a setting to put back), if any.

    Completes even when the task is cancelled meanwhile (the cancellation
    is re-raised after); a failure is logged.
    """
    await _settle(db, _maybe_execute, sql)


@asynccontextmanager
async def transaction(
    db: aiosqlite.Connection, lock: WriteLock, operation: str | None = None
) -> AsyncIterator[None]:
    """One transaction on the shared connection, under the write lock.

    ``BEGIN IMMEDIATE`` takes SQLite's write lock up front (no upgrade
    deadlock with another process); inside an open transaction a uniquely
    named SAVEPOINT nests instead. Repository calls made in the block by the
    same task join it, because the lock is re-entrant per task.

    Any exception, and a cancellation at any await (BEGIN, a statement in
    the block, COMMIT), ends with the connection clean before the lock is
    released: rolled back, or committed when the COMMIT itself completed;
    the exception (CancelledError included) then propagates. With
    ``operation``, a failing BEGIN/COMMIT raises the mapped persistence
    error naming it; without, the raw ``sqlite3`` error (callers map it).
    """
    async with lock:
        try:
            conn = _conn(db)
        except ValueError as exc:
            if operation is None:
                raise
            raise map_sqlite_error(exc, operation) from exc
        savepoint = f"synthorg_sp{next(_SAVEPOINTS)}" if conn.in_transaction else None
        try:
            await _on_thread(
                db,
                _execute,
                conn,
                "BEGIN IMMEDIATE" if savepoint is None else f"SAVEPOINT {savepoint}",
            )
        except asyncio.CancelledError:
            # BEGIN may still run (or have run) on the thread: undo it there.
            await _settle(db, _rollback, savepoint)
            raise
        except (sqlite3.Error, ValueError) as exc:
            # A failed BEGIN opened nothing: there is nothing of ours to undo.
            if operation is None:
                raise
            raise map_sqlite_error(exc, operation) from exc
        try:
            yield
        except BaseException:
            await _settle(db, _rollback, savepoint)
            raise
        try:
            await _on_thread(
                db,
                _execute,
                conn,
                "COMMIT" if savepoint is None else f"RELEASE SAVEPOINT {savepoint}",
            )
        except BaseException as exc:
            # Cancelled (the COMMIT may yet complete: then nothing is open
            # and nothing is undone) or failed (e.g. busy): roll back.
            await _settle(db, _rollback, savepoint)
            if operation is None or not isinstance(exc, (sqlite3.Error, ValueError)):
                raise
            raise map_sqlite_error(exc, operation) from exc


def _execute(conn: sqlite3.Connection, sql: str) -> None:
    """Worker thread: one statement without rows (BEGIN, COMMIT, ...)."""
    conn.execute(sql).close()


class Connections:
    """The connections a SQLite backend's repositories share.

    ``db`` is the one writer. ``reader`` is a second, read-only connection
    for file databases in WAL mode: its reads see only committed data (no
    dirty reads of another coroutine's open transaction) and run on their
    own thread, beside the writer. An in-memory database has one connection
    (``reader is db``): there a read waits while another task holds the
    write lock, for the same isolation. Inside the caller's own transaction
    (it holds the lock) reads go to the writer, to see its own writes.
    ``inline`` (file databases in WAL mode) answers cheap reads on the loop
    thread within a VM-step budget (:mod:`synthorg.persistence.sqlite.inline`).
    """

    __slots__ = ("_inline", "_reading", "db", "group", "inline", "lock", "reader")

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
        #: Concurrent writes committed together (see :mod:`.group_commit`).
        self.group = GroupCommit(db, lock)
        self._inline = None if inline is None else InlineReader(inline)
        self._reading = 0  # reads in flight on the reader thread

    @property
    def inline_stats(self) -> InlineStats | None:
        """Counters of the inline path (None without an inline connection)."""
        return None if self._inline is None else self._inline.stats

    def warm_inline(self) -> None:
        """Load the schema on the inline connection outside any read's budget."""
        if self._inline is not None:
            self._inline.warm()

    async def read_inline(
        self, sql: str, params: Any, budget: int
    ) -> Iterable[sqlite3.Row]:
        """A read the generator proved cheap: on the loop thread when safe.

        Runs on the inline connection (read-only, WAL, ``busy_timeout = 0``)
        within ``budget`` x ``inline.STEP`` VM steps; a read that overruns,
        meets a lock or fails there is retried whole through :meth:`read`.
        Inside the caller's own transaction it reads from the writer, to see
        its own writes.
        """
        inline = self._inline
        if inline is not None and not self.lock.held_by_current_task:
            rows = inline.fetch(sql, params, budget)
            if rows is not None:
                return rows
        return await self.read(sql, params)

    def read_point(self, sql: str, params: Any) -> Awaitable[Iterable[sqlite3.Row]]:
        """A key or unique-index lookup (:meth:`read_inline`, point budget)."""
        return self.read_inline(sql, params, INLINE_POINT)

    def _busy(self) -> bool:
        """Whether other calls are in flight: a write, or a thread read.

        Then a count or a page is left to the reader thread: its SQLite
        work runs beside the loop, which serves the other calls meanwhile
        (inline, the loop would do that work itself). Alone, the read is
        answered inline: the hop would be pure overhead.
        """
        if (self._reading or self.lock.locked()) and self._inline is not None:
            self._inline.stats.offloaded += 1
            return True
        return False

    def read_range(self, sql: str, params: Any) -> Awaitable[Iterable[sqlite3.Row]]:
        """A count/aggregate over an index range (:meth:`read_inline`).

        Inline only while no other call is in flight (:meth:`_busy`).
        """
        if self._busy():
            return self.read(sql, params)
        return self.read_inline(sql, params, INLINE_RANGE)

    def read_page(self, sql: str, params: Any) -> Awaitable[Iterable[sqlite3.Row]]:
        """A page bounded by a LIMIT, in index order (:meth:`read_inline`).

        Inline only while no other call is in flight (:meth:`_busy`).
        """
        if self._busy():
            return self.read(sql, params)
        return self.read_inline(sql, params, INLINE_PAGE)

    async def read(self, sql: str, params: Any) -> Iterable[sqlite3.Row]:
        """Run a read statement with committed-data isolation."""
        lock = self.lock
        if lock.held_by_current_task:
            return await fetch(self.db, sql, params)
        if self.reader is not self.db:
            self._reading += 1
            try:
                return await fetch(self.reader, sql, params)
            finally:
                self._reading -= 1
        if lock.locked():
            async with lock:
                return await fetch(self.db, sql, params)
        return await fetch(self.db, sql, params)

    async def write(self, sql: str, params: Any) -> Iterable[sqlite3.Row]:
        """Run one write statement under the write lock (autocommit).

        A lone writer runs its statement in autocommit, one hop. A write
        that arrives while the lock is held by another task (or a group is
        already waiting for it) joins a group committed in one transaction
        (:mod:`.group_commit`); inside the caller's own ``write_context`` or
        transaction it runs there, never in a group. Acknowledged only
        after its commit, either way.

        Cancelled, the statement may still complete on the worker thread:
        the lock is held until it has, so no other writer's statement or
        transaction starts while it runs.
        """
        lock = self.lock
        if (lock.locked() or self.group.pending) and not lock.held_by_current_task:
            return await self.group.submit(sql, params)
        async with lock:
            db = self.db
            try:
                rows: list[Any] = await _on_thread(
                    db, _fetchall, _conn(db), sql, params
                )
                return rows
            except asyncio.CancelledError:
                await drain(db)
                raise

    async def write_many(self, sql: str, rows: Sequence[Any]) -> None:
        """``executemany`` in one transaction: every row is written or none.

        Joins (as a savepoint) the caller's open transaction.
        """
        db = self.db
        async with transaction(db, self.lock):
            await _on_thread(db, _executemany, _conn(db), sql, rows)

    def transaction(
        self, operation: str | None = None
    ) -> AbstractAsyncContextManager[None]:
        """:func:`transaction` on these connections (see there)."""
        return transaction(self.db, self.lock, operation)

    async def batch_error(
        self,
        exc: BaseException,
        operation: str,
        keys: list[Any],
        existing_sql: str | None = None,
    ) -> PersistenceError:
        """The persistence error of a failed batch write (nothing was written).

        A duplicate key is named (:meth:`name_duplicates`); another
        constraint's error says the batch rolled back.
        """
        error = map_sqlite_error(exc, operation)
        if isinstance(error, DuplicateRecordError):
            return await self.name_duplicates(error, keys, existing_sql)
        if isinstance(error, ConstraintViolationError):
            error.args = (f"{error}: nothing was written",)
        return error

    async def name_duplicates(
        self,
        error: DuplicateRecordError,
        keys: list[Any],
        existing_sql: str | None = None,
    ) -> DuplicateRecordError:
        """The error of a failed batch, naming the duplicate keys it held.

        Keys repeated within the batch are named; otherwise ``existing_sql``
        (single-column keys: ``... WHERE key IN (SELECT value FROM
        json_each(?))``) finds those already stored. A failing look-up names
        none: the batch error itself must still be raised.
        """
        named = duplicate_keys(keys)
        if not named and existing_sql is not None:
            try:
                rows = await self.read(existing_sql, (json_dumps(keys),))
                named = [row[0] for row in rows]
            except (sqlite3.Error, ValueError):
                named = []
        return duplicate_error(error, named)


class SQLiteRepositoryBase:
    """What every generated SQLite repository shares: the backend's connections.

    Generated methods run their statements on ``self._conns``; hand-written
    custom bodies use the public :attr:`executor` (the same object).
    """

    __slots__ = ("_conns",)

    def __init__(self, conns: Connections) -> None:
        self._conns = conns

    @property
    def executor(self) -> Connections:
        """The connections this repository runs its statements on."""
        return self._conns
