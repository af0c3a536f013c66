"""SQLite implementations: generated, tuned/naive aiosqlite, sqlite3, ORM.

Each implementation gets its own copy of one pre-filled database file, so
the rollback-journal file of the naive version and the WAL files of the
others never meet, and each sees the same data.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from bench.common import (
    SQLITE_SQL,
    BulkFn,
    Impl,
    Mode,
    make_task,
    sqlite_params,
    task_from_sqlite_row,
)
from bench.orm import OrmImpl, SqliteTaskRow, sqlite_pragmas
from synthorg.persistence import (
    PersistenceBackend,
    PersistenceConfig,
    SQLiteConfig,
    create_backend,
)
from synthorg.persistence.generated.tasks import Task, TaskFilterSpec, TaskRepository

SQL = SQLITE_SQL


class GeneratedSqlite(Impl):
    """The generated repository, through the public backend API."""

    name = "generated"
    kind = "generated"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._backend: PersistenceBackend | None = None
        self._repo: TaskRepository | None = None

    async def open(self) -> None:
        """create_backend + connect + migrate (a no-op on the filled copy)."""
        backend = create_backend(
            PersistenceConfig(
                backend="sqlite", sqlite=SQLiteConfig(path=str(self._path))
            )
        )
        await backend.connect()
        await backend.migrate()
        self._backend = backend
        self._repo = backend.tasks

    async def close(self) -> None:
        """Disconnect the backend."""
        if self._backend is not None:
            await self._backend.disconnect()

    @property
    def repo(self) -> TaskRepository:
        """The tasks repository."""
        assert self._repo is not None
        return self._repo

    async def get(self, tid: str) -> Task | None:
        """``tasks.get``."""
        return await self.repo.get(tid)

    async def upsert(self, task: Task) -> None:
        """``tasks.save``."""
        await self.repo.save(task)

    async def page(self, project: str, limit: int) -> Sequence[Task]:
        """``tasks.query(TaskFilterSpec(project=…), limit)``."""
        return await self.repo.query(TaskFilterSpec(project=project), limit=limit)

    async def count(self, project: str) -> int:
        """``tasks.count(TaskFilterSpec(project=…))``."""
        return await self.repo.count(TaskFilterSpec(project=project))

    def bulk_variants(self) -> dict[str, BulkFn]:
        """``save_many`` once the generator has it; none yet."""
        save_many: BulkFn | None = getattr(self.repo, "save_many", None)
        return {} if save_many is None else {"save_many": save_many}


async def _open_aiosqlite(path: Path, *, tuned: bool) -> aiosqlite.Connection:
    if tuned:
        db = await aiosqlite.connect(path, isolation_level=None)
        await db.execute("PRAGMA synchronous = NORMAL")
    else:
        db = await aiosqlite.connect(path)
    await db.execute("PRAGMA busy_timeout = 30000")
    return db


class TunedAiosqlite(Impl):
    """Hand-written aiosqlite at its best: WAL, autocommit, one hop per call."""

    name = "aiosqlite tuned"
    kind = "tuned"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        """One connection in autocommit mode (isolation_level=None)."""
        self._db = await _open_aiosqlite(self._path, tuned=True)

    async def close(self) -> None:
        """Close the connection."""
        if self._db is not None:
            await self._db.close()

    @property
    def db(self) -> aiosqlite.Connection:
        """The connection."""
        assert self._db is not None
        return self._db

    async def get(self, tid: str) -> Task | None:
        """``execute_fetchall``: one hop."""
        for row in await self.db.execute_fetchall(SQL.get, (tid,)):
            return task_from_sqlite_row(row)
        return None

    async def upsert(self, task: Task) -> None:
        """One autocommit statement: one hop."""
        await self.db.execute(SQL.upsert, sqlite_params(task))

    async def page(self, project: str, limit: int) -> Sequence[Task]:
        """``execute_fetchall``: one hop."""
        rows = await self.db.execute_fetchall(SQL.page, (project, limit, 0))
        return [task_from_sqlite_row(r) for r in rows]

    async def count(self, project: str) -> int:
        """``execute_fetchall``: one hop."""
        rows = await self.db.execute_fetchall(SQL.count, (project,))
        return int(next(iter(rows))[0])

    def bulk_variants(self) -> dict[str, BulkFn]:
        """executemany inside BEGIN IMMEDIATE … COMMIT."""
        return {"executemany": self._bulk}

    async def _bulk(self, tasks: Sequence[Task]) -> None:
        db = self.db
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.executemany(SQL.insert, [sqlite_params(t) for t in tasks])
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")


class NaiveAiosqlite(Impl):
    """aiosqlite as usually written: execute, fetch, commit; rollback journal."""

    name = "aiosqlite naive"
    kind = "naive"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        """Default connection (implicit transactions), journal_mode=DELETE file."""
        self._db = await _open_aiosqlite(self._path, tuned=False)

    async def close(self) -> None:
        """Close the connection."""
        if self._db is not None:
            await self._db.close()

    @property
    def db(self) -> aiosqlite.Connection:
        """The connection."""
        assert self._db is not None
        return self._db

    async def get(self, tid: str) -> Task | None:
        """``async with db.execute(...) as cur: await cur.fetchone()``."""
        async with self.db.execute(SQL.get, (tid,)) as cur:
            row = await cur.fetchone()
        return None if row is None else task_from_sqlite_row(row)

    async def upsert(self, task: Task) -> None:
        """execute, then commit."""
        await self.db.execute(SQL.upsert, sqlite_params(task))
        await self.db.commit()

    async def page(self, project: str, limit: int) -> Sequence[Task]:
        """execute, then fetchall."""
        async with self.db.execute(SQL.page, (project, limit, 0)) as cur:
            rows = await cur.fetchall()
        return [task_from_sqlite_row(r) for r in rows]

    async def count(self, project: str) -> int:
        """execute, then fetchone."""
        async with self.db.execute(SQL.count, (project,)) as cur:
            row = await cur.fetchone()
        return 0 if row is None else int(row[0])

    def bulk_variants(self) -> dict[str, BulkFn]:
        """executemany, then commit."""
        return {"executemany": self._bulk}

    async def _bulk(self, tasks: Sequence[Task]) -> None:
        await self.db.executemany(SQL.insert, [sqlite_params(t) for t in tasks])
        await self.db.commit()


class SyncSqlite3(Impl):
    """The floor: stdlib sqlite3 called synchronously on the event loop thread."""

    name = "sqlite3 sync"
    kind = "floor"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Autocommit connection, WAL, synchronous=NORMAL."""
        conn = sqlite3.connect(self._path, isolation_level=None)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA busy_timeout = 30000")
        self._conn = conn

    async def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection."""
        assert self._conn is not None
        return self._conn

    async def get(self, tid: str) -> Task | None:
        """execute + fetchone, no thread hop."""
        row = self.conn.execute(SQL.get, (tid,)).fetchone()
        return None if row is None else task_from_sqlite_row(row)

    async def upsert(self, task: Task) -> None:
        """One autocommit statement."""
        self.conn.execute(SQL.upsert, sqlite_params(task))

    async def page(self, project: str, limit: int) -> Sequence[Task]:
        """execute + fetchall."""
        rows = self.conn.execute(SQL.page, (project, limit, 0)).fetchall()
        return [task_from_sqlite_row(r) for r in rows]

    async def count(self, project: str) -> int:
        """execute + fetchone."""
        return int(self.conn.execute(SQL.count, (project,)).fetchone()[0])

    def bulk_variants(self) -> dict[str, BulkFn]:
        """executemany inside BEGIN IMMEDIATE … COMMIT."""
        return {"executemany": self._bulk}

    async def _bulk(self, tasks: Sequence[Task]) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(SQL.insert, [sqlite_params(t) for t in tasks])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


# ----------------------------------------------------------------- set-up


async def prepare_master(path: Path, mode: Mode) -> None:
    """Create the schema with the generated backend, then fill ``tasks``."""
    backend = create_backend(
        PersistenceConfig(backend="sqlite", sqlite=SQLiteConfig(path=str(path)))
    )
    await backend.connect()
    await backend.migrate()
    await backend.disconnect()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            SQL.insert,
            (sqlite_params(make_task(i, mode.projects)) for i in range(mode.rows)),
        )
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def copy_for(master: Path, target: Path, *, rollback_journal: bool) -> None:
    """Copy the filled master; optionally switch the copy to journal_mode=DELETE."""
    shutil.copyfile(master, target)
    conn = sqlite3.connect(target, isolation_level=None)
    try:
        conn.execute(
            "PRAGMA journal_mode = DELETE"
            if rollback_journal
            else "PRAGMA journal_mode = WAL"
        )
    finally:
        conn.close()


def purge(path: Path, project: str) -> None:
    """Delete the rows a write workload added (untimed), keeping sizes equal."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute('DELETE FROM "tasks" WHERE "project" = ?', (project,))
    finally:
        conn.close()


def build(workdir: Path, master: Path) -> list[tuple[Impl, Path]]:
    """Every SQLite implementation with its own copy of the master file."""
    out: list[tuple[Impl, Path]] = []

    def path_for(slug: str, *, rollback_journal: bool = False) -> Path:
        target = workdir / f"{slug}.db"
        copy_for(master, target, rollback_journal=rollback_journal)
        return target

    p = path_for("generated")
    out.append((GeneratedSqlite(p), p))
    p = path_for("tuned")
    out.append((TunedAiosqlite(p), p))
    p = path_for("naive", rollback_journal=True)
    out.append((NaiveAiosqlite(p), p))
    p = path_for("sync")
    out.append((SyncSqlite3(p), p))
    p = path_for("orm")
    out.append(
        (
            OrmImpl(
                "SQLAlchemy ORM (aiosqlite)",
                f"sqlite+aiosqlite:///{p}",
                SqliteTaskRow,
                {"connect_args": {"timeout": 30}},
                sqlite_pragmas,
            ),
            p,
        )
    )
    return out
