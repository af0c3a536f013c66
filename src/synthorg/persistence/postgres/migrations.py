"""Applying revisions on PostgreSQL, and TimescaleDB hypertables.

One query reads the applied revisions first; with nothing pending that is
all. Each pending revision runs in its own transaction holding a
transaction-level advisory lock (:data:`ADVISORY_LOCK_KEY`), so concurrent
migrators queue and then find the revision recorded. A failing revision is
replayed statement by statement in a savepoint that is always rolled back,
to name the statement that fails. With TimescaleDB
(:func:`migrate_postgres` ``hypertables``), the entities the YAML marks
``timeseries`` become hypertables after the revisions; see
:func:`hypertable_statements`. Loading, checksums and status are
dialect-neutral (:mod:`synthorg.persistence.migrations`).
"""

from __future__ import annotations

import re
import time
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg import errors as pg_errors

from synthorg.persistence.errors import MigrationError, PersistenceConnectionError
from synthorg.persistence.migrations import (
    CREATE_TABLE,
    SELECT_APPLIED,
    Revision,
    has_statements,
    insert_revision,
    log_applied,
    now_text,
    revision_file,
    split_sqlite,
    statement_failed,
    verify,
)
from synthorg.persistence.postgres.driver import Pool, is_connection_loss

# Arbitrary constant key of the PostgreSQL advisory lock that serialises
# migrations across processes ("synthorg" in ASCII, as a 64-bit integer).
ADVISORY_LOCK_KEY = 0x73796E74686F7267

# A dollar-quoted body ($$ ... $$, $tag$ ... $tag$), which split_sqlite would
# cut; a pattern's anchor ('^[A-Z]{3}$') does not match.
_DOLLAR_QUOTE = re.compile(r"\$[A-Za-z_]*\$")

INSERT_REVISION = insert_revision("%s")


async def applied_postgres(pool: Pool) -> dict[str, str]:
    """The revisions recorded in a PostgreSQL database (none if never migrated)."""
    async with pool.connection() as conn:
        return await _applied_postgres(conn)


class _Rollback(Exception):
    """Ends a diagnostic replay's savepoint, rolling its work back."""


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
    applied_now: list[str] = []
    try:
        async with pool.connection() as conn:
            applied = await _applied_postgres(conn)
            verify(applied, revisions)
            for revision in revisions:
                if revision.name in applied:
                    continue
                async with conn.transaction():
                    # Held until this transaction ends: concurrent migrators
                    # queue here and then find the revision already recorded.
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,)
                    )
                    await conn.execute(CREATE_TABLE)
                    cur = await conn.execute(SELECT_APPLIED)
                    applied = {str(r[0]): str(r[1]) for r in await cur.fetchall()}
                    verify(applied, revisions)
                    if revision.name in applied:
                        continue
                    started = time.perf_counter()
                    await _apply_postgres(conn, revision)
                    await conn.execute(
                        INSERT_REVISION,
                        (revision.name, revision.checksum, now_text()),
                    )
                log_applied("postgres", revision.name, started)
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
    if not has_statements(revision.sql):
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
    found: MigrationError | None = None
    try:
        async with conn.transaction():
            for index, statement in enumerate(split_sqlite(revision.sql), 1):
                try:
                    await conn.execute(statement.encode("utf-8"))
                except psycopg.Error as exc:
                    if is_connection_loss(exc):
                        raise
                    found = statement_failed(
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
    try:
        cur = await conn.execute(SELECT_APPLIED)
    except pg_errors.UndefinedTable:
        return {}
    return {str(r[0]): str(r[1]) for r in await cur.fetchall()}


TIMESCALE_MISSING = (
    "timescaledb extension is not installed on this server: install it or set "
    "enable_timescaledb=False"
)


def timeseries() -> dict[str, str]:
    """The time-series tables and their time column (``timeseries`` in the YAML).

    Read from the generated manifest, so marking an append-only entity
    ``timeseries: <column>`` is all it takes to make it a hypertable.
    """
    from synthorg.persistence.generated.manifest import TIMESERIES

    return TIMESERIES


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
    time = timeseries()[table]
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
