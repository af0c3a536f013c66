"""Apply the generated migration revisions, on either dialect.

Revisions are the ``generated/migrations/<dialect>/NNNN_name.sql`` files the
generator writes from the YAML history. Each is applied in its own
transaction, under a lock (``BEGIN IMMEDIATE`` on SQLite, a transaction-level
advisory lock on PostgreSQL) so two processes migrating at once apply each
revision once. Applied revisions are recorded in ``_synthorg_migrations``
with a SHA-256 checksum; a recorded revision whose file changed, or a
recorded revision this code does not know, is refused with
:class:`SchemaVersionError` (a :class:`MigrationError`).
:func:`migration_status` is the one comparison of a database's recorded
revisions with the code's; ``connect()`` uses it to withdraw the
repositories from a database that is behind, ahead or edited.

SQLite revisions run with foreign-key enforcement off (the pragma cannot
change inside a transaction, so it is set around it): a table rebuild drops
and recreates a referenced table, which with enforcement on would cascade
or fail. ``PRAGMA foreign_key_check`` then runs before the commit, so a
revision that leaves a dangling reference rolls back.

With TimescaleDB (:func:`migrate_postgres` ``hypertables``), the
append-only time-series tables become hypertables after the revisions; see
:func:`hypertable_statements`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from synthorg.persistence.errors import (
    MigrationError,
    PersistenceConnectionError,
    SchemaVersionError,
)

if TYPE_CHECKING:
    import aiosqlite
    from psycopg import AsyncConnection

    from synthorg.persistence.postgres.driver import Pool
    from synthorg.persistence.sqlite.driver import WriteLock

logger = logging.getLogger(__name__)

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

    @functools.cached_property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def load_revisions(
    dialect: Literal["sqlite", "postgres"], generated: Path | None = None
) -> tuple[Revision, ...]:
    """The revisions of ``dialect`` in order (from ``generated`` if given)."""
    if generated is None:
        return _packaged_revisions(dialect)
    return _read_revisions(dialect, generated)


@functools.cache
def _packaged_revisions(dialect: Literal["sqlite", "postgres"]) -> tuple[Revision, ...]:
    # The installed package's files do not change while it runs: read once.
    return _read_revisions(dialect, None)


def _read_revisions(
    dialect: Literal["sqlite", "postgres"], generated: Path | None
) -> tuple[Revision, ...]:
    folder = (
        (
            resources.files("synthorg.persistence.generated")
            if generated is None
            else generated
        )
        / "migrations"
        / dialect
    )
    revisions = [
        Revision(name=item.name.removesuffix(".sql"), sql=item.read_text("utf-8"))
        for item in folder.iterdir()
        if item.name.endswith(".sql")
    ]
    return tuple(sorted(revisions, key=lambda r: r.name))


# A dollar-quoted body ($$ ... $$, $tag$ ... $tag$), which split_sqlite would
# cut; a pattern's anchor ('^[A-Z]{3}$') does not match.
_DOLLAR_QUOTE = re.compile(r"\$[A-Za-z_]*\$")


def revision_file(dialect: str, name: str) -> str:
    """The revision's file, as shipped: ``migrations/<dialect>/<name>.sql``."""
    return f"migrations/{dialect}/{name}.sql"


def _excerpt(statement: str, limit: int = 300) -> str:
    """A statement on one line, cut at ``limit`` characters, for an error."""
    flat = " ".join(
        line.strip()
        for line in statement.splitlines()
        if line.strip() and not line.strip().startswith("--")
    )
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _statement_failed(
    dialect: str, revision: Revision, index: int, statement: str, exc: Exception
) -> MigrationError:
    """The error of a failed statement: the file, which statement, the cause."""
    return MigrationError(
        f"revision {revision_file(dialect, revision.name)} failed at statement "
        f"{index} `{_excerpt(statement)}`: {type(exc).__name__}: {exc}"
    )


def _log_applied(dialect: str, name: str, started: float) -> None:
    """One INFO line per applied revision, with its duration."""
    duration_ms = (time.perf_counter() - started) * 1000
    logger.info(
        "%s migration %s applied in %.1f ms",
        dialect,
        name,
        duration_ms,
        extra={
            "revision": name,
            "dialect": dialect,
            "duration_ms": duration_ms,
        },
    )


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


def _has_statements(sql: str) -> bool:
    """Whether a revision holds anything but comments (one dialect may not)."""
    return any(
        line.strip() and not line.strip().startswith("--") for line in sql.splitlines()
    )


@dataclass(frozen=True)
class MigrationStatus:
    """How a database's applied revisions compare with this code's.

    ``applied`` are the revisions recorded in the database (in order),
    ``pending`` the code's revisions it lacks, ``unknown`` the recorded
    revisions this code does not know (the database was migrated by newer
    code) and ``mismatched`` the recorded revisions whose checksum differs
    from the code's file (an applied revision was edited).
    """

    applied: tuple[str, ...]
    pending: tuple[str, ...]
    unknown: tuple[str, ...]
    mismatched: tuple[str, ...]

    @property
    def up_to_date(self) -> bool:
        """Whether the database is exactly at this code's revisions."""
        return not (self.pending or self.unknown or self.mismatched)

    def error(self) -> SchemaVersionError | None:
        """The error repository calls raise on this database, or None."""
        if self.up_to_date:
            return None
        return SchemaVersionError(
            pending=self.pending, unknown=self.unknown, mismatched=self.mismatched
        )


def migration_status(
    applied: Mapping[str, str], revisions: tuple[Revision, ...]
) -> MigrationStatus:
    """Compare ``applied`` (revision -> checksum, as recorded) with ``revisions``.

    The one place where "is this database at this code's schema?" is
    decided: ``connect()`` gates the repositories on it and ``migrate()``
    refuses unknown or edited revisions with it.
    """
    known = {r.name: r.checksum for r in revisions}
    return MigrationStatus(
        applied=tuple(sorted(applied)),
        pending=tuple(r.name for r in revisions if r.name not in applied),
        unknown=tuple(sorted(name for name in applied if name not in known)),
        mismatched=tuple(
            sorted(
                name
                for name, checksum in applied.items()
                if name in known and known[name] != checksum
            )
        ),
    )


def _verify(applied: dict[str, str], revisions: tuple[Revision, ...]) -> None:
    """Refuse to migrate a database with unknown or edited revisions."""
    status = migration_status(applied, revisions)
    if status.unknown or status.mismatched:
        raise SchemaVersionError(unknown=status.unknown, mismatched=status.mismatched)


async def applied_sqlite(db: aiosqlite.Connection) -> dict[str, str]:
    """The revisions recorded in a SQLite database (none if never migrated)."""
    from synthorg.persistence.sqlite.driver import fetch

    try:
        # The driver's fetch releases the statement on every path.
        rows = await fetch(db, f'SELECT revision, checksum FROM "{MIGRATIONS_TABLE}"')
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return {}
        raise
    return {str(r[0]): str(r[1]) for r in rows}


async def applied_postgres(pool: Pool) -> dict[str, str]:
    """The revisions recorded in a PostgreSQL database (none if never migrated)."""
    async with pool.connection() as conn:
        return await _applied_postgres(conn)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class _AlreadyApplied(Exception):
    """Ends a revision's transaction: another process applied it meanwhile."""


class _Rollback(Exception):
    """Ends a diagnostic replay's savepoint, rolling its work back."""


async def migrate_sqlite(
    db: aiosqlite.Connection, lock: WriteLock, revisions: tuple[Revision, ...]
) -> list[str]:
    """Apply pending revisions; returns the names applied.

    Each revision runs in the driver's cancellation-safe transaction: a
    cancelled or failing migration rolls the current revision back before
    the write lock is released, and foreign-key enforcement is restored
    even when the task is cancelled meanwhile.
    """
    from synthorg.persistence.sqlite.driver import fetch, restore, transaction

    applied_now: list[str] = []
    async with lock:
        enforced = False
        try:
            rows = await fetch(db, "PRAGMA foreign_keys")
            enforced = bool(next(iter(rows))[0])
            await fetch(db, _CREATE_TABLE)
            for revision in revisions:
                # Off around the transaction (a no-op inside one), as SQLite's
                # documented table rebuild requires; checked before COMMIT.
                await fetch(db, "PRAGMA foreign_keys = OFF")
                # BEGIN IMMEDIATE takes SQLite's write lock on the file, so a
                # second process waits here, then sees the revision recorded.
                try:
                    async with transaction(db, lock):
                        rows = await fetch(
                            db, f'SELECT revision, checksum FROM "{MIGRATIONS_TABLE}"'
                        )
                        applied = {str(r[0]): str(r[1]) for r in rows}
                        _verify(applied, revisions)
                        if revision.name in applied:
                            raise _AlreadyApplied
                        started = time.perf_counter()
                        for index, statement in enumerate(
                            split_sqlite(revision.sql), 1
                        ):
                            try:
                                await fetch(db, statement)
                            except (sqlite3.Error, ValueError) as exc:
                                raise _statement_failed(
                                    "sqlite", revision, index, statement, exc
                                ) from exc
                        if await fetch(db, "PRAGMA foreign_key_check"):
                            raise MigrationError(
                                f"revision "
                                f"{revision_file('sqlite', revision.name)} "
                                "leaves foreign key violations"
                            )
                        await fetch(
                            db,
                            f'INSERT INTO "{MIGRATIONS_TABLE}" VALUES (?, ?, ?)',
                            (revision.name, revision.checksum, _now()),
                        )
                except _AlreadyApplied:
                    continue
                _log_applied("sqlite", revision.name, started)
                applied_now.append(revision.name)
        except MigrationError:
            raise
        except (sqlite3.Error, ValueError) as exc:
            raise MigrationError(f"sqlite migration failed: {exc}") from exc
        finally:
            # Also the barrier that keeps the lock until the worker thread
            # has finished a cancelled statement.
            await restore(db, "PRAGMA foreign_keys = ON" if enforced else None)
    return applied_now


async def migrate_postgres(
    pool: Pool,
    revisions: tuple[Revision, ...],
    hypertables: dict[str, str] | None = None,
) -> list[str]:
    """Apply pending revisions; returns the names applied.

    One query reads the applied revisions first; with nothing pending that
    is all (no lock, no transaction). ``hypertables`` (table -> chunk
    interval) then turns those tables into TimescaleDB hypertables, once.

    Raises:
        MigrationError: A revision failed, or the database holds a revision
            this code does not know or one that changed.
        PersistenceConnectionError: The connection was lost or the server
            did not answer (retryable; a revision in flight rolled back).
    """
    import psycopg

    from synthorg.persistence.postgres.driver import is_connection_loss

    applied_now: list[str] = []
    try:
        async with pool.connection() as conn:
            applied = await _applied_postgres(conn)
            _verify(applied, revisions)
            for revision in revisions:
                if revision.name in applied:
                    continue
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
                    started = time.perf_counter()
                    await _apply_postgres(conn, revision)
                    await conn.execute(
                        f'INSERT INTO "{MIGRATIONS_TABLE}" VALUES (%s, %s, %s)',
                        (revision.name, revision.checksum, _now()),
                    )
                _log_applied("postgres", revision.name, started)
                applied_now.append(revision.name)
            if hypertables:
                await enable_hypertables(conn, hypertables)
    except MigrationError:
        raise
    except psycopg.Error as exc:
        if is_connection_loss(exc):
            raise PersistenceConnectionError(
                f"migrate: connection to PostgreSQL lost or not answering "
                f"(nothing half-applied; retry): {exc}"
            ) from exc
        raise MigrationError(f"postgres migration failed: {exc}") from exc
    return applied_now


async def _apply_postgres(conn: AsyncConnection[Any], revision: Revision) -> None:
    """Run a revision as one script; on failure, find the failing statement.

    The script runs in a savepoint of the revision's transaction (one round
    trip on success). When it fails, the savepoint has rolled its work
    back, and the statements are replayed one by one in another savepoint,
    always rolled back, to name the one that fails (DDL on the same state
    fails at the same place). A revision with dollar quoting, which the
    statement splitter cannot cut, is named without its statement. A lost
    connection is not a statement's fault: it propagates unchanged
    (retryable).
    """
    import psycopg

    from synthorg.persistence.postgres.driver import is_connection_loss

    if not _has_statements(revision.sql):
        return
    try:
        async with conn.transaction():
            await conn.execute(revision.sql.encode("utf-8"))
    except psycopg.Error as exc:
        if is_connection_loss(exc):
            raise
        failed: MigrationError | None = None
        if not _DOLLAR_QUOTE.search(revision.sql):
            failed = await _locate_postgres(conn, revision)
        if failed is None:
            failed = MigrationError(
                f"revision {revision_file('postgres', revision.name)} failed: "
                f"{type(exc).__name__}: {exc}"
            )
        raise failed from exc


async def _locate_postgres(
    conn: AsyncConnection[Any], revision: Revision
) -> MigrationError | None:
    """Replay a failed revision statement by statement; the failing one's error."""
    import psycopg

    from synthorg.persistence.postgres.driver import is_connection_loss

    found: MigrationError | None = None
    try:
        async with conn.transaction():
            for index, statement in enumerate(split_sqlite(revision.sql), 1):
                try:
                    await conn.execute(statement.encode("utf-8"))
                except psycopg.Error as exc:
                    if is_connection_loss(exc):
                        raise
                    found = _statement_failed(
                        "postgres", revision, index, statement, exc
                    )
                    break
            raise _Rollback  # never keep the replay's work
    except _Rollback:
        pass
    except MigrationError:  # split_sqlite: an incomplete statement
        return None
    return found


async def _applied_postgres(conn: AsyncConnection[Any]) -> dict[str, str]:
    """Applied revision -> checksum; empty when the table does not exist yet."""
    from psycopg import errors as pg_errors

    try:
        cur = await conn.execute(f'SELECT revision, checksum FROM "{MIGRATIONS_TABLE}"')
    except pg_errors.UndefinedTable:
        return {}
    return {str(r[0]): str(r[1]) for r in await cur.fetchall()}


# The append-only time-series tables and their time column (``time_field``).
TIME_COLUMNS = {"audit_entries": "timestamp", "cost_records": "timestamp"}
TIMESCALE_MISSING = (
    "timescaledb extension is not installed on this server: install it or set "
    "enable_timescaledb=False"
)


def hypertable_statements(table: str, key: tuple[str, ...], interval: str) -> list[str]:
    """The statements turning ``table`` (primary key ``key``) into a hypertable.

    TimescaleDB requires every unique index, the primary key included, to
    contain the partitioning column: when ``key`` lacks the time column the
    key is widened to ``(key..., time)``. The id then stays unique per
    instant rather than globally (append() still refuses an exact repeat);
    this is the documented trade-off of ``enable_timescaledb``.
    ``interval`` is validated by ``PostgresConfig`` (an allow-list), since
    DDL cannot take it as a bind parameter. Apache-2.0 features only.
    """
    time = TIME_COLUMNS[table]
    statements: list[str] = []
    if time not in key:
        columns = ", ".join(f'"{c}"' for c in (*key, time))
        alter = f'ALTER TABLE "{table}"'
        statements += [
            f'{alter} DROP CONSTRAINT "pk_{table}"',
            f'{alter} ADD CONSTRAINT "pk_{table}" PRIMARY KEY ({columns})',
        ]
    statements.append(
        f"SELECT create_hypertable('\"{table}\"', '{time}', "
        f"chunk_time_interval => INTERVAL '{interval}', "
        "migrate_data => true, if_not_exists => true, "
        # Our own (time, id) indexes serve the time column already.
        "create_default_indexes => false)"
    )
    return statements


async def enable_hypertables(
    conn: AsyncConnection[tuple[object, ...]], hypertables: dict[str, str]
) -> None:
    """Make each table a hypertable (idempotent), under the migration lock."""
    cur = await conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    )
    if await cur.fetchone() is None:
        raise MigrationError(TIMESCALE_MISSING)
    for table, interval in sorted(hypertables.items()):
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            cur = await conn.execute(
                "SELECT 1 FROM timescaledb_information.hypertables "
                "WHERE hypertable_name = %s",
                (table,),
            )
            if await cur.fetchone() is not None:
                continue
            cur = await conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = %s::regclass AND i.indisprimary "
                "ORDER BY array_position(i.indkey, a.attnum)",
                (f'"{table}"',),
            )
            key = tuple(str(row[0]) for row in await cur.fetchall())
            for statement in hypertable_statements(table, key, interval):
                await conn.execute(statement.encode("utf-8"))
