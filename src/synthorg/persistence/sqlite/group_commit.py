"""SQLite group commit: concurrent single-statement writes in one transaction.

Owns the contended path of :meth:`Connections.write
<synthorg.persistence.sqlite.driver.Connections.write>`. A write that
arrives while the backend's write lock is held (another write, a
transaction, ``write_context``) or while a group is already waiting joins
the open *group* instead of queueing on the lock on its own. When the lock
frees, the group's runner takes it, closes the group and makes ONE hop to
the writer thread, which runs::

    BEGIN IMMEDIATE; <write 1>; <write 2>; ...; COMMIT

and every caller is resolved only after that ``COMMIT`` returned: an
acknowledged write is exactly as durable as an autocommit one (WAL,
``synchronous = NORMAL``). A write that fails (a constraint, a refused
value) gets its own error and the others commit: at the first failing
write the group is rolled back and run again with a savepoint around each
write (``SAVEPOINT g; <write>; RELEASE g``, ``ROLLBACK TO g`` on its
error), so the failing write is undone alone. When ``BEGIN``/``COMMIT``
fails, or a statement's error ends the transaction (SQLite rolls back on
e.g. an I/O error), every write of the group gets that error and nothing
of the group is stored. Two exceptions run each write of the group again
on its own (autocommit), so the others are stored and only the offending
writes fail, as they would alone: a statement out of space (SQLITE_FULL,
which also ends the transaction) and a ``COMMIT`` refused by a deferred
constraint.

Groups hold at most :data:`MAX_GROUP` writes (a longer queue forms several
groups, in arrival order), so one transaction stays short. A lone writer
never comes here (the driver checks first): it keeps its single hop.

Cancellation. A caller cancelled while its write waits in an open group is
dropped from it (nothing written). Once the group was handed to the thread,
the write may complete (as a cancelled autocommit write may): the caller
waits, through further cancellations, until the group's hop has finished
and then re-raises its ``CancelledError``; the other callers are
unaffected. The group runs in a task of its own, started with an empty
context, so its completion depends on no caller's task surviving; it keeps
the write lock until the thread has finished the group.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import aiosqlite

if TYPE_CHECKING:
    from synthorg.persistence.sqlite.driver import WriteLock

logger = logging.getLogger(__name__)

#: Most writes one group (one transaction) holds.
MAX_GROUP = 128
_SP = "synthorg_group"
# ``_execute(db, fn, *args)``: run ``fn(*args)`` on the connection's thread
# (private aiosqlite API; driver.py checks at import that it exists).
_on_thread: Callable[..., Awaitable[Any]] = aiosqlite.Connection._execute


class _Write:
    """One caller's statement and the future its result is delivered to."""

    __slots__ = ("future", "params", "sql")

    def __init__(self, sql: str, params: Any, future: asyncio.Future[Any]) -> None:
        self.sql = sql
        self.params = params
        self.future = future


class _Group:
    """Writes that go to the thread together, in arrival order."""

    __slots__ = ("done", "handed", "writes")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.writes: list[_Write] = []
        self.handed = False  # given to the thread: no longer cancellable
        self.done: asyncio.Future[None] = loop.create_future()


def _one(conn: sqlite3.Connection, sql: str, params: Any) -> list[Any]:
    cursor = conn.cursor()
    try:
        return cursor.execute(sql, params).fetchall()
    finally:
        cursor.close()  # the statement reset on every path


def _alone(conn: sqlite3.Connection, writes: list[tuple[str, Any]]) -> list[Any]:
    """Worker thread: each write in autocommit; a result or an error each."""
    results: list[Any] = []
    for sql, params in writes:
        try:
            results.append(_one(conn, sql, params))
        except Exception as exc:  # delivered to its caller
            results.append(exc)
    return results


def _quiet_rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK").close()
        except sqlite3.Error as exc:  # pragma: no cover - rollback rarely fails
            logger.error("sqlite group rollback failed: %s", exc)


def run_group(conn: sqlite3.Connection, writes: list[tuple[str, Any]]) -> list[Any]:
    """Worker thread: ``writes`` in one transaction, each failing alone.

    Returns one entry per write: its rows, or the exception it raised
    (nothing of it stored). Raises, with the whole group rolled back, when
    ``BEGIN``/``COMMIT`` fails or a statement's error ended the transaction.

    The group first runs without savepoints (they cost a quarter of a small
    insert). At the first failing write it is rolled back and run again
    with one savepoint per write (:func:`_run_guarded`), so that write is
    undone alone whatever SQLite's conflict resolution left behind.
    """
    conn.execute("BEGIN IMMEDIATE").close()
    results: list[Any] = []
    try:
        for sql, params in writes:
            try:
                results.append(_one(conn, sql, params))
            except Exception:
                break
        else:
            return _commit(conn, writes, results)
    except BaseException:
        _quiet_rollback(conn)
        raise
    _quiet_rollback(conn)
    return _run_guarded(conn, writes)


def _run_guarded(conn: sqlite3.Connection, writes: list[tuple[str, Any]]) -> list[Any]:
    """:func:`run_group` with a savepoint around each write."""
    conn.execute("BEGIN IMMEDIATE").close()
    results: list[Any] = []
    try:
        for sql, params in writes:
            conn.execute(f"SAVEPOINT {_SP}").close()
            try:
                rows = _one(conn, sql, params)
            except Exception as exc:
                if not conn.in_transaction:
                    # SQLite rolled the whole transaction back. Out of
                    # space (SQLITE_FULL, or max_page_count reached): run
                    # each write alone, so the ones that fit are stored.
                    # Anything else fails the group.
                    if getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL":
                        return _alone(conn, writes)
                    raise
                conn.execute(f"ROLLBACK TO {_SP}").close()
                conn.execute(f"RELEASE {_SP}").close()
                results.append(exc)
                continue
            conn.execute(f"RELEASE {_SP}").close()
            results.append(rows)
        return _commit(conn, writes, results)
    except BaseException:
        _quiet_rollback(conn)
        raise


def _commit(
    conn: sqlite3.Connection, writes: list[tuple[str, Any]], results: list[Any]
) -> list[Any]:
    """``COMMIT``; refused by a deferred constraint, each write on its own."""
    try:
        conn.execute("COMMIT").close()
    except sqlite3.IntegrityError:
        # A deferred constraint refused the COMMIT: find the write(s) that
        # broke it by running each one alone (autocommit).
        _quiet_rollback(conn)
        return _alone(conn, writes)
    return results


def _copy(exc: BaseException) -> BaseException:
    """A copy of ``exc`` per caller (each raises and chains its own)."""
    try:
        return copy.copy(exc)
    except Exception:  # fall back to the shared instance
        return exc


class GroupCommit:
    """The open group of one backend's writer and the tasks that run groups."""

    __slots__ = ("_db", "_lock", "_open", "_runners", "failed", "grouped", "groups")

    def __init__(self, db: aiosqlite.Connection, lock: WriteLock) -> None:
        self._db = db
        self._lock = lock
        self._open: _Group | None = None
        self._runners: set[asyncio.Task[None]] = set()
        #: Groups of two or more writes committed together (a statistic).
        self.groups = 0
        #: Writes those groups held.
        self.grouped = 0
        #: Groups of two or more writes that failed whole (BEGIN/COMMIT).
        self.failed = 0

    @property
    def pending(self) -> bool:
        """Whether a group is open (writes are waiting for the lock)."""
        return self._open is not None

    async def submit(self, sql: str, params: Any) -> list[Any]:
        """Run one write in the open group; its rows once the group committed."""
        loop = asyncio.get_running_loop()
        group = self._open
        if group is None or len(group.writes) >= MAX_GROUP:
            group = _Group(loop)
            self._open = group
            runner = loop.create_task(self._run(group), context=contextvars.Context())
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)
        write = _Write(sql, params, loop.create_future())
        group.writes.append(write)
        try:
            rows: list[Any] = await write.future
        except asyncio.CancelledError:
            if group.handed:
                await _outlast(group.done)
            raise
        return rows

    async def _run(self, group: _Group) -> None:
        """The group's own task: take the lock, run the group, deliver."""
        try:
            async with self._lock:
                if self._open is group:
                    self._open = None
                writes = [w for w in group.writes if not w.future.done()]
                if writes:
                    group.handed = True
                    await self._execute(writes)
        except BaseException as exc:
            # Cancelled while waiting for the lock (the loop is shutting
            # down): nothing was handed to the thread.
            if self._open is group:
                self._open = None
            for w in group.writes:
                if not w.future.done():
                    if isinstance(exc, asyncio.CancelledError):
                        w.future.cancel()
                    else:
                        w.future.set_exception(_copy(exc))
            if not isinstance(exc, Exception):
                raise
            logger.error("sqlite group commit failed: %s", exc)
        finally:
            if not group.done.done():
                group.done.set_result(None)

    async def _execute(self, writes: list[_Write]) -> None:
        """One hop for ``writes``; wait for it through cancellations."""
        db = self._db
        try:
            conn: sqlite3.Connection = db._conn
        except ValueError as exc:  # closed
            _fail(writes, exc)
            return
        if len(writes) == 1:
            w = writes[0]
            job = asyncio.ensure_future(
                _on_thread(db, _alone, conn, [(w.sql, w.params)])
            )
        else:
            batch = [(w.sql, w.params) for w in writes]
            job = asyncio.ensure_future(_on_thread(db, run_group, conn, batch))
        cancelled: asyncio.CancelledError | None = None
        while not job.done():
            try:
                await asyncio.shield(job)
            except asyncio.CancelledError as exc:
                if job.cancelled():  # pragma: no cover - the loop is closing
                    raise
                cancelled = cancelled or exc
            except BaseException:  # read from the job below
                break
        if job.cancelled():  # pragma: no cover - the loop is closing
            _fail(writes, asyncio.CancelledError())
        elif (error := job.exception()) is not None:
            if len(writes) > 1:
                self.failed += 1
            _fail(writes, error)
        else:
            if len(writes) > 1:
                self.groups += 1
                self.grouped += len(writes)
            for w, result in zip(writes, job.result(), strict=True):
                if w.future.done():  # its caller was cancelled meanwhile
                    continue
                if isinstance(result, BaseException):
                    w.future.set_exception(result)
                else:
                    w.future.set_result(result)
        if cancelled is not None:
            raise cancelled


def _fail(writes: list[_Write], error: BaseException) -> None:
    """Every write of a failed group gets (a copy of) the group's error."""
    for w in writes:
        if not w.future.done():
            if isinstance(error, asyncio.CancelledError):
                w.future.cancel()
            else:
                w.future.set_exception(_copy(error))


async def _outlast(done: asyncio.Future[None]) -> None:
    """Wait until ``done`` through cancellations (the caller re-raises its own)."""
    while not done.done():
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            if done.cancelled():  # pragma: no cover - the loop is closing
                return
