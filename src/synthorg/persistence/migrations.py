"""Apply the generated migration revisions, on either dialect.

Revisions are the ``generated/migrations/<dialect>/NNNN_name.sql`` files the
generator writes from the YAML history. Each is applied in its own
transaction, under a lock (``BEGIN IMMEDIATE`` on SQLite, a transaction-level
advisory lock on PostgreSQL) so two processes migrating at once apply each
revision once. Applied revisions are recorded in ``_synthorg_migrations``
with a SHA-256 checksum; a recorded revision whose file changed, or a
recorded revision this code does not know, is refused with
:class:`MigrationError`.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Literal

from synthorg.persistence.errors import MigrationError

if TYPE_CHECKING:
    import aiosqlite

    from synthorg.persistence.postgres.driver import Pool
    from synthorg.persistence.sqlite.driver import WriteLock

MIGRATIONS_TABLE = "_synthorg_migrations"
# Arbitrary constant key of the PostgreSQL advisory lock that serialises
# migrations across processes ("synthorg" in ASCII, as a 64-bit integer).
ADVISORY_LOCK_KEY = 0x73796E74686F7267

_CREATE_TABLE = (
    f'CREATE TABLE IF NOT EXISTS "{MIGRATIONS_TABLE}" ('
    " revision TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


@dataclass(frozen=True)
class Revision:
    """One migration revision of one dialect."""

    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def load_revisions(dialect: Literal["sqlite", "postgres"]) -> tuple[Revision, ...]:
    """The generated revisions of ``dialect`` in order."""
    folder = resources.files("synthorg.persistence.generated") / "migrations" / dialect
    revisions = [
        Revision(name=item.name.removesuffix(".sql"), sql=item.read_text("utf-8"))
        for item in folder.iterdir()
        if item.name.endswith(".sql")
    ]
    return tuple(sorted(revisions, key=lambda r: r.name))


def split_sqlite(sql: str) -> list[str]:
    """Split a script into complete statements (sqlite3 knows where they end)."""
    statements: list[str] = []
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statement = pending.strip()
            if statement and not all(
                part.strip().startswith("--") or not part.strip()
                for part in statement.splitlines()
            ):
                statements.append(statement)
            pending = ""
    if pending.strip() and not all(
        part.strip().startswith("--") or not part.strip()
        for part in pending.splitlines()
    ):
        raise MigrationError(
            f"incomplete SQL statement at the end of a revision: {pending!r}"
        )
    return statements


def _verify(applied: dict[str, str], revisions: tuple[Revision, ...]) -> None:
    known = {r.name: r for r in revisions}
    for name, checksum in sorted(applied.items()):
        revision = known.get(name)
        if revision is None:
            raise MigrationError(
                f"database has revision {name!r} that this version does not know; "
                "it was migrated by a newer schema"
            )
        if revision.checksum != checksum:
            raise MigrationError(
                f"revision {name!r} changed after it was applied (checksum mismatch); "
                "applied revisions must never be edited"
            )


def _now() -> str:
    return datetime.now(UTC).isoformat()


async def migrate_sqlite(
    db: aiosqlite.Connection, lock: WriteLock, revisions: tuple[Revision, ...]
) -> list[str]:
    """Apply pending revisions; returns the names applied."""
    applied_now: list[str] = []
    async with lock:
        try:
            await db.execute(_CREATE_TABLE)
            for revision in revisions:
                # BEGIN IMMEDIATE takes SQLite's write lock on the file, so a
                # second process waits here, then sees the revision recorded.
                await db.execute("BEGIN IMMEDIATE")
                try:
                    rows = await db.execute_fetchall(
                        f'SELECT revision, checksum FROM "{MIGRATIONS_TABLE}"'
                    )
                    applied = {str(r[0]): str(r[1]) for r in rows}
                    _verify(applied, revisions)
                    if revision.name in applied:
                        await db.execute("ROLLBACK")
                        continue
                    for statement in split_sqlite(revision.sql):
                        await db.execute(statement)
                    violations = await db.execute_fetchall("PRAGMA foreign_key_check")
                    if violations:
                        raise MigrationError(
                            f"revision {revision.name!r} leaves foreign key violations"
                        )
                    await db.execute(
                        f'INSERT INTO "{MIGRATIONS_TABLE}" VALUES (?, ?, ?)',
                        (revision.name, revision.checksum, _now()),
                    )
                    await db.execute("COMMIT")
                    applied_now.append(revision.name)
                except BaseException:
                    if db.in_transaction:
                        await db.execute("ROLLBACK")
                    raise
        except MigrationError:
            raise
        except (sqlite3.Error, ValueError) as exc:
            raise MigrationError(f"sqlite migration failed: {exc}") from exc
    return applied_now


async def migrate_postgres(pool: Pool, revisions: tuple[Revision, ...]) -> list[str]:
    """Apply pending revisions; returns the names applied."""
    import psycopg

    applied_now: list[str] = []
    try:
        async with pool.connection() as conn:
            for revision in revisions:
                async with conn.transaction():
                    # Held until this transaction ends: concurrent migrators
                    # queue here and then find the revision already recorded.
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,)
                    )
                    await conn.execute(_CREATE_TABLE)
                    cur = await conn.execute(
                        f'SELECT revision, checksum FROM "{MIGRATIONS_TABLE}"'
                    )
                    applied = {str(r[0]): str(r[1]) for r in await cur.fetchall()}
                    _verify(applied, revisions)
                    if revision.name in applied:
                        continue
                    await conn.execute(revision.sql.encode("utf-8"))
                    await conn.execute(
                        f'INSERT INTO "{MIGRATIONS_TABLE}" VALUES (%s, %s, %s)',
                        (revision.name, revision.checksum, _now()),
                    )
                applied_now.append(revision.name)
    except MigrationError:
        raise
    except psycopg.Error as exc:
        raise MigrationError(f"postgres migration failed: {exc}") from exc
    return applied_now
