"""PostgreSQL driver helpers: pool, connection class, scope, error mapping.

:class:`Executor` is the one way repositories run statements: the version
repositories, the hand-written custom bodies and the generated repositories'
batch error path use it, the counterpart of SQLite's ``Connections``.

Every generated PostgreSQL repository maps psycopg errors through
:func:`map_postgres_error`; SQLSTATE classes, not message text, decide the
persistence error.

Server faults are handled here, once, for every call path (generated
repositories, version repositories, custom bodies, ``transaction()``,
``health_check``, ``migrate``), because they all run on connections of
:class:`SynthorgPool`:

* :class:`PooledConnection` bounds every network wait psycopg makes (each
  statement, fetch, COPY flush, COMMIT/ROLLBACK) by the config's
  ``operation_timeout_seconds``. ``asyncio.timeout()`` cannot do it:
  psycopg answers a cancellation by sending a cancel request and waiting
  for the server again (5 s + 5 s in psycopg 3.3), which a frozen server
  never answers. On expiry the connection is closed, so the pool discards
  it, and :class:`OperationTimeoutError` (a ``psycopg.OperationalError``,
  hence a retryable ``PersistenceConnectionError`` naming the operation)
  is raised.
* :class:`SynthorgPool` checks a connection on checkout only when it could
  be dead: idle for more than :data:`PING_AFTER_IDLE` seconds, or its
  socket is readable while idle (the server closed it, e.g. on restart).
  A busy connection costs one ``poll()`` with zero timeout, no round
  trip. It also caps the pool's reconnect backoff at
  :data:`RECONNECT_DELAY_MAX` so the pool recovers within about a second
  of the server coming back.
* The password is added to the connection parameters only inside
  :meth:`PooledConnection.connect`; it never sits in the pool's kwargs.
"""

from __future__ import annotations

import logging
import re
import select
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, TypeAlias

import psycopg
from psycopg import errors as pg_errors
from psycopg.abc import PQGen
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from psycopg_pool.pool_async import AddConnection
from pydantic import SecretStr

from synthorg.persistence._constraints import (
    is_primary_key,
    postgres_unique_constraint,
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
from synthorg.persistence.support import duplicate_keys

logger = logging.getLogger(__name__)

PING_AFTER_IDLE = 1.0
"""Seconds a pooled connection may sit idle before checkout pings it."""

RECONNECT_DELAY_MAX = 0.25
"""Cap (seconds) on the pool's delay between reconnection attempts."""

# psycopg's internal "wait timeout expired" (an OperationalError subclass).
_WAIT_TIMEOUT: type[Exception] = getattr(
    pg_errors, "_WaitTimeout", psycopg.OperationalError
)
_WAIT_INTERVAL = 0.1  # psycopg's default poll interval for a wait
_UNSET: Any = object()


class OperationTimeoutError(psycopg.OperationalError):
    """The server did not answer within ``operation_timeout_seconds``.

    The connection was closed (its state is unknown), so the pool discards
    it. Mapped to a retryable :class:`PersistenceConnectionError`.
    """


@dataclass(eq=False)
class ConnectSettings:
    """What each connection attempt of one backend needs beyond the kwargs.

    ``password`` stays a ``SecretStr`` here (masked in every ``repr``);
    ``on_failure`` receives the reason of a failed attempt (never the
    exception, whose ``pgconn`` snapshot holds the password) and whether it
    is retryable.
    """

    password: SecretStr
    operation_timeout: float
    on_failure: Callable[[str, bool], None] | None = field(default=None)


# Server messages of a refused login (libpq reports no SQLSTATE for a failed
# connection attempt, only the server's text): class 28 and 3D000. A server
# localised to another language falls back to "retryable".
_REFUSED_LOGIN = re.compile(
    r"password authentication failed|authentication failed for user"
    r"|no pg_hba\.conf entry|role \".*\" does not exist"
    r"|database \".*\" does not exist|password is required|no password supplied",
)


def connect_failure(exc: BaseException) -> tuple[str, bool]:
    """The reason a connection attempt failed, and whether it is retryable."""
    sqlstate = getattr(exc, "sqlstate", None) or ""
    reason = " ".join(str(exc).split())  # one line, libpq's hints included
    if sqlstate.startswith("28") or sqlstate == "3D000":
        return reason, False
    return reason, _REFUSED_LOGIN.search(reason) is None


class PooledConnection(psycopg.AsyncConnection[TupleRow]):
    """A psycopg connection whose every network wait is bounded.

    Subclassed per backend (:func:`connection_class`) to carry its
    :class:`ConnectSettings`.
    """

    settings: ClassVar[ConnectSettings]
    _idle_since: float = 0.0

    @classmethod
    async def connect(cls, conninfo: str = "", **kwargs: Any) -> PooledConnection:
        """Connect, adding the password only for this attempt."""
        settings = cls.settings
        try:
            conn = await super().connect(
                conninfo, password=settings.password.get_secret_value(), **kwargs
            )
        except Exception as exc:
            if settings.on_failure is not None:
                reason, retryable = connect_failure(exc)
                secret = settings.password.get_secret_value()
                if len(secret) >= 4:  # libpq never echoes it; belt and braces
                    reason = reason.replace(secret, "**********")
                settings.on_failure(reason, retryable)
            raise
        conn._idle_since = time.monotonic()
        return conn

    async def wait(
        self,
        gen: PQGen[Any],
        interval: float = _WAIT_INTERVAL,
        timeout: float | None = _UNSET,  # noqa: ASYNC109 (psycopg's signature)
    ) -> Any:
        """psycopg's wait, bounded by the operation timeout unless told otherwise.

        A caller passing ``timeout`` explicitly (``notifies()``) keeps
        psycopg's own behaviour.
        """
        if timeout is not _UNSET:
            return await super().wait(gen, interval, timeout)
        limit = self.settings.operation_timeout
        try:
            result = await super().wait(gen, interval, limit)
        except _WAIT_TIMEOUT:
            # Mid-protocol with a silent server: the state is unknown, so
            # the connection is closed and the pool will replace it.
            self.pgconn.finish()
            raise OperationTimeoutError(
                f"no answer from the server within {limit:g} s "
                "(operation_timeout_seconds); the connection was closed"
            ) from None
        self._idle_since = time.monotonic()
        return result


def connection_class(settings: ConnectSettings) -> type[PooledConnection]:
    """A :class:`PooledConnection` subclass bound to one backend's settings."""
    return type("PooledConnection", (PooledConnection,), {"settings": settings})


def _socket_readable(conn: psycopg.AsyncConnection[TupleRow]) -> bool:
    """Whether an idle connection has something to read (EOF when closed)."""
    try:
        poller = select.poll()  # ~1 µs; select.select costs twice as much
        poller.register(conn.pgconn.socket, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError, psycopg.Error):
        return True


class SynthorgPool(AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]):
    """The backend's pool: dead connections are not handed out; fast recovery."""

    async def getconn(
        self,
        timeout: float | None = None,  # noqa: ASYNC109 (psycopg_pool's signature)
    ) -> psycopg.AsyncConnection[TupleRow]:
        """A connection that is alive, as far as a cheap check can tell.

        A connection idle for more than :data:`PING_AFTER_IDLE` seconds, or
        whose socket is readable while idle, is pinged with an empty query;
        a dead one is closed and the next is tried at once (no backoff).
        """
        if timeout is None:
            timeout = self.timeout
        deadline = time.monotonic() + timeout
        while True:
            conn = await super().getconn(max(deadline - time.monotonic(), 1e-3))
            now = time.monotonic()
            idle_since: float = getattr(conn, "_idle_since", 0.0)
            if now - idle_since <= PING_AFTER_IDLE and not _socket_readable(conn):
                return conn
            try:
                await conn.execute("")
            except Exception as exc:
                logger.info("discarding a dead pooled connection: %s", exc)
                conn.pgconn.finish()
                await self.putconn(conn)
                if time.monotonic() >= deadline:
                    raise PoolTimeout(
                        f"couldn't get a live connection after {timeout:.2f} sec"
                    ) from None
                continue
            except BaseException:
                await self.putconn(conn)
                raise
            return conn

    async def _get_ready_connection(
        self,
        timeout: float | None,  # noqa: ASYNC109 (psycopg_pool's signature)
    ) -> psycopg.AsyncConnection[TupleRow] | None:
        """The most recently returned idle connection (LIFO), not the oldest.

        psycopg_pool hands idle connections out first in, first out, so
        sequential calls rotate over every server process of the pool, each
        cold in the CPU's caches: a 5,000-row count took ~1.3x as long as on
        one hot connection. Last in, first out keeps the hot ones busy (as
        asyncpg's pool does) and leaves the cold ones at the head of the
        queue, where the pool's shrinking takes them from.
        """
        conn = await super()._get_ready_connection(timeout)
        idle = getattr(self, "_pool", None)
        if conn is not None and idle and isinstance(idle, deque):
            idle.appendleft(conn)
            conn = idle.pop()
        return conn

    async def schedule_task(self, task: Any, delay: float) -> None:
        """Schedule maintenance; reconnection attempts wait at most the cap.

        psycopg_pool doubles the delay after each failed attempt (1 s, 2 s,
        4 s, ...), so after a long outage the pool would come back many
        seconds after the server did.
        """
        if isinstance(task, AddConnection):
            delay = min(delay, RECONNECT_DELAY_MAX)
        await super().schedule_task(task, delay)


# SQLSTATEs of a session the server ended: admin/crash shutdown, starting up.
_SERVER_GONE = frozenset({"57P01", "57P02", "57P03"})


def is_connection_loss(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection is gone, not that the SQL failed.

    A pool timeout, an operation timeout, a client-side connection error
    (no SQLSTATE), a class-08 connection exception or a server shutdown.
    """
    if isinstance(exc, PoolTimeout | OperationTimeoutError):
        return True
    if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    sqlstate = exc.sqlstate or ""
    return not sqlstate or sqlstate.startswith("08") or sqlstate in _SERVER_GONE


Pool: TypeAlias = AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]
"""The backend's pool (a :class:`SynthorgPool`): autocommit, tuple rows."""


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


_KEEP_RESULT_ROWS = 256
"""A reused cursor whose last result had more rows is dropped, not kept."""


@asynccontextmanager
async def _checkout(
    pool: Pool,
) -> AsyncIterator[
    tuple[psycopg.AsyncConnection[TupleRow], psycopg.AsyncCursor[TupleRow] | None]
]:
    """A connection and, when it is checked out for this call alone, its cursor.

    A pooled connection keeps one cursor for the statements the executor
    runs on it: creating a cursor per statement (its adapters and
    transformer) cost ~15 % of a point read's client CPU. Inside
    ``transaction()`` the joined connection may serve several tasks of the
    block at once, each needing its own result: no shared cursor there.
    """
    current = _CURRENT.get()
    if current is not None and current[0] is pool:
        yield current[1], None
        return
    async with pool.connection() as conn:
        cur: psycopg.AsyncCursor[TupleRow] | None = getattr(conn, "_cursor", None)
        if cur is None or cur.closed:
            cur = conn.cursor()
            conn._cursor = cur  # type: ignore[attr-defined]
        yield conn, cur


def _release_large(
    conn: psycopg.AsyncConnection[TupleRow], cur: psycopg.AsyncCursor[TupleRow]
) -> None:
    """Drop a kept cursor holding a large result, so the rows can be freed."""
    if cur.rowcount > _KEEP_RESULT_ROWS:
        conn._cursor = None  # type: ignore[attr-defined]


class Executor:
    """Statements on the backend's pool, joining ``transaction()`` when open.

    Each call checks out an autocommit connection (or joins the open
    :func:`transaction` of this pool in this context, see :func:`connection`)
    and runs one prepared statement: one round trip. psycopg errors
    propagate unmapped, as SQLite's ``Connections`` lets ``sqlite3`` errors
    through; callers map them with :func:`map_postgres_error` naming their
    operation, or open :meth:`transaction` with an ``operation``.
    """

    __slots__ = ("pool",)

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def execute(self, sql: str, params: Any = ()) -> int:
        """Run one statement; the number of rows it affected."""
        async with _checkout(self.pool) as (conn, cur):
            if cur is None:
                cur = await conn.execute(sql, params, prepare=True)
            else:
                await cur.execute(sql, params, prepare=True)
            return cur.rowcount

    async def fetch_one(self, sql: str, params: Any = ()) -> Any | None:
        """Run one statement; its first row, or None."""
        async with _checkout(self.pool) as (conn, cur):
            if cur is None:
                cur = await conn.execute(sql, params, prepare=True)
                return await cur.fetchone()
            await cur.execute(sql, params, prepare=True)
            row = await cur.fetchone()
            _release_large(conn, cur)
            return row

    async def fetch_all(self, sql: str, params: Any = ()) -> list[Any]:
        """Run one statement; all its rows."""
        async with _checkout(self.pool) as (conn, cur):
            if cur is None:
                cur = await conn.execute(sql, params, prepare=True)
                return await cur.fetchall()
            await cur.execute(sql, params, prepare=True)
            rows = await cur.fetchall()
            _release_large(conn, cur)
            return rows

    async def write_many(self, sql: str, rows: Sequence[Any]) -> None:
        """``executemany`` in one transaction: every row is written or none.

        Joins (as a savepoint) the caller's open transaction.
        """
        async with transaction(self.pool) as conn, conn.cursor() as cur:
            await cur.executemany(sql, rows)

    @asynccontextmanager
    async def transaction(
        self, operation: str | None = None
    ) -> AsyncIterator[psycopg.AsyncConnection[TupleRow]]:
        """:func:`transaction` on this pool; repository calls in it join it.

        With ``operation``, a psycopg error (from the block or the COMMIT)
        is raised as the mapped persistence error naming it; other
        exceptions propagate unchanged, after the rollback.
        """
        try:
            async with transaction(self.pool) as conn:
                yield conn
        except psycopg.Error as exc:
            if operation is None:
                raise
            raise map_postgres_error(exc, operation) from exc

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
        error = map_postgres_error(exc, operation)
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
        (single-column keys: ``... WHERE key = ANY(%s)``) finds those
        already stored. A failing look-up names none: the batch error itself
        must still be raised.
        """
        named = duplicate_keys(keys)
        if not named and existing_sql is not None:
            try:
                rows = await self.fetch_all(existing_sql, (keys,))
                named = [row[0] for row in rows]
            except psycopg.Error:
                named = []
        return duplicate_error(error, named)


class PostgresRepositoryBase:
    """What every generated PostgreSQL repository shares: the pool, its executor.

    Generated methods run their statements on ``self._pool`` (or
    ``self._executor``); hand-written custom bodies use the public
    :attr:`executor`.
    """

    __slots__ = ("_executor", "_pool")

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._executor = Executor(pool)

    @property
    def executor(self) -> Executor:
        """The executor this repository runs its statements on."""
        return self._executor
