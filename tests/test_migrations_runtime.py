"""Migrations against the real schema: drift check, processes, TimescaleDB, docs.

* The drift check finds a hand-made change (an extra column, a dropped
  index) on both dialects, and nothing on a database built from revisions.
* Two OS processes migrating one database apply each revision once.
* ``enable_timescaledb`` on a server without the extension fails clearly.
* The walk-through of ``docs/migrations.md``, step by step, in a tmp copy.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from synthorg.persistence import PersistenceBackend, PersistenceConfig, create_backend
from synthorg.persistence.drift import check_drift
from synthorg.persistence.errors import MigrationError
from synthorg.persistence.generated import Heartbeat
from synthorg.persistence.migrations import MIGRATIONS_TABLE
from synthorg.persistence.postgres.migrations import TIMESCALE_MISSING
from tests.migrations._support import open_db

ROOT = Path(__file__).resolve().parent.parent


async def _raw(backend: PersistenceBackend, sql: str) -> None:
    if backend.backend_name == "sqlite":
        await backend.get_db().execute(sql)
        return
    async with backend.get_db().connection() as conn:
        await conn.execute(sql.encode())


async def test_drift_check_is_clean_on_a_migrated_database(
    backend: PersistenceBackend,
) -> None:
    assert await check_drift(backend) == []


async def test_drift_check_reports_an_extra_column_and_a_dropped_index(
    backend: PersistenceBackend,
) -> None:
    await _raw(backend, 'ALTER TABLE "heartbeats" ADD COLUMN "extra" TEXT')
    await _raw(backend, 'DROP INDEX "ix_heartbeats_last_heartbeat_at_execution_id"')
    await _raw(backend, 'CREATE TABLE "stray" ("x" INTEGER)')
    problems = await check_drift(backend)
    assert "unexpected table 'stray'" in problems
    assert any(p.startswith("heartbeats: unexpected columns 'extra'") for p in problems)
    assert any(
        p.startswith(
            "heartbeats: missing indexes 'ix_heartbeats_last_heartbeat_at_execution_id'"
        )
        for p in problems
    )
    assert len(problems) == 3, problems


async def test_drift_command_line(backend_config: PersistenceConfig) -> None:
    backend = create_backend(backend_config)
    await backend.connect()
    await backend.migrate()
    await _raw(backend, 'ALTER TABLE "heartbeats" ADD COLUMN "extra" TEXT')
    await backend.disconnect()
    if backend_config.backend == "sqlite":
        assert backend_config.sqlite is not None
        target = ["--sqlite", backend_config.sqlite.path]
    else:
        pg = backend_config.postgres
        assert pg is not None
        target = [
            "--dsn",
            f"host={pg.host} port={pg.port} dbname={pg.database} user={pg.username} "
            f"password={pg.password.get_secret_value()}",
        ]
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "synthorg.persistence.drift", *target],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "heartbeats: unexpected columns 'extra'" in result.stderr


async def test_two_processes_migrating_at_once_apply_each_revision_once(
    backend_config: PersistenceConfig,
) -> None:
    if backend_config.backend == "sqlite":
        assert backend_config.sqlite is not None
        where = backend_config.sqlite.path
    else:
        pg = backend_config.postgres
        assert pg is not None
        where = "|".join(
            [
                pg.host,
                str(pg.port),
                pg.database,
                pg.username,
                pg.password.get_secret_value(),
            ]
        )
    env = {**os.environ, "KIND": backend_config.backend, "WHERE": where}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.migrations.migrate_child",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = await asyncio.wait_for(
        asyncio.gather(*(p.communicate() for p in procs)), timeout=120
    )
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
        assert out.decode().strip() == "ok"
    backend = create_backend(backend_config)
    await backend.connect()
    try:
        assert await check_drift(backend) == []
        if backend_config.backend == "sqlite":
            rows = await backend.get_db().execute_fetchall(
                f'SELECT revision, COUNT(*) FROM "{MIGRATIONS_TABLE}" GROUP BY revision'
            )
        else:
            async with backend.get_db().connection() as conn:
                cur = await conn.execute(
                    f'SELECT revision, COUNT(*) FROM "{MIGRATIONS_TABLE}" '
                    "GROUP BY revision"
                )
                rows = await cur.fetchall()
        assert rows and all(int(r[1]) == 1 for r in rows)
    finally:
        await backend.disconnect()


@pytest.mark.parametrize("backend_kind", ["postgres"])  # TimescaleDB is PG only
async def test_timescaledb_without_the_extension_fails_clearly(
    backend_config: PersistenceConfig,
) -> None:
    assert backend_config.postgres is not None
    config = backend_config.model_copy(
        update={
            "postgres": backend_config.postgres.model_copy(
                update={"enable_timescaledb": True}
            )
        }
    )
    backend = create_backend(config)
    await backend.connect()
    try:
        with pytest.raises(MigrationError) as failed:
            await backend.migrate()
        assert str(failed.value) == TIMESCALE_MISSING
        assert "install it or set enable_timescaledb=False" in str(failed.value)
    finally:
        await backend.disconnect()


# ------------------------------------------------ docs/migrations.md, run


async def test_docs_walkthrough_add_a_field_generate_migrate_data_intact(
    backend_config: PersistenceConfig, tmp_path: Path
) -> None:
    # A database at today's revisions, holding a row.
    backend = create_backend(backend_config)
    await backend.connect()
    await backend.migrate()
    seen = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    beat = Heartbeat(
        execution_id="exec-1",
        agent_id="agent-1",
        task_id="task-1",
        last_heartbeat_at=seen,
    )
    await backend.heartbeats.save(beat)
    await backend.disconnect()

    # 1. Add a field to the entity in YAML (a tmp copy of the project).
    shutil.copytree(ROOT / "schema", tmp_path / "schema")
    shutil.copytree(
        ROOT / "generated",
        tmp_path / "generated",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    yaml = tmp_path / "schema" / "heartbeats.yaml"
    yaml.write_text(
        yaml.read_text(encoding="utf-8")
        + "  host: {type: str, default: unknown, description: Where it runs.}\n",
        encoding="utf-8",
    )
    # 2. make generate (the same command, pointed at the copy).
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "codegen",
            "generate",
            *("--schema", str(tmp_path / "schema")),
            *("--out", str(tmp_path / "generated")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    dialect = backend_config.backend
    revisions = sorted((tmp_path / "generated" / "migrations" / dialect).iterdir())
    assert revisions[-1].name.endswith("_add_heartbeats_host.sql")
    assert "host: NotBlankStr" in (tmp_path / "generated" / "heartbeats.py").read_text(
        encoding="utf-8"
    )

    # 3. migrate(): the production runner, with the copy's revisions.
    if dialect == "sqlite":
        assert backend_config.sqlite is not None
        where = backend_config.sqlite.path
    else:
        pg = backend_config.postgres
        assert pg is not None
        where = (
            f"host={pg.host} port={pg.port} dbname={pg.database} "
            f"user={pg.username} password={pg.password.get_secret_value()}"
        )
    async with open_db(dialect, where) as db:
        applied = await db.migrate(tmp_path / "generated")
        assert applied == [revisions[-1].stem]
        # 4. Data intact, the new column filled with the default.
        rows = await db.fetch(
            "SELECT execution_id, agent_id, task_id, host FROM heartbeats"
        )
        assert rows == [("exec-1", "agent-1", "task-1", "unknown")]
        assert await db.drift(tmp_path / "generated") == []
