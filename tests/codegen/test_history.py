"""A migration history a merge left inconsistent is refused, naming the fix.

Pure generator tests on tmp copies: conflict markers or broken JSON in
``state.json``, two revisions with one number, a revision in one dialect
only, the rename hint of a refused destructive change, and the editor
support (JSON Schema, headers, pre-commit hook).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from codegen import json_schema
from codegen.cli import check, generate, main
from codegen.migrations import HistoryError, MigrationPlanError
from synthorg.persistence import cli
from tests.codegen._support import CASES, ROOT
from tests.migrations._support import CASES as UPGRADES
from tests.migrations._support import evolve

CASE_SCHEMA = CASES / "filtered" / "schema"
ADVICE = "python -m codegen renumber --onto"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "generated"
    generate(CASE_SCHEMA, folder)
    return folder


def _conflicted(text: str) -> str:
    """``text`` as git leaves it when both sides changed its second line."""
    lines = text.splitlines(keepends=True)
    return "".join(
        [
            lines[0],
            "<<<<<<< HEAD\n",
            lines[1],
            "=======\n",
            lines[1].replace("0001", "0002"),
            ">>>>>>> main\n",
            *lines[2:],
        ]
    )


def test_conflict_markers_in_state_are_refused_naming_the_verb(out: Path) -> None:
    state = out / "migrations" / "state.json"
    state.write_text(_conflicted(state.read_text("utf-8")), encoding="utf-8")
    for run in (check, generate):
        with pytest.raises(HistoryError) as refused:
            run(CASE_SCHEMA, out)
        message = str(refused.value)
        assert message.startswith(
            "generated/migrations/state.json has git conflict markers"
        )
        assert ADVICE in message and "Parallel branches" in message
    assert "<<<<<<<" in state.read_text("utf-8")  # nothing was written


def test_unparsable_state_is_refused_with_its_position(out: Path) -> None:
    state = out / "migrations" / "state.json"
    state.write_text(state.read_text("utf-8")[:200], encoding="utf-8")
    with pytest.raises(HistoryError, match=r"state\.json is not valid JSON \(line"):
        check(CASE_SCHEMA, out)


def test_duplicate_revision_numbers_are_each_named(out: Path) -> None:
    for dialect in ("sqlite", "postgres"):
        folder = out / "migrations" / dialect
        shutil.copy(folder / "0001_initial.sql", folder / "0001_create_b.sql")
    with pytest.raises(HistoryError) as refused:
        check(CASE_SCHEMA, out)
    problems = refused.value.problems
    for dialect in ("sqlite", "postgres"):
        assert (
            f"generated/migrations/{dialect}/ has 2 revisions numbered 0001 "
            "(0001_create_b.sql, 0001_initial.sql): two branches each added one; "
            "run `python -m codegen renumber" in "\n".join(problems)
        )
    # One message per problem, numbered when there are several.
    assert str(refused.value).startswith(f"{len(problems)} problems in generated/")


def test_a_revision_in_one_dialect_only_is_refused(out: Path) -> None:
    folder = out / "migrations" / "sqlite"
    (folder / "0002_stray.sql").write_text("-- x\n", encoding="utf-8")
    with pytest.raises(HistoryError) as refused:
        check(CASE_SCHEMA, out)
    text = str(refused.value)
    assert "generated/migrations/sqlite/0002_stray.sql has no counterpart" in text
    assert "0002_stray.sql is not a generated revision" in text
    assert "if it came with a merge, run `python -m codegen renumber" in text


def test_cli_reports_history_problems_with_exit_2(
    out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = out / "migrations" / "state.json"
    state.write_text(_conflicted(state.read_text("utf-8")), encoding="utf-8")
    code = main(["generate", "--schema", str(CASE_SCHEMA), "--out", str(out)])
    assert code == 2
    assert capsys.readouterr().err.startswith(
        "migration history: generated/migrations/state.json has git conflict"
    )


def test_refused_drop_suggests_renamed_from(tmp_path: Path) -> None:
    schema = tmp_path / "schema"
    shutil.copytree(UPGRADES / "add_column" / "v1", schema)
    gen = tmp_path / "generated"
    evolve(schema, gen)
    items = schema / "items.yaml"
    items.write_text(
        items.read_text("utf-8").replace("name: {type: str}", "title: {type: str}"),
        encoding="utf-8",
    )
    with pytest.raises(MigrationPlanError) as refused:
        evolve(schema, gen)
    assert (
        "hint: column 'name' of table 'items' disappears and 'title' of the same "
        "type (str) appears: if it is a rename, add `renamed_from: name` under "
        "fields.title in schema/items.yaml"
    ) in str(refused.value)
    # An unrelated new column of another type is not suggested.
    assert "'qty'" not in str(refused.value).split("hint:", 1)[1]


def test_renumber_from_a_base_state_file_without_git(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two copies generated apart, merged by hand the way git leaves them."""
    base = tmp_path / "base"
    shutil.copytree(CASE_SCHEMA, base / "schema")
    generate(base / "schema", base / "generated")
    sides = {}
    for name, entity in (("a", "Alpha"), ("b", "Beta")):
        side = tmp_path / name
        shutil.copytree(base, side)
        accessor = f"{entity.lower()}s"
        (side / "schema" / f"{accessor}.yaml").write_text(
            f"entity: {entity}\naccessor: {accessor}\ntable: {accessor}\n"
            "repository: {kinds: [id_keyed], key: [id], order: [id]}\n"
            "fields:\n  id: {type: str}\n",
            encoding="utf-8",
        )
        generate(side / "schema", side / "generated")
        sides[name] = side
    merged = sides["b"]  # b merges a (the base that reached main first)
    shutil.copy(sides["a"] / "schema" / "alphas.yaml", merged / "schema")
    for dialect in ("sqlite", "postgres"):
        shutil.copy(
            sides["a"]
            / "generated"
            / "migrations"
            / dialect
            / "0002_create_alphas.sql",
            merged / "generated" / "migrations" / dialect,
        )
    state = merged / "generated" / "migrations" / "state.json"
    state.write_text(_conflicted(state.read_text("utf-8")), encoding="utf-8")
    base_state = sides["a"] / "generated" / "migrations" / "state.json"
    args = ["--schema", str(merged / "schema"), "--out", str(merged / "generated")]
    assert main(["generate", *args]) == 2
    assert cli.main(["renumber", "--base-state", str(base_state), *args]) == 0
    assert "this branch's 0002_create_betas.sql -> 0003_create_betas.sql" in (
        capsys.readouterr().out
    )
    names = sorted(
        p.name for p in (merged / "generated" / "migrations" / "sqlite").glob("*.sql")
    )
    assert names == [
        "0001_initial.sql",
        "0002_create_alphas.sql",
        "0003_create_betas.sql",
    ]
    assert check(merged / "schema", merged / "generated") == []


# ------------------------------------------------------------ editor support


def test_every_schema_file_names_the_json_schema() -> None:
    for path in sorted((ROOT / "schema").glob("*.yaml")):
        first = path.read_text("utf-8").splitlines()[0]
        assert first == json_schema.HEADER, path.name


def test_committed_json_schema_is_fresh_and_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    committed = (ROOT / "schema" / "_schema.json").read_text("utf-8")
    assert committed == json_schema.render()
    assert cli.main(["schema-json"]) == 0
    assert capsys.readouterr().out == committed
    data = json.loads(committed)
    entity = data["$defs"]["EntitySpec"]
    assert entity["additionalProperties"] is False  # typos are flagged
    assert {"entity", "accessor", "table", "repository", "fields"} <= set(
        entity["required"]
    )
    types = data["$defs"]["FieldSpec"]["properties"]["type"]["anyOf"][0]["enum"]
    assert "list[str]" in types and "datetime" in types


def test_check_names_a_stale_or_missing_json_schema(tmp_path: Path) -> None:
    schema = tmp_path / "schema"
    shutil.copytree(CASE_SCHEMA, schema)
    gen = tmp_path / "generated"
    generate(schema, gen)
    assert not (schema / "_schema.json").exists()  # no header: not wanted
    jobs = schema / "jobs.yaml"
    jobs.write_text(json_schema.HEADER + "\n" + jobs.read_text("utf-8"), "utf-8")
    assert check(schema, gen) == [
        "missing: schema/_schema.json (the JSON Schema the YAML headers name)"
    ]
    assert generate(schema, gen) == ["schema/_schema.json"]
    assert check(schema, gen) == []
    (schema / "_schema.json").write_text("{}\n", encoding="utf-8")
    assert check(schema, gen) == [
        "stale: schema/_schema.json (the JSON Schema of the spec models changed)"
    ]


def test_pre_commit_hook_runs_check() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text("utf-8"))
    (repo,) = config["repos"]
    (hook,) = repo["hooks"]
    assert repo["repo"] == "local"
    assert hook["language"] == "system"
    assert hook["entry"].endswith("python -m codegen check")
    assert hook["pass_filenames"] is False


@pytest.mark.parametrize("verb", ["renumber", "schema-json"])
def test_cli_verbs_have_help(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    # main() returns argparse's exit code (0 for --help) instead of exiting.
    assert cli.main([verb, "--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: synthorg-persistence {verb}")
    assert "source checkout with" in text.replace("\n", " ")


def test_schema_json_verb_prints_the_committed_schema(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """From inside the checkout the verb finds codegen and prints the file."""
    monkeypatch.chdir(ROOT)
    assert cli.main(["schema-json"]) == 0
    printed = capsys.readouterr().out
    assert printed == (ROOT / "schema" / "_schema.json").read_text("utf-8")
