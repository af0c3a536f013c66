"""Applying revisions on SQLite, and reading the ones a database recorded.

Each revision runs in the driver's ``BEGIN IMMEDIATE`` transaction (SQLite's
write lock on the file, so a second process waits, then finds the revision
recorded) under the backend's write lock. Revisions run with foreign-key
enforcement off (the pragma cannot change inside a transaction, so it is set
around it): a table rebuild drops and recreates a referenced table, which
with enforcement on would cascade or fail. ``PRAGMA foreign_key_check`` then
runs before the commit, so a revision that leaves a dangling reference rolls
back. Loading, checksums and status are dialect-neutral
(:mod:`synthorg.persistence.migrations`).
"""

from __future__ import annotations

import sqlite3
import time

import aiosqlite

from synthorg.persistence.errors import MigrationError
from synthorg.persistence.migrations import (
    CREATE_TABLE,
    SELECT_APPLIED,
    Revision,
    insert_revision,
    log_applied,
    now_text,
    revision_file,
    split_sqlite,
    statement_failed,
    verify,
)
from synthorg.persistence.sqlite.driver import WriteLock, fetch, restore, transaction

INSERT_REVISION = insert_revision("?")


async def applied_sqlite(db: aiosqlite.Connection) -> dict[str, str]:
    """The revisions recorded in a SQLite database (none if never migrated)."""
    try:
        # The driver's fetch releases the statement on every path.
        rows = await fetch(db, SELECT_APPLIED)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return {}
        raise
    return {str(r[0]): str(r[1]) for r in rows}


class _AlreadyApplied(Exception):
    """Ends a revision's transaction: another process applied it meanwhile."""


async def migrate_sqlite(
    db: aiosqlite.Connection, lock: WriteLock, revisions: tuple[Revision, ...]
) -> list[str]:
    """Apply pending revisions; returns the names applied.

    Each revision runs in the driver's cancellation-safe transaction: a
    cancelled or failing migration rolls the current revision back before
    the write lock is released, and foreign-key enforcement is restored
    even when the task is cancelled meanwhile.
    """
    applied_now: list[str] = []
    async with lock:
        enforced = False
        try:
            rows = await fetch(db, "PRAGMA foreign_keys")
            enforced = bool(next(iter(rows))[0])
            await fetch(db, CREATE_TABLE)
            for revision in revisions:
                # Off around the transaction (a no-op inside one), as SQLite's
                # documented table rebuild requires; checked before COMMIT.
                await fetch(db, "PRAGMA foreign_keys = OFF")
                # BEGIN IMMEDIATE takes SQLite's write lock on the file, so a
                # second process waits here, then sees the revision recorded.
                try:
                    async with transaction(db, lock):
                        rows = await fetch(db, SELECT_APPLIED)
                        applied = {str(r[0]): str(r[1]) for r in rows}
                        verify(applied, revisions)
                        if revision.name in applied:
                            raise _AlreadyApplied
                        started = time.perf_counter()
                        for index, statement in enumerate(
                            split_sqlite(revision.sql), 1
                        ):
                            try:
                                await fetch(db, statement)
                            except (sqlite3.Error, ValueError) as exc:
                                raise statement_failed(
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
                            INSERT_REVISION,
                            (revision.name, revision.checksum, now_text()),
                        )
                except _AlreadyApplied:
                    continue
                log_applied("sqlite", revision.name, started)
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
