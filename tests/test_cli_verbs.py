"""``synthorg-persistence``, in process: every verb on SQLite and PostgreSQL.

``main([...])`` runs each verb as the console script would (its own event
loop, so the tests are plain functions) against a real SQLite file and a
real PostgreSQL database; the output lines and exit codes are asserted.
The schema verbs write only into tmp copies of ``schema/`` and
``generated/``. The same verbs from an installed wheel: test_cli_wheel.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from synthorg.persistence import (
    MigrationError,
    PersistenceConfig,
    PostgresConfig,
    create_backend,
)
from synthorg.persistence.cli import VERBS, build_parser, main
from synthorg.persistence.migrations import (
    MIGRATIONS_TABLE,
    Revision,
    load_revisions,
)
from tests.support.pgserver import PgServer

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schema"
GENERATED = ROOT / "generated"
CASE_SCHEMA = ROOT / "tests" / "codegen" / "cases" / "filtered" / "schema"


@dataclass
class Target:
    """A fresh database of one kind: CLI arguments and a raw executor."""

    kind: str
    args: list[str]
    execute: Callable[[str], None]
    fetch: Callable[[str], list[tuple[Any, ...]]]


def _sqlite_target(path: Path) -> Target:
    def execute(sql: str) -> None:
        with sqlite3.connect(path) as conn:
            conn.executescript(sql)

    def fetch(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as conn:
            return list(conn.execute(sql).fetchall())

    return Target("sqlite", ["--sqlite", str(path)], execute, fetch)


def _pg_target(dsn: str) -> Target:
    def execute(sql: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.encode())

    def fetch(sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(dsn, autocommit=True) as conn:
            return list(conn.execute(sql.encode()).fetchall())

    return Target("postgres", ["--dsn", dsn], execute, fetch)


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "sqlite":
        path = tmp_path / "cli.db"
        sqlite3.connect(path).close()
        path.chmod(0o600)
        return _sqlite_target(path)
    server: PgServer = request.getfixturevalue("pg_server")
    database: str = request.getfixturevalue("pg_database")
    return _pg_target(server.dsn(database))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _dialect(kind: str) -> Any:
    return "sqlite" if kind == "sqlite" else "postgres"


def _apply_first_revision(target: Target) -> Revision:
    """Bring the database to revision 0001 only: a database that is behind."""
    first = load_revisions(_dialect(target.kind))[0]
    target.execute(first.sql)
    target.execute(
        f'CREATE TABLE "{MIGRATIONS_TABLE}" (revision TEXT PRIMARY KEY, '
        "checksum TEXT NOT NULL, applied_at TEXT NOT NULL);"
        f"INSERT INTO \"{MIGRATIONS_TABLE}\" VALUES ('{first.name}', "
        f"'{first.checksum}', '2026-01-02T03:04:05+00:00');"
    )
    return first


# ------------------------------------------------------------ runtime verbs


def test_status_migrate_status(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [r.name for r in load_revisions(_dialect(target.kind))]
    code, out, _ = run(capsys, "status", *target.args)
    assert code == 1
    assert f"revisions: 0 applied, {len(names)} pending, 0 unknown" in out
    assert f"  pending    {names[0]}  (not applied yet)" in out.splitlines()
    assert out.splitlines()[-1] == "not up to date: run `synthorg-persistence migrate`"

    code, out, err = run(capsys, "migrate", *target.args)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].endswith(f": applying {len(names)} pending revision(s)")
    applied = [line for line in lines if line.startswith("  applied ")]
    assert [line.split()[1] for line in applied] == names
    assert all(line.endswith(" ms)") for line in applied)
    assert f"up to date; {len(names)} revision(s) applied in" in lines[-1]

    code, out, _ = run(capsys, "status", *target.args)
    assert code == 0
    assert f"revisions: {len(names)} applied, 0 pending, 0 unknown, 0 mismatched" in out
    assert out.splitlines()[-1] == "up to date"

    code, out, _ = run(capsys, "migrate", *target.args)
    assert code == 0
    assert "nothing to apply" in out
    assert "applied 0001" not in out


def test_status_json_and_unknown_revision(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "migrate", *target.args)[0] == 0
    target.execute(
        f"INSERT INTO \"{MIGRATIONS_TABLE}\" VALUES ('9999_future', 'x', 'now')"
    )
    code, out, _ = run(capsys, "status", "--json", *target.args)
    assert code == 1
    data = json.loads(out)
    assert data["backend"] == target.kind
    assert data["up_to_date"] is False
    assert data["unknown"] == ["9999_future"]
    assert data["pending"] == [] and data["mismatched"] == []
    code, out, _ = run(capsys, "status", *target.args)
    assert code == 1
    assert "  unknown    9999_future  (recorded by newer code" in out
    assert "migrate refuses this database" in out
    # migrate refuses it: exit 3, one line on stderr naming the revision.
    code, out, err = run(capsys, "migrate", *target.args)
    assert code == 3
    assert "9999_future" in err
    assert len(err.strip().splitlines()) == 1


def test_status_history_drift_on_a_database_that_is_behind(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _apply_first_revision(target)
    names = [r.name for r in load_revisions(_dialect(target.kind))]
    assert len(names) > 1  # the real history has later revisions

    code, out, _ = run(capsys, "status", *target.args)
    assert code == 1
    assert f"revisions: 1 applied, {len(names) - 1} pending" in out

    code, out, _ = run(capsys, "history", *target.args)
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split() == [first.name, "2026-01-02T03:04:05+00:00"]
    assert [line.split() for line in lines[2:-1]] == [[n, "pending"] for n in names[1:]]
    assert lines[-1] == f"{len(names)} revision(s) in this code; 1 applied here"

    code, out, _ = run(capsys, "drift", *target.args)
    assert code == 1
    assert "drift: " in out
    assert out.splitlines()[-1].startswith(
        f"note: {len(names) - 1} revision(s) pending"
    )

    # migrate brings it forward from where it is.
    code, out, _ = run(capsys, "migrate", *target.args)
    assert code == 0
    assert [line.split()[1] for line in out.splitlines() if "  applied " in line] == (
        names[1:]
    )
    assert run(capsys, "drift", *target.args)[0] == 0


def test_history_after_migrate_and_json(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "history", *target.args)
    names = [r.name for r in load_revisions(_dialect(target.kind))]
    assert code == 0
    assert all(line.split()[1] == "pending" for line in out.splitlines()[1:-1])
    assert out.splitlines()[-1].endswith("; 0 applied here")
    run(capsys, "migrate", *target.args)
    code, out, _ = run(capsys, "history", "--json", *target.args)
    assert code == 0
    rows = json.loads(out)
    assert [r["revision"] for r in rows] == names
    assert {r["state"] for r in rows} == {"applied"}
    assert all(r["applied_at"].startswith("20") for r in rows)
    assert rows[0]["file"] == f"migrations/{target.kind}/{names[0]}.sql"
    # An edited revision is marked.
    target.execute(
        f"UPDATE \"{MIGRATIONS_TABLE}\" SET checksum = 'edited' "
        f"WHERE revision = '{names[0]}'"
    )
    code, out, _ = run(capsys, "history", *target.args)
    assert code == 0
    assert out.splitlines()[1].endswith("(edited after it was applied)")


def test_drift_clean_then_planted(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "migrate", *target.args)[0] == 0
    code, out, _ = run(capsys, "drift", *target.args)
    assert code == 0
    assert out.splitlines()[-1] == "no drift: the schema matches the generated one"

    target.execute('ALTER TABLE "heartbeats" ADD COLUMN "extra" TEXT')
    target.execute('CREATE TABLE "stray" ("x" INTEGER)')
    code, out, _ = run(capsys, "drift", *target.args)
    assert code == 1
    lines = out.splitlines()
    assert lines[1] == "drift: 2 difference(s) from the generated schema"
    assert lines[2] == "  unexpected table 'stray'"
    assert lines[3] == "  heartbeats:"
    assert lines[4].startswith("    unexpected columns 'extra': ")
    assert not any(line.startswith("note:") for line in lines)

    code, out, _ = run(capsys, "drift", "--json", *target.args)
    assert code == 1
    data = json.loads(out)
    assert "unexpected table 'stray'" in data["drift"]
    assert data["pending"] == []


def test_database_from_the_environment(
    target: Target,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    if target.kind == "sqlite":
        monkeypatch.setenv("SYNTHORG_SQLITE_PATH", target.args[1])
    else:
        pg = PostgresConfig.from_dsn(target.args[1])
        secret = tmp_path / "password"
        secret.write_text(pg.password.get_secret_value() + "\n")
        monkeypatch.setenv("SYNTHORG_PG_HOST", pg.host)
        monkeypatch.setenv("SYNTHORG_PG_PORT", str(pg.port))
        monkeypatch.setenv("SYNTHORG_PG_DATABASE", pg.database)
        monkeypatch.setenv("SYNTHORG_PG_USER", pg.username)
        monkeypatch.setenv("SYNTHORG_PG_PASSWORD_FILE", str(secret))
    assert run(capsys, "migrate")[0] == 0
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert out.splitlines()[0].startswith(f"database: {target.kind} ")


def test_dsn_url_with_password_from_a_file(
    pg_server: PgServer,
    pg_database: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    secret = tmp_path / "password"
    secret.write_text(pg_server.password + "\n")
    monkeypatch.setenv("SYNTHORG_PG_PASSWORD_FILE", str(secret))
    url = (
        f"postgresql://{pg_server.user}@{pg_server.host}:{pg_server.port}/"
        f"{pg_database}?application_name=cli-test&sslmode=disable"
    )
    code, out, err = run(capsys, "migrate", "--dsn", url)
    assert code == 0, err
    assert out.splitlines()[-1].startswith(
        f"postgres {pg_server.user}@{pg_server.host}:{pg_server.port}/{pg_database}:"
    )


def test_wrong_password_exits_3_without_echoing_it(
    pg_server: PgServer, pg_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "Wr0ng-S3cret-Value"
    url = (
        f"postgresql://{pg_server.user}:{wrong}@{pg_server.host}:{pg_server.port}/"
        f"{pg_database}"
    )
    code, out, err = run(capsys, "status", "--dsn", url)
    assert code == 3
    assert err.startswith("synthorg-persistence status: ")
    assert len(err.strip().splitlines()) == 1
    assert wrong not in err + out


def test_usage_and_missing_database(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name in list(os.environ):
        if name.startswith("SYNTHORG_"):
            monkeypatch.delenv(name)
    code, _, err = run(capsys, "status")
    assert code == 2
    assert "no database: pass --sqlite PATH or --dsn URL" in err
    code, _, err = run(capsys, "status", "--sqlite", str(tmp_path / "absent.db"))
    assert code == 3
    assert "no SQLite database at" in err
    assert not (tmp_path / "absent.db").exists()  # status creates nothing
    code, _, err = run(capsys, "status", "--dsn", "postgresql://u:S3cr3t@h/db?x=1")
    assert code == 2
    assert "unknown parameter 'x'" in err
    assert "S3cr3t" not in err
    code, _, err = run(capsys, "no-such-verb")
    assert code == 2
    code, _, err = run(capsys, "status", "--sqlite", "a", "--dsn", "b")
    assert code == 2  # mutually exclusive


def test_every_verb_and_flag_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for verb in VERBS:
        assert f"    {verb.replace('_', '-')} " in out
    parser = build_parser()
    subparsers = next(
        a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"
    )
    choices: dict[str, argparse.ArgumentParser] = subparsers.choices  # type: ignore[assignment]
    for verb, sub in choices.items():
        code, out, _ = run(capsys, verb, "--help")
        assert code == 0
        assert sub.description, verb
        for action in sub._actions:
            assert action.help, f"{verb} {action.option_strings or action.dest}"
            for flag in action.option_strings:
                assert flag in out


def test_migrate_logs_one_info_line_per_revision(
    target: Target, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    names = [r.name for r in load_revisions(_dialect(target.kind))]
    with caplog.at_level(logging.INFO, logger="synthorg.persistence.migrations"):
        assert run(capsys, "migrate", *target.args)[0] == 0
    records = [r for r in caplog.records if r.name == "synthorg.persistence.migrations"]
    assert [getattr(r, "revision", None) for r in records] == names
    for record in records:
        assert record.levelno == logging.INFO
        assert record.getMessage().startswith(f"{target.kind} migration ")
        assert " applied in " in record.getMessage()
        assert getattr(record, "duration_ms", -1) >= 0


# ---------------------------------------------- a failing revision is named


@pytest.mark.parametrize("position", [1, 2])
async def test_failing_revision_names_file_and_statement(
    backend_config: PersistenceConfig, monkeypatch: pytest.MonkeyPatch, position: int
) -> None:
    from synthorg.persistence import migrations

    bad = "ALTER TABLE no_such_table ADD COLUMN x INTEGER"
    statements = ["CREATE TABLE fine_one (x INTEGER)", bad]
    if position == 1:
        statements.reverse()
    bogus = Revision(
        name="9000_bogus",
        sql="-- a comment\n" + ";\n\n".join(statements) + ";\n",
    )
    instance = create_backend(backend_config)
    module = sys.modules[type(instance).__module__]
    real = migrations.load_revisions
    monkeypatch.setattr(module, "load_revisions", lambda d: (*real(d), bogus))
    await instance.connect()
    try:
        with pytest.raises(MigrationError) as caught:
            await instance.migrate()
    finally:
        await instance.disconnect()
    message = str(caught.value)
    assert message.startswith(
        f"revision migrations/{instance.kind}/9000_bogus.sql failed at statement "
        f"{position} `{bad};`: "
    ), message
    assert "no_such_table" in message


# ------------------------------------------------------------ schema verbs


def test_generate_and_check_verbs_in_a_tmp_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "generated"
    flags = ["--schema", str(CASE_SCHEMA), "--out", str(out_dir)]
    code, out, _ = run(capsys, "generate", *flags)
    assert code == 0
    assert out.startswith("generated: ")
    assert (out_dir / "jobs.py").is_file()
    code, out, _ = run(capsys, "check", *flags)
    assert (code, out.strip()) == (0, "generated/ is up to date")
    (out_dir / "jobs.py").write_text("# edited\n", encoding="utf-8")
    code, _, err = run(capsys, "check", *flags)
    assert code == 1
    assert "stale: generated/jobs.py" in err
    # The same function as `python -m codegen` (and so `make generate`).
    result = subprocess.run(
        [sys.executable, "-m", "codegen", "generate", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "jobs.py" in result.stdout
    assert run(capsys, "check", *flags)[0] == 0


@pytest.fixture
def schema_copy(tmp_path: Path) -> tuple[Path, Path]:
    """Tmp copies of schema/ and generated/ (the real ones are never written)."""
    schema = tmp_path / "schema"
    out = tmp_path / "generated"
    shutil.copytree(SCHEMA, schema)
    shutil.copytree(GENERATED, out, ignore=shutil.ignore_patterns("__pycache__"))
    return schema, out


def test_new_refuses_existing_taken_and_bad_names(
    schema_copy: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    schema, out = schema_copy
    flags = ["--schema", str(schema), "--out", str(out)]
    before = sorted(p.name for p in schema.iterdir())
    for name, expected in [
        ("tasks", "exists already"),
        ("Bad-Name", "bad entity name"),
        ("9lives", "bad entity name"),
        ("class", "reserved"),
        ("migrate", "reserved"),
        ("x" * 41, "at most 40"),
    ]:
        code, _, err = run(capsys, "new", name, *flags)
        assert code == 2, name
        assert expected in err, (name, err)
    # A name another file declares (heartbeats' class is Heartbeat).
    code, _, err = run(capsys, "new", "beats", "--class-name", "Heartbeat", *flags)
    assert code == 2
    assert "already declared in schema/heartbeats.yaml" in err
    assert sorted(p.name for p in schema.iterdir()) == before


def test_new_scaffolds_an_entity_that_generates_a_working_repository(
    schema_copy: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    pg_server: PgServer,
    pg_database: str,
    tmp_path: Path,
) -> None:
    schema, out = schema_copy
    real_schema = sorted(p.name for p in SCHEMA.iterdir())
    revisions = sorted((out / "migrations" / "sqlite").iterdir())
    code, stdout, err = run(
        capsys, "new", "invoice_lines", "--schema", str(schema), "--out", str(out)
    )
    assert code == 0, err
    scaffold = schema / "invoice_lines.yaml"
    text = scaffold.read_text(encoding="utf-8")
    assert "entity: InvoiceLine" in text and "accessor: invoice_lines" in text
    assert text.count("\n#") >= 3  # commented
    assert "invoice_lines.py" in stdout
    assert (out / "invoice_lines.py").is_file()
    after = sorted((out / "migrations" / "sqlite").iterdir())
    assert len(after) == len(revisions) + 1
    assert "invoice_lines" in after[-1].read_text(encoding="utf-8")
    assert sorted(p.name for p in SCHEMA.iterdir()) == real_schema
    code, _, _ = run(capsys, "check", "--schema", str(schema), "--out", str(out))
    assert code == 0
    # A second `new` of the same name is refused.
    assert run(capsys, "new", "invoice_lines", "--schema", str(schema))[0] == 2

    # The generated repository works, on both dialects: a copy of the package
    # whose generated/ is the tmp one, in a child process.
    package = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "synthorg",
        package / "synthorg",
        symlinks=True,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    link = package / "synthorg" / "persistence" / "generated"
    link.unlink()
    link.symlink_to(out, target_is_directory=True)
    script = textwrap.dedent(
        """
        import asyncio, os, sys
        from datetime import UTC, datetime
        import synthorg.persistence as sp
        from synthorg.persistence import PersistenceConfig, SQLiteConfig
        from synthorg.persistence import PostgresConfig, create_backend
        assert sp.__file__.startswith(sys.argv[1]), sp.__file__

        async def exercise(config):
            backend = create_backend(config)
            await backend.connect()
            await backend.migrate()
            line = sp.InvoiceLine(
                id="l1", name="first", created_at=datetime.now(UTC)
            )
            await backend.invoice_lines.save(line)
            got = await backend.invoice_lines.get("l1")
            by_name = await backend.invoice_lines.get_by_name("first")
            count = await backend.invoice_lines.count(
                sp.InvoiceLineFilterSpec(name="first")
            )
            await backend.disconnect()
            assert got == line == by_name and count == 1, (got, by_name, count)
            print(config.backend, "ok")

        asyncio.run(exercise(PersistenceConfig(
            sqlite=SQLiteConfig(path=os.path.join(sys.argv[2], "new.db")))))
        asyncio.run(exercise(PersistenceConfig(
            backend="postgres", postgres=PostgresConfig.from_dsn(sys.argv[3]))))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(package)}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(package),
            str(tmp_path),
            pg_server.dsn(pg_database),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["sqlite", "ok", "postgres", "ok"]


@pytest.fixture(autouse=True)
def _no_scaffold_left_behind() -> Iterator[None]:
    before = sorted(p.name for p in SCHEMA.iterdir())
    yield
    assert sorted(p.name for p in SCHEMA.iterdir()) == before


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # A pattern's '$' anchor is not dollar quoting: still located.
        (
            "CREATE TABLE codes (c TEXT CHECK (c ~ '^[A-Z]{3}$'));\n"
            "INSERT INTO codes VALUES ('toolong');\n",
            "failed at statement 2 `INSERT INTO codes VALUES ('toolong');`: "
            "CheckViolation",
        ),
        # Dollar quoting cannot be split: the revision is named, not cut.
        (
            "DO $$ BEGIN RAISE EXCEPTION 'boom'; END $$;\n",
            "failed: RaiseException: boom",
        ),
    ],
)
async def test_postgres_failure_naming_with_dollars(
    pg_server: PgServer,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
    sql: str,
    expected: str,
) -> None:
    from synthorg.persistence import migrations

    config = PersistenceConfig(
        backend="postgres", postgres=PostgresConfig.from_dsn(pg_server.dsn(pg_database))
    )
    instance = create_backend(config)
    module = sys.modules[type(instance).__module__]
    real = migrations.load_revisions
    bogus = Revision(name="9000_bogus", sql=sql)
    monkeypatch.setattr(module, "load_revisions", lambda d: (*real(d), bogus))
    await instance.connect()
    try:
        with pytest.raises(MigrationError) as caught:
            await instance.migrate()
        tables = await instance.migration_status()
    finally:
        await instance.disconnect()
    assert str(caught.value).startswith(
        f"revision migrations/postgres/9000_bogus.sql {expected}"
    ), str(caught.value)
    assert "9000_bogus" in tables.pending  # nothing of it was kept


def test_new_without_generate_only_writes_the_file(
    schema_copy: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    schema, out = schema_copy
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    code, stdout, _ = run(
        capsys, "new", "categories", "--no-generate", "--schema", str(schema)
    )
    assert code == 0
    assert "entity: Category" in (schema / "categories.yaml").read_text()
    assert "next: edit it, then `synthorg-persistence generate`" in stdout
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
