"""Two branches that each add an entity, merged the way git merges them.

A tmp git repository holds a small schema and its ``generated/`` folder on
``main``; branches ``a`` and ``b`` each add an entity and generate (both
plan revision 0002). ``a`` is merged into ``main`` first; merging ``main``
into ``b`` then leaves both 0002 revisions and a ``state.json`` with
conflict markers. ``generate`` must refuse that with a clear message (it
used to crash with a JSONDecodeError); ``renumber --onto main`` keeps
main's revisions byte for byte, plans ``b``'s again as 0003, and the result
checks clean and migrates a fresh database, and main's database, of both
dialects to a schema with both entities (drift check clean).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from codegen.cli import check, generate
from codegen.cli import main as codegen_main
from codegen.migrations import HistoryError
from synthorg.persistence import cli
from tests.codegen._support import CASES, read_tree
from tests.migrations._support import Db, open_db

ENTITY = """\
# yaml-language-server: $schema=./_schema.json
entity: {cls}
accessor: {name}
table: {name}
repository: {{kinds: [id_keyed], key: [id], order: [id]}}
fields:
  id: {{type: str}}
  label: {{type: str}}
"""


def _git(repo: Path, *args: str, check: bool = True) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": str(repo),
    }
    result = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {args}: {result.stdout}{result.stderr}")
    return result.stdout


def _branch_adds(repo: Path, branch: str, cls: str, name: str) -> None:
    _git(repo, "checkout", "-q", "-b", branch, "main")
    (repo / "schema" / f"{name}.yaml").write_text(
        ENTITY.format(cls=cls, name=name), encoding="utf-8"
    )
    generate(repo / "schema", repo / "generated")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", f"add {name}")


@pytest.fixture(scope="module")
def merged_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository on branch b with main (which has a) merged, conflicted."""
    repo = tmp_path_factory.mktemp("branches") / "repo"
    shutil.copytree(CASES / "filtered" / "schema", repo / "schema")
    _git(repo, "init", "-q", "-b", "main")
    generate(repo / "schema", repo / "generated")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    _branch_adds(repo, "a", "Alpha", "alphas")
    _branch_adds(repo, "b", "Beta", "betas")
    _git(repo, "checkout", "-q", "main")
    _git(repo, "merge", "-q", "--ff-only", "a")
    _git(repo, "checkout", "-q", "b")
    _git(repo, "merge", "-q", "main", check=False)  # conflicts: left in place
    return repo


@pytest.fixture
def merged(merged_template: Path, tmp_path: Path) -> Path:
    """A private copy of the conflicted repository (tests change it)."""
    repo = tmp_path / "repo"
    shutil.copytree(merged_template, repo, symlinks=True)
    return repo


@pytest.fixture(params=["sqlite", "postgres"])
async def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Db]:
    if request.param == "sqlite":
        where = str(tmp_path / "fresh.db")
    else:
        server = request.getfixturevalue("pg_server")
        where = server.dsn(request.getfixturevalue("pg_database"))
    async with open_db(str(request.param), where) as database:
        yield database


def _checkout(repo: Path, ref: str, target: Path) -> Path:
    """``generated/`` as committed at ``ref``, extracted under ``target``."""
    target.mkdir()
    archive = target / "generated.tar"
    _git(repo, "archive", "-o", str(archive), ref, "generated")
    shutil.unpack_archive(archive, target)
    return target / "generated"


def _revisions(out: Path, dialect: str) -> list[str]:
    return sorted(p.name for p in (out / "migrations" / dialect).glob("*.sql"))


def test_merge_is_refused_then_renumbered(merged: Path) -> None:
    schema, out = merged / "schema", merged / "generated"
    state = (out / "migrations" / "state.json").read_text("utf-8")
    assert "<<<<<<<" in state  # git could not merge the recorded state
    assert _revisions(out, "sqlite") == [
        "0001_initial.sql",
        "0002_create_alphas.sql",
        "0002_create_betas.sql",
    ]
    with pytest.raises(HistoryError) as refused:
        generate(schema, out)
    problems = "\n".join(refused.value.problems)
    assert "generated/migrations/state.json has git conflict markers" in problems
    assert (
        "generated/migrations/sqlite/ has 2 revisions numbered 0002 "
        "(0002_create_alphas.sql, 0002_create_betas.sql)"
    ) in problems
    assert "python -m codegen renumber --onto" in problems
    main_files = {
        path: text
        for path, text in read_tree(out).items()
        if path.startswith("migrations/") and "betas" not in path
    }

    assert codegen_main(["renumber", "--schema", str(schema), "--out", str(out)]) == 0

    for dialect in ("sqlite", "postgres"):
        assert _revisions(out, dialect) == [
            "0001_initial.sql",
            "0002_create_alphas.sql",
            "0003_create_betas.sql",
        ]
        revision = (out / "migrations" / dialect / "0003_create_betas.sql").read_text(
            "utf-8"
        )
        assert 'CREATE TABLE "betas"' in revision
        assert '"alphas"' not in revision
    after = read_tree(out)
    for path, text in main_files.items():  # main's history, byte for byte
        if path.endswith(".sql"):
            assert after[path] == text, path
    assert check(schema, out) == []
    assert generate(schema, out) == []
    # A second run has nothing of this branch's left to move.
    assert codegen_main(["renumber", "--schema", str(schema), "--out", str(out)]) == 0
    assert read_tree(out) == after


def test_renumber_refuses_a_merge_that_lost_a_base_revision(
    merged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema, out = merged / "schema", merged / "generated"
    lost = out / "migrations" / "postgres" / "0002_create_alphas.sql"
    lost.unlink()
    args = ["renumber", "--schema", str(schema), "--out", str(out)]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("renumber refused: the merge lost revisions of the base")
    assert (
        "generated/migrations/postgres/0002_create_alphas.sql of main is missing "
        "here (git checkout main -- generated/migrations/postgres/"
        "0002_create_alphas.sql)"
    ) in err
    # Refused before touching anything: b's revision is still there.
    assert (out / "migrations" / "sqlite" / "0002_create_betas.sql").exists()


async def test_renumbered_history_migrates_fresh_and_main_databases(
    merged: Path, fresh_db: Db, tmp_path: Path
) -> None:
    schema, out = merged / "schema", merged / "generated"
    # A database deployed from main: 0001 and 0002_create_alphas applied.
    main_out = _checkout(merged, "main", tmp_path / "main")
    assert await fresh_db.migrate(main_out) == ["0001_initial", "0002_create_alphas"]

    assert (
        cli.main(
            ["renumber", "--onto", "main", "--schema", str(schema), "--out", str(out)]
        )
        == 0
    )

    # Only b's revision is pending on main's database; both tables result.
    assert await fresh_db.migrate(out) == ["0003_create_betas"]
    assert await fresh_db.drift(out) == []
    await fresh_db.execute("INSERT INTO alphas (id, label) VALUES (?, ?)", "a1", "x")
    await fresh_db.execute("INSERT INTO betas (id, label) VALUES (?, ?)", "b1", "y")
    assert await fresh_db.fetch("SELECT id FROM betas") == [("b1",)]


async def test_renumbered_history_builds_a_fresh_database(
    merged: Path, fresh_db: Db
) -> None:
    schema, out = merged / "schema", merged / "generated"
    assert cli.main(["renumber", "--schema", str(schema), "--out", str(out)]) == 0
    assert await fresh_db.migrate(out) == [
        "0001_initial",
        "0002_create_alphas",
        "0003_create_betas",
    ]
    assert await fresh_db.drift(out) == []
    tables = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if fresh_db.dialect == "sqlite"
        else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    )
    names = {r[0] for r in await fresh_db.fetch(tables)}
    assert {"alphas", "betas", "jobs"} <= names
