"""The write/check front end: ``generate``, ``check`` and ``python -m codegen``.

Everything writes into ``tmp_path`` copies; the real ``generated/`` is only
read (by ``check`` and for migration history), never written.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codegen.cli import check, generate
from codegen.migrations import MigrationPlanError
from codegen.pipeline import render_schema
from tests.codegen._support import CASES, ROOT, read_tree

SCHEMA = ROOT / "schema"
GENERATED = ROOT / "generated"
CASE_SCHEMA = CASES / "filtered" / "schema"

NOTES_YAML = """\
entity: Note
accessor: notes
table: notes
description: A note attached to a task.
repository:
  kinds: [id_keyed, filtered_query]
  key: [id]
  order: [id]
  filters:
    task_id: {}
fields:
  id:
    type: str
  task_id:
    type: str
  body:
    type: text
    default: ""
"""


def _copy_generated(target: Path) -> Path:
    shutil.copytree(GENERATED, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture
def fresh_out(tmp_path: Path) -> Path:
    """A tmp output folder freshly generated from the ``filtered`` case."""
    out = tmp_path / "generated"
    generate(CASE_SCHEMA, out)
    return out


# ------------------------------------------------------------ check()


def test_check_fresh_copy_has_no_problems(fresh_out: Path) -> None:
    assert check(CASE_SCHEMA, fresh_out) == []


def test_check_reports_hand_edited_file_as_stale(fresh_out: Path) -> None:
    target = fresh_out / "jobs.py"
    target.write_text(target.read_text(encoding="utf-8") + "# edited\n", "utf-8")
    problems = check(CASE_SCHEMA, fresh_out)
    assert len(problems) == 1
    assert problems[0].startswith("stale: generated/jobs.py\n")
    assert "-# edited" in problems[0]  # the diff shows what render would drop


def test_check_reports_deleted_file_as_missing(fresh_out: Path) -> None:
    (fresh_out / "sqlite" / "jobs.py").unlink()
    assert check(CASE_SCHEMA, fresh_out) == ["missing: generated/sqlite/jobs.py"]


def test_check_reports_unknown_file_as_extra(fresh_out: Path) -> None:
    (fresh_out / "postgres" / "stray.py").write_text("x = 1\n", encoding="utf-8")
    assert check(CASE_SCHEMA, fresh_out) == ["extra: generated/postgres/stray.py"]


def test_check_refuses_an_edited_revision(fresh_out: Path) -> None:
    revision = fresh_out / "migrations" / "postgres" / "0001_initial.sql"
    revision.write_text("-- emptied by hand\n", encoding="utf-8")
    with pytest.raises(
        MigrationPlanError, match=r"postgres/0001_initial\.sql was edited"
    ):
        check(CASE_SCHEMA, fresh_out)


def test_check_refuses_a_deleted_revision(fresh_out: Path) -> None:
    (fresh_out / "migrations" / "sqlite" / "0001_initial.sql").unlink()
    with pytest.raises(
        MigrationPlanError, match=r"sqlite/0001_initial\.sql is missing"
    ):
        check(CASE_SCHEMA, fresh_out)


def test_check_refuses_a_stray_revision(fresh_out: Path) -> None:
    stray = fresh_out / "migrations" / "sqlite" / "0099_by_hand.sql"
    stray.write_text("CREATE TABLE x (id TEXT);\n", encoding="utf-8")
    with pytest.raises(
        MigrationPlanError, match=r"0099_by_hand\.sql is not a generated"
    ):
        check(CASE_SCHEMA, fresh_out)


def test_committed_generated_is_fresh() -> None:
    assert check(SCHEMA, GENERATED) == []


def test_render_is_deterministic(tmp_path: Path) -> None:
    first = render_schema(SCHEMA, GENERATED)
    assert render_schema(SCHEMA, GENERATED) == first
    # Without history too (the path taken by a brand-new checkout of a case).
    assert render_schema(SCHEMA, tmp_path) == render_schema(SCHEMA, tmp_path)


# ------------------------------------------------- python -m codegen check


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codegen", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_cli_check_exits_0_when_fresh(fresh_out: Path) -> None:
    result = _run_cli("check", "--schema", str(CASE_SCHEMA), "--out", str(fresh_out))
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_cli_check_exits_1_and_names_stale_file(fresh_out: Path) -> None:
    (fresh_out / "manifest.py").write_text("# hand edit\n", encoding="utf-8")
    result = _run_cli("check", "--schema", str(CASE_SCHEMA), "--out", str(fresh_out))
    assert result.returncode == 1
    assert "stale: generated/manifest.py" in result.stderr


def test_cli_check_exits_2_on_schema_error(tmp_path: Path) -> None:
    schema = tmp_path / "schema"
    shutil.copytree(SCHEMA, schema)
    (schema / "notes.yaml").write_text(
        NOTES_YAML.replace("accessor: notes", "acessor: notes"), encoding="utf-8"
    )
    result = _run_cli("check", "--schema", str(schema), "--out", str(GENERATED))
    assert result.returncode == 2
    # One problem, not two: the unknown "acessor" is the missing "accessor".
    assert result.stderr == (
        "schema error: schema/notes.yaml: acessor: unknown key 'acessor'; "
        "did you mean 'accessor'?\n"
    )


# ------------------------------------- a new plain entity needs only YAML


def test_new_entity_needs_only_yaml(tmp_path: Path) -> None:
    schema = tmp_path / "schema"
    shutil.copytree(SCHEMA, schema)
    (schema / "notes.yaml").write_text(NOTES_YAML, encoding="utf-8")
    out = _copy_generated(tmp_path / "generated")
    before = read_tree(out)
    # The revision after the existing history (0002 after 0001_initial).
    numbers = [
        int(Path(path).name[:4])
        for path in before
        if path.startswith("migrations/sqlite/") and path.endswith(".sql")
    ]
    revision_name = f"{max(numbers) + 1:04d}_create_notes.sql"

    changed = generate(schema, out)
    after = read_tree(out)

    new_files = {
        "notes.py",
        "sqlite/notes.py",
        "postgres/notes.py",
        f"migrations/sqlite/{revision_name}",
        f"migrations/postgres/{revision_name}",
    }
    assert new_files <= set(after) - set(before)
    assert set(before) <= set(after), "generate removed a file"
    assert "class Note(StoredModel):" in after["notes.py"]
    assert (
        "class SQLiteNoteRepository(SQLiteRepositoryBase):" in after["sqlite/notes.py"]
    )
    assert (
        "class PostgresNoteRepository(PostgresRepositoryBase):"
        in after["postgres/notes.py"]
    )
    for dialect in ("sqlite", "postgres"):
        revision = after[f"migrations/{dialect}/{revision_name}"]
        assert 'CREATE TABLE "notes"' in revision
        assert 'CREATE TABLE "tasks"' not in revision  # only the new table
    assert "def notes(self) -> NoteRepository:" in after["repositories.py"]
    assert '"notes"' in after["repositories.py"]  # ACCESSORS
    # Applied revisions are never rewritten.
    for path, text in before.items():
        if path.startswith("migrations/") and path.endswith(".sql"):
            assert after[path] == text, f"{path} was rewritten"
    assert set(changed) == {p for p in after if before.get(p) != after[p]}

    # A second run is a no-op and the result checks clean.
    assert generate(schema, out) == []
    assert read_tree(out) == after
    assert check(schema, out) == []
