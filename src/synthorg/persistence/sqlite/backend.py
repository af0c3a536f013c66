"""SQLite persistence backend: one aiosqlite connection, one write lock.

The connection runs in autocommit mode (``isolation_level=None``) so a
single-statement repository call is one hop to the aiosqlite thread with no
separate BEGIN/COMMIT. Writes hold the backend's :class:`WriteLock`.
``transaction()`` makes a group of repository calls one ``BEGIN IMMEDIATE``
transaction (all or nothing, also when cancelled); ``write_context`` only
holds the lock (a lock, not a transaction). File databases use WAL (readers
do not block the writer); ``:memory:`` cannot.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

import aiosqlite

from synthorg.persistence._backend_base import BackendBase
from synthorg.persistence.config import SQLiteConfig
from synthorg.persistence.errors import (
    PersistenceConnectionError,
    PersistenceError,
    QueryError,
)
from synthorg.persistence.generated.repositories import Repositories
from synthorg.persistence.generated.sqlite import build_repositories
from synthorg.persistence.migrations import Revision, load_revisions
from synthorg.persistence.sqlite.driver import (
    Connections,
    WriteLock,
    drain,
    fetch,
    map_sqlite_error,
    rollback,
    transaction,
)
from synthorg.persistence.sqlite.migrations import applied_sqlite, migrate_sqlite
from synthorg.persistence.types import NotBlankStr

if TYPE_CHECKING:
    from synthorg.persistence.protocol import PersistenceBackend

logger = logging.getLogger(__name__)


def _strict_identifiers(conn: sqlite3.Connection) -> bool:
    """Make an unknown double-quoted identifier an error, where SQLite allows.

    By default SQLite reads ``"name"`` as the string ``'name'`` when no
    column ``name`` exists (its legacy double-quoted-string fallback), so a
    query naming a missing column returns the column's name as data.
    ``SQLITE_DBCONFIG_DQS_DML``/``DQS_DDL`` turn the fallback off; Python
    exposes them (``Connection.setconfig``) from 3.12. On older Pythons the
    fallback stays and the revision check at ``connect()`` is what keeps
    code from running against a schema it does not match.
    """
    setconfig = getattr(conn, "setconfig", None)
    dml = getattr(sqlite3, "SQLITE_DBCONFIG_DQS_DML", None)
    ddl = getattr(sqlite3, "SQLITE_DBCONFIG_DQS_DDL", None)
    if setconfig is None or dml is None or ddl is None:
        return False
    setconfig(dml, False)
    setconfig(ddl, False)
    return True


# How long a statement waits for another connection's lock (busy_timeout),
# and how long connect() retries the WAL switch SQLite refuses without it.
_BUSY_TIMEOUT_MS = 5000


async def _enter_wal(db: aiosqlite.Connection) -> None:
    """Switch ``db`` to WAL, waiting out other processes doing the same.

    Changing the journal mode needs an exclusive lock, and SQLite reports
    ``database is locked`` at once -- without calling the busy handler --
    when another process opens the same new file and converts it in the
    same instant (seen as 1 in 100 two-process starts). So the switch is
    retried, with a short sleep, for as long as ``busy_timeout`` would wait.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if loop.time() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)


class _StrictConnection(sqlite3.Connection):
    """A connection with the double-quoted-string fallback off (Python 3.12+)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _strict_identifiers(self)


# Only where it has an effect: on older Pythons the plain class is used.
STRICT_IDENTIFIERS = hasattr(sqlite3.Connection, "setconfig") and hasattr(
    sqlite3, "SQLITE_DBCONFIG_DQS_DML"
)
_FACTORY: dict[str, Any] = {"factory": _StrictConnection} if STRICT_IDENTIFIERS else {}


def _file_of(path: str) -> str | None:
    """The filesystem path a configured path opens (None for in-memory)."""
    if _is_memory(path) or path == "":
        return None
    if not path.startswith("file:"):
        return path
    query = path.split("?", 1)[1] if "?" in path else ""
    if "mode=ro" in query.split("&"):
        return None  # read-only: SQLite will not create it
    rest = unquote(path.removeprefix("file:").split("?", 1)[0].split("#", 1)[0])
    if rest.startswith("//"):  # file://host/path: SQLite accepts localhost only
        rest = "/" + rest[2:].partition("/")[2]
    return rest or None


def _create_private(path: str) -> None:
    """Create a missing database file owner-only (0600) before SQLite opens it.

    The database holds password hashes and connection secrets. SQLite
    creates ``-wal``, ``-shm`` and ``-journal`` with the main file's
    permission bits, so they are owner-only too. An existing file is left
    as it is (never widened; a warning names a group/world-readable one).
    """
    target = _file_of(path)
    if target is None:
        return
    try:
        fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        try:
            mode = os.stat(target).st_mode
        except OSError:
            return
        if mode & 0o077:
            logger.warning(
                "sqlite database %s is readable by other users (mode %o); "
                "it holds password hashes and secrets: chmod 600 it",
                target,
                mode & 0o777,
            )
        return
    except OSError:
        return  # a missing directory and the like: SQLite reports it
    os.close(fd)


def _is_memory(path: str) -> bool:
    return (
        path == ":memory:"
        or (path.startswith("file:") and "mode=memory" in path)
        or path.startswith("file::memory:")
    )


async def _close_quietly(db: aiosqlite.Connection) -> None:
    """Close ``db`` even if the calling task is cancelled meanwhile.

    The close runs shielded (it finishes in the background if this await is
    cancelled again); a failure to close is logged, never raised over the
    error being propagated.
    """
    try:
        await asyncio.shield(db.close())
    except asyncio.CancelledError:
        raise
    except (sqlite3.Error, ValueError) as exc:  # pragma: no cover - rare
        logger.warning("sqlite close after a failed connect failed: %s", exc)


@dataclass
class _Opened:
    """What a connect() has opened so far (all closed if it fails)."""

    db: aiosqlite.Connection
    reader: aiosqlite.Connection | None = None
    inline: sqlite3.Connection | None = None


class SQLitePersistenceBackend(BackendBase[_Opened]):
    """SQLite implementation of the ``PersistenceBackend`` protocol."""

    _name = "sqlite"

    def __init__(self, config: SQLiteConfig) -> None:
        super().__init__()
        self._config = config
        self._db: aiosqlite.Connection | None = None
        self._conns: Connections | None = None
        self._write_lock = WriteLock()

    # -------------------------------------------------------------- identity

    @property
    def kind(self) -> Literal["sqlite"]:
        """The backend discriminator."""
        return "sqlite"

    @property
    def backend_name(self) -> NotBlankStr:
        """Human-readable backend identifier."""
        return "sqlite"

    @property
    def config(self) -> SQLiteConfig:
        """The backend's configuration (read-only)."""
        return self._config

    @property
    def is_connected(self) -> bool:
        """Whether the connection is open."""
        return self._db is not None

    # ------------------------------------------------------------- lifecycle
    # The flow (lock, gating, schema check, logging) is BackendBase's.

    async def _open_db(self, path: str) -> aiosqlite.Connection:
        try:
            return await aiosqlite.connect(
                path, isolation_level=None, uri=path.startswith("file:"), **_FACTORY
            )
        except (sqlite3.Error, OSError) as exc:
            raise PersistenceConnectionError(
                f"cannot open SQLite database {path!r}: {exc}"
            ) from exc

    async def _open_reader(self, path: str) -> aiosqlite.Connection:
        """A read-only connection: in WAL mode it reads committed data only."""
        reader = await self._open_db(path)
        try:
            await reader.execute("PRAGMA query_only = ON")
            await reader.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            await _close_quietly(reader)
            raise PersistenceConnectionError(
                f"cannot configure SQLite reader for {path!r}: {exc}"
            ) from exc
        except BaseException:
            await _close_quietly(reader)
            raise
        return reader

    def _open_inline(self, path: str) -> sqlite3.Connection | None:
        """The loop-thread connection for point reads (see Connections.read_point).

        Opened only for file databases in WAL mode, where a reader never waits
        for the writer. ``busy_timeout = 0`` and a VM-step budget bound how
        long a read can hold the event loop; past it the read is retried
        through the reader thread.
        """
        try:
            inline: sqlite3.Connection = sqlite3.connect(
                path, isolation_level=None, uri=path.startswith("file:"), **_FACTORY
            )
            inline.execute("PRAGMA query_only = ON")
            inline.execute("PRAGMA busy_timeout = 0")
        except sqlite3.Error as exc:
            logger.warning("sqlite inline reads disabled: %s", exc)
            return None
        return inline

    async def _open(self) -> _Opened:
        path = self._config.path
        await asyncio.to_thread(_create_private, path)
        return _Opened(await self._open_db(path))

    async def _prepare(self, handle: _Opened) -> dict[str, str]:
        path = self._config.path
        db = handle.db
        wal = self._config.wal_mode and not _is_memory(path)
        try:
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            if wal:
                await _enter_wal(db)
                # NORMAL is durable across application crashes in WAL mode
                # and avoids an fsync per commit.
                await db.execute("PRAGMA synchronous = NORMAL")
                limit = int(self._config.journal_size_limit)
                await db.execute(f"PRAGMA journal_size_limit = {limit}")
            applied = await applied_sqlite(db)
        except sqlite3.Error as exc:
            raise PersistenceConnectionError(
                f"cannot configure SQLite database {path!r}: {exc}"
            ) from exc
        # Without WAL a reader would block the writer (and :memory: is one
        # connection's private database): then reads share the writer.
        handle.reader = await self._open_reader(path) if wal else db
        if wal and self._config.inline_point_reads:
            handle.inline = self._open_inline(path)
        return applied

    async def _abandon(self, handle: _Opened) -> None:
        # Shielded and quiet: the close finishes even if this task is
        # cancelled again, and never hides the error being propagated.
        if handle.reader is not None and handle.reader is not handle.db:
            await _close_quietly(handle.reader)
        if handle.inline is not None:
            handle.inline.close()
        await _close_quietly(handle.db)

    def _attach(self, handle: _Opened) -> None:
        assert handle.reader is not None
        self._db = handle.db
        self._conns = Connections(
            handle.db, handle.reader, self._write_lock, handle.inline
        )
        self._conns.warm_inline()

    def _detach(self) -> _Opened | None:
        db, self._db = self._db, None
        conns, self._conns = self._conns, None
        if db is None:
            return None
        if conns is None:  # pragma: no cover - attached together
            return _Opened(db)
        return _Opened(db, conns.reader, conns.inline)

    async def _close(self, handle: _Opened) -> None:
        try:
            if handle.reader is not None and handle.reader is not handle.db:
                await handle.reader.close()
            if handle.inline is not None:
                handle.inline.close()
            await handle.db.close()
        except sqlite3.Error as exc:  # pragma: no cover - close rarely fails
            logger.warning("sqlite close failed: %s", exc)

    def _where(self) -> str:
        return f"path={self._config.path}"

    async def health_check(self) -> bool:
        """True when connected and the database answers a trivial query."""
        if self._db is None:
            return False
        try:
            rows = await fetch(self._db, "SELECT 1")
        except (sqlite3.Error, ValueError):
            return False
        return list(rows) == [(1,)]

    async def _apply_revisions(self) -> list[str]:
        return await migrate_sqlite(self.get_db(), self._write_lock, self._revisions())

    def _migrated(self, repos: Repositories) -> None:
        super()._migrated(repos)
        if self._conns is not None:
            self._conns.warm_inline()

    def _transaction(self) -> AbstractAsyncContextManager[object]:
        return transaction(self.get_db(), self._write_lock, "transaction")

    def _map_driver_error(
        self, exc: Exception, operation: str
    ) -> PersistenceError | None:
        if isinstance(exc, sqlite3.Error):
            return map_sqlite_error(exc, operation)
        return None

    def _revisions(self) -> tuple[Revision, ...]:
        return load_revisions("sqlite")

    async def _applied(self) -> dict[str, str]:
        return await applied_sqlite(self.get_db())

    def _build_repositories(self) -> Repositories:
        assert self._conns is not None
        return build_repositories(self._conns)

    def get_db(self) -> aiosqlite.Connection:
        """The shared aiosqlite connection."""
        if self._db is None:
            raise self._not_connected()
        return self._db

    @asynccontextmanager
    async def write_context(self) -> AsyncIterator[None]:
        """Hold the shared write lock for the block (re-entrant per task).

        A lock, not a transaction: each repository call in the block commits
        on its own, so a block that fails or is cancelled keeps the calls
        that completed. Use :meth:`transaction` for all-or-nothing.

        The lock is released only once the connection's thread has finished
        the block's statements. A transaction the block began itself (a raw
        ``BEGIN`` on :meth:`get_db`) and did not end is rolled back before
        the lock is released; on a normal exit that is an error.
        """
        db = self._db
        async with self._write_lock:
            outer = db is None or db.in_transaction
            try:
                yield
            except BaseException:
                if db is not None:
                    await (drain(db) if outer else rollback(db))
                raise
            if not outer and db is not None and self._db is db and db.in_transaction:
                await rollback(db)
                raise QueryError(
                    "write_context: the block left the transaction it began open; "
                    "it was rolled back (use backend.transaction())"
                )


if TYPE_CHECKING:  # mypy proves the backend satisfies the protocol
    _conforms: PersistenceBackend = SQLitePersistenceBackend(SQLiteConfig())
