"""Code and database must be at the same revisions before anything runs.

``connect()`` reads the database's applied revisions (one query) and
compares them with the code's (``migration_status``). A database that is
behind (pending revisions), ahead (revisions this code does not know) or
holds an edited revision (checksum mismatch) gets a non-retryable
:class:`SchemaVersionError` naming the revisions from every repository
accessor; ``migrate()`` still runs, and when it succeeds the repositories
come back. Both backends.

The regression of issue 9, defect 3: code whose entity gained a renamed
column, run against a database not yet migrated, read the column's *name*
as its value on SQLite (its double-quoted-string fallback).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Literal

import pytest

from synthorg.persistence import (
    MigrationError,
    PersistenceBackend,
    PersistenceConfig,
    SchemaVersionError,
    create_backend,
)
from synthorg.persistence.migrations import MIGRATIONS_TABLE, load_revisions
from synthorg.persistence.sqlite.backend import STRICT_IDENTIFIERS
from tests.migrations._support import open_db
from tests.test_lifecycle import assert_schema_gated, make_task, raw_execute

ROOT = Path(__file__).resolve().parent.parent


def _dialect(config: PersistenceConfig) -> Literal["sqlite", "postgres"]:
    return "sqlite" if config.backend == "sqlite" else "postgres"


def _where(config: PersistenceConfig) -> str:
    """A raw connection target (file path or conninfo) for ``open_db``."""
    if config.backend == "sqlite":
        assert config.sqlite is not None
        return config.sqlite.path
    pg = config.postgres
    assert pg is not None
    return (
        f"host={pg.host} port={pg.port} dbname={pg.database} "
        f"user={pg.username} password={pg.password.get_secret_value()}"
    )


def _names(config: PersistenceConfig) -> tuple[str, ...]:
    return tuple(r.name for r in load_revisions(_dialect(config)))


async def _connected(config: PersistenceConfig) -> PersistenceBackend:
    backend = create_backend(config)
    await backend.connect()
    return backend


async def test_fresh_database_is_behind_until_migrate(
    backend_config: PersistenceConfig,
) -> None:
    backend = await _connected(backend_config)
    try:
        everything = _names(backend_config)
        status = await backend.migration_status()
        assert status.applied == ()
        assert status.pending == everything
        assert not status.up_to_date
        await assert_schema_gated(backend, pending=everything)
        # health_check still answers: the server is fine, the schema is not.
        assert await backend.health_check() is True

        await backend.migrate()
        status = await backend.migration_status()
        assert status.up_to_date and status.applied == everything
        await backend.tasks.save(make_task("after-migrate"))
        assert await backend.tasks.get("after-migrate") is not None
    finally:
        await backend.disconnect()


async def test_database_one_revision_behind_is_gated_until_migrate(
    backend_config: PersistenceConfig, tmp_path: Path
) -> None:
    # A database migrated by the previous release: every revision but the last.
    dialect = _dialect(backend_config)
    *older, last = sorted((ROOT / "generated" / "migrations" / dialect).iterdir())
    folder = tmp_path / "previous" / "migrations" / dialect
    folder.mkdir(parents=True)
    for revision in older:
        shutil.copy(revision, folder / revision.name)
    async with open_db(dialect, _where(backend_config)) as db:
        assert await db.migrate(tmp_path / "previous") == [r.stem for r in older]

    backend = await _connected(backend_config)
    try:
        await assert_schema_gated(backend, pending=(last.stem,))
        with pytest.raises(SchemaVersionError, match="run migrate"):
            await backend.tasks.get("any")
        await backend.migrate()
        assert (await backend.migration_status()).up_to_date
        await backend.tasks.save(make_task("usable"))
        assert await backend.tasks.get("usable") is not None
    finally:
        await backend.disconnect()

    # A reconnect finds the database current: nothing is gated.
    backend = await _connected(backend_config)
    try:
        assert await backend.tasks.get("usable") is not None
    finally:
        await backend.disconnect()


async def test_database_ahead_of_the_code_is_gated_at_connect(
    backend_config: PersistenceConfig,
) -> None:
    backend = await _connected(backend_config)
    await backend.migrate()
    await raw_execute(
        backend,
        f"INSERT INTO \"{MIGRATIONS_TABLE}\" VALUES ('9999_future', 'x', 'now')",
    )
    await backend.disconnect()

    backend = await _connected(backend_config)
    try:
        await assert_schema_gated(backend, unknown=("9999_future",))
        with pytest.raises(SchemaVersionError, match="older than the database"):
            backend.tasks  # noqa: B018
        # migrate() cannot help (it refuses the unknown revision): still gated.
        with pytest.raises(SchemaVersionError) as refused:
            await backend.migrate()
        assert refused.value.unknown == ("9999_future",)
        await assert_schema_gated(backend, unknown=("9999_future",))
    finally:
        await backend.disconnect()


async def test_edited_applied_revision_is_gated_at_connect(
    backend_config: PersistenceConfig,
) -> None:
    first = _names(backend_config)[0]
    backend = await _connected(backend_config)
    await backend.migrate()
    await raw_execute(
        backend,
        f"UPDATE \"{MIGRATIONS_TABLE}\" SET checksum = 'tampered' "
        f"WHERE revision = '{first}'",
    )
    await backend.disconnect()

    backend = await _connected(backend_config)
    try:
        await assert_schema_gated(backend, mismatched=(first,))
        with pytest.raises(MigrationError, match="checksum mismatch"):
            await backend.migrate()
        await assert_schema_gated(backend, mismatched=(first,))
    finally:
        await backend.disconnect()


async def test_code_ahead_of_a_renamed_column_never_reads_the_column_name(
    backend_config: PersistenceConfig,
) -> None:
    """Issue 9, defect 3, as observed: code renamed a field, migrate() not run.

    The database still has the old column (``client``) and lacks the last
    revision; the code selects and filters ``project``. Unchecked, SQLite
    returned ``'project'`` as every task's project and a filter on it
    matched whatever equalled the name; now nothing runs.
    """
    last = _names(backend_config)[-1]
    backend = await _connected(backend_config)
    await backend.migrate()
    await backend.tasks.save(make_task("t1", project="apollo"))
    await raw_execute(
        backend, 'ALTER TABLE "tasks" RENAME COLUMN "project" TO "client"'
    )
    await raw_execute(
        backend, f"DELETE FROM \"{MIGRATIONS_TABLE}\" WHERE revision = '{last}'"
    )
    if backend_config.backend == "sqlite":
        # The hazard is real at the driver level unless SQLite's fallback
        # can be switched off (Python >= 3.12): then the name is an error.
        db = backend.get_db()
        if STRICT_IDENTIFIERS:
            with pytest.raises(sqlite3.OperationalError, match="no such column"):
                await db.execute_fetchall('SELECT "project" FROM "tasks"')
        else:
            rows = await db.execute_fetchall('SELECT "project" FROM "tasks"')
            assert [tuple(r) for r in rows] == [("project",)]
    await backend.disconnect()

    backend = await _connected(backend_config)
    try:
        await assert_schema_gated(backend, pending=(last,))
        with pytest.raises(SchemaVersionError) as raised:
            await backend.tasks.get("t1")
        assert raised.value.is_retryable is False
        assert raised.value.pending == (last,)
    finally:
        await backend.disconnect()
