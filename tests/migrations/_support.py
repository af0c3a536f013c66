"""Helpers of the upgrade tests: evolve a schema folder, drive a raw database.

:func:`evolve` runs the generator's migration stage (spec -> IR -> plan)
against a tmp ``generated/`` folder and writes only what the runner and the
drift check read (revisions, state, desired DDL). :class:`Db` is a raw
connection to a fresh SQLite file or PostgreSQL database that applies the
revisions of that folder with the production runner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from psycopg_pool import AsyncConnectionPool

from codegen.build import build
from codegen.pipeline import plan_migrations
from codegen.render import render_ir
from codegen.spec import load_schema
from synthorg.persistence.drift import desired_ddl
from synthorg.persistence.migrations import load_revisions
from synthorg.persistence.postgres.drift import postgres_drift
from synthorg.persistence.postgres.migrations import migrate_postgres
from synthorg.persistence.sqlite.drift import sqlite_drift
from synthorg.persistence.sqlite.driver import WriteLock
from synthorg.persistence.sqlite.migrations import migrate_sqlite

CASES = Path(__file__).parent / "cases"


def evolve(
    schema_dir: Path, out: Path, allow_destructive: bool = False
) -> dict[str, str]:
    """Plan against ``out``'s history; write and return the changed files."""
    schema = build(load_schema(schema_dir))
    files = {**render_ir(schema), **plan_migrations(schema, out, allow_destructive)}
    changed: dict[str, str] = {}
    for path, text in files.items():
        if not path.startswith(("migrations/", "ddl/")):
            continue
        target = out / path
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            changed[path] = text
    return changed


class Db:
    """A raw database of one dialect; ``?`` placeholders on both."""

    def __init__(
        self,
        dialect: str,
        sqlite: aiosqlite.Connection | None = None,
        pool: AsyncConnectionPool[Any] | None = None,
    ) -> None:
        self.dialect = dialect
        self._sqlite = sqlite
        self._pool = pool

    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else sql.replace("?", "%s")

    async def execute(self, sql: str, *params: Any) -> None:
        if self._sqlite is not None:
            await self._sqlite.execute(sql, params)
            return
        assert self._pool is not None
        async with self._pool.connection() as conn:
            await conn.execute(self._sql(sql).encode(), params)

    async def fetch(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self._sqlite is not None:
            return [tuple(r) for r in await self._sqlite.execute_fetchall(sql, params)]
        assert self._pool is not None
        async with self._pool.connection() as conn:
            cur = await conn.execute(self._sql(sql).encode(), params)
            return [tuple(r) for r in await cur.fetchall()]

    async def migrate(self, generated: Path) -> list[str]:
        """Apply ``generated``'s pending revisions with the production runner."""
        if self._sqlite is not None:
            revisions = load_revisions("sqlite", generated)
            return await migrate_sqlite(self._sqlite, WriteLock(), revisions)
        assert self._pool is not None
        return await migrate_postgres(self._pool, load_revisions("postgres", generated))

    async def drift(self, generated: Path) -> list[str]:
        """The drift check against ``generated``'s desired DDL."""
        if self._sqlite is not None:
            return await sqlite_drift(self._sqlite, desired_ddl("sqlite", generated))
        assert self._pool is not None
        async with self._pool.connection() as conn:
            return await postgres_drift(conn, desired_ddl("postgres", generated))


@asynccontextmanager
async def open_db(dialect: str, where: str) -> AsyncIterator[Db]:
    """A :class:`Db` on a SQLite file path or a PostgreSQL conninfo."""
    if dialect == "sqlite":
        conn = await aiosqlite.connect(where, isolation_level=None)
        await conn.execute("PRAGMA foreign_keys = ON")
        try:
            yield Db("sqlite", sqlite=conn)
        finally:
            await conn.close()
        return
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        where, kwargs={"autocommit": True}, min_size=1, max_size=2, open=False
    )
    await pool.open(wait=True)
    try:
        yield Db("postgres", pool=pool)
    finally:
        await pool.close()
