"""Generated documentation: docs/entities.md and the Mermaid ER diagram.

The page and the diagram are rendered from the IR like the code is; the
committed copies must equal a fresh render (``check`` fails otherwise), and
the ``diagram`` verb prints the generated constant from the package.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from codegen.build import build
from codegen.cli import check, generate
from codegen.custom import check_custom
from codegen.docs import er_diagram, format_sql
from codegen.ir import SchemaIR
from codegen.pipeline import RUNTIME, render_outputs
from codegen.render import render_docs
from codegen.spec import load_schema
from synthorg.persistence.cli import main
from synthorg.persistence.generated.diagram import MERMAID
from tests.codegen._support import CASES, ROOT

SCHEMA = ROOT / "schema"
CASE_SCHEMA = CASES / "filtered" / "schema"


@pytest.fixture(scope="module")
def schema() -> SchemaIR:
    return build(load_schema(SCHEMA))


def test_docs_render_deterministically_and_match_the_committed_page(
    schema: SchemaIR,
) -> None:
    shared = check_custom(schema, RUNTIME, "src/synthorg/persistence")
    first = render_docs(schema, shared)
    assert render_docs(build(load_schema(SCHEMA)), shared) == first
    assert list(first) == ["entities.md"]
    committed = (ROOT / "docs" / "entities.md").read_text(encoding="utf-8")
    assert committed == first["entities.md"]


def test_page_has_a_section_per_table_with_fields_indexes_and_sql(
    schema: SchemaIR,
) -> None:
    page = render_docs(schema)["entities.md"]
    for e in schema.entities_by_dependency:
        assert f"\n## `{e.table}`: {e.name}\n" in page
        assert f"### Fields of `{e.table}`" in page
        for ix in e.indexes:
            assert f"| `{ix.name}` |" in page
        for m in e.declared_methods:
            assert f"#### `{e.accessor}.{m.name}(" in page
    # A declared method's SQL in both dialects, one clause a line.
    section = page.split("## `workflow_definitions`: ")[1].split("\n## ")[0]
    assert "#### `workflow_definitions.save_if_revision(" in section
    assert 'WHERE "id" = ?\n  AND "revision" = ?\nRETURNING 1' in section
    # PostgreSQL reads the row count instead of RETURNING 1.
    assert 'WHERE "id" = %s\n  AND "revision" = %s\n```' in section
    # Dialect differences: regex checks and the bulk strategy.
    costs = page.split("## `cost_records`: ")[1].split("\n## ")[0]
    assert "GLOB '[A-Z][A-Z][A-Z]'" in costs and "~ '^[A-Z]{3}$'" in costs
    assert "BEGIN IMMEDIATE" in costs and "COPY" in costs


def test_format_sql_breaks_clauses_and_keeps_the_statement() -> None:
    sql = (
        'SELECT "a", "b" FROM "t" WHERE "a" = ? AND "b" > ? '
        'ORDER BY "a" DESC LIMIT ? OFFSET ?'
    )
    text = format_sql(sql)
    assert text.splitlines() == [
        'SELECT "a", "b"',
        'FROM "t"',
        'WHERE "a" = ?',
        '  AND "b" > ?',
        'ORDER BY "a" DESC',
        "LIMIT ?",
        "OFFSET ?",
    ]
    assert " ".join(text.split()) == sql


# ------------------------------------------------------------ check/generate


def test_check_fails_when_the_page_is_edited_or_missing(tmp_path: Path) -> None:
    out, docs = tmp_path / "generated", tmp_path / "docs"
    changed = generate(CASE_SCHEMA, out, docs_dir=docs)
    assert "docs/entities.md" in changed
    assert check(CASE_SCHEMA, out, docs_dir=docs) == []
    page = docs / "entities.md"
    page.write_text(page.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    problems = check(CASE_SCHEMA, out, docs_dir=docs)
    assert len(problems) == 1 and problems[0].startswith("stale: docs/entities.md")
    assert "-edited" in problems[0]
    # generate repairs it and leaves a hand-written page beside it alone.
    (docs / "guide.md").write_text("mine\n", encoding="utf-8")
    assert generate(CASE_SCHEMA, out, docs_dir=docs) == ["docs/entities.md"]
    assert (docs / "guide.md").read_text(encoding="utf-8") == "mine\n"
    page.unlink()
    assert check(CASE_SCHEMA, out, docs_dir=docs) == ["missing: docs/entities.md"]


def test_cli_check_exits_1_on_a_stale_page(tmp_path: Path) -> None:
    out, docs = tmp_path / "generated", tmp_path / "docs"
    generate(CASE_SCHEMA, out, docs_dir=docs)
    (docs / "entities.md").write_text("# stale\n", encoding="utf-8")
    args = ["--schema", str(CASE_SCHEMA), "--out", str(out), "--docs", str(docs)]
    result = subprocess.run(
        [sys.executable, "-m", "codegen", "check", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1
    assert "stale: docs/entities.md" in result.stderr


def test_scratch_output_never_writes_the_project_docs(tmp_path: Path) -> None:
    before = (ROOT / "docs" / "entities.md").stat().st_mtime_ns
    changed = generate(CASE_SCHEMA, tmp_path / "generated")
    assert not any(p.startswith("docs/") for p in changed)
    assert (ROOT / "docs" / "entities.md").stat().st_mtime_ns == before


# ------------------------------------------------------------------ Mermaid

_ENTITY = re.compile(r"^    ([a-z_][a-z0-9_]*) \{$")
_ATTRIBUTE = re.compile(
    r"^        ([A-Za-z_][A-Za-z0-9_]*) ([a-z_][a-z0-9_]*)"
    r"( (PK|FK|UK)(, (PK|FK|UK))*)?$"
)
_EDGE = re.compile(
    r'^    ([a-z_][a-z0-9_]*) (\|\||o\|)--(o\{|\|\{) ([a-z_][a-z0-9_]*) : "([^"]+)"$'
)


def parse_er(text: str) -> tuple[dict[str, dict[str, set[str]]], set[tuple[str, ...]]]:
    """A strict reader of the subset of Mermaid erDiagram the generator emits.

    Returns ``{entity: {attribute: marks}}`` and the edges as
    ``(parent, child, label, parent cardinality)``; fails on any other line.
    """
    lines = text.splitlines()
    assert lines[0] == "erDiagram"
    entities: dict[str, dict[str, set[str]]] = {}
    edges: set[tuple[str, ...]] = set()
    current: str | None = None
    for number, line in enumerate(lines[1:], 2):
        if current is not None:
            if line == "    }":
                current = None
                continue
            match = _ATTRIBUTE.match(line)
            assert match, f"line {number}: not an attribute: {line!r}"
            marks = set((match.group(3) or "").replace(",", " ").split())
            entities[current][match.group(2)] = marks
            continue
        if match := _ENTITY.match(line):
            current = match.group(1)
            assert current not in entities, f"line {number}: {current} twice"
            entities[current] = {}
            continue
        match = _EDGE.match(line)
        assert match, f"line {number}: neither an entity nor an edge: {line!r}"
        parent, card, _, child, label = match.groups()
        assert parent in entities and child in entities, f"line {number}"
        edges.add((parent, child, label, card))
    assert current is None, "an entity block is not closed"
    return entities, edges


def test_diagram_has_every_table_key_and_foreign_key(schema: SchemaIR) -> None:
    entities, edges = parse_er(er_diagram(schema))
    tables = schema.entities_by_dependency
    assert set(entities) == {e.table for e in tables}
    expected_edges = set()
    for e in tables:
        for f in e.key:
            assert "PK" in entities[e.table][f.name]
        optional = {f.name: f.optional for f in e.fields}
        for fk in e.foreign_keys:
            assert "FK" in entities[e.table][fk.column]
            card = "o|" if optional[fk.column] else "||"
            expected_edges.add((fk.table, e.table, fk.column, card))
    assert expected_edges  # the schema has foreign keys to draw
    assert edges == expected_edges


def test_diagram_is_embedded_in_the_page_and_the_package(schema: SchemaIR) -> None:
    text = er_diagram(schema)
    assert text == MERMAID
    page = (ROOT / "docs" / "entities.md").read_text(encoding="utf-8")
    assert f"```mermaid\n{text}```\n" in page


def test_parser_rejects_malformed_diagrams() -> None:
    good = "erDiagram\n    a {\n        str id PK\n    }\n"
    parse_er(good)
    for bad in (
        good.replace("erDiagram", "graph TD"),
        good.replace("    }\n", ""),
        good + '    a ||--o{ b : "x"\n',  # b is not an entity
        good.replace("str id PK", "str id PRIMARY"),
    ):
        with pytest.raises(AssertionError):
            parse_er(bad)


def test_case_diagrams_parse(tmp_path: Path) -> None:
    for case in ("minimal", "filtered", "composite_key"):
        files, _ = render_outputs(CASES / case / "schema", tmp_path / case)
        assert "diagram.py" in files
        namespace: dict[str, object] = {}
        exec(files["diagram.py"], namespace)  # the generated module itself
        parse_er(str(namespace["MERMAID"]))


# ---------------------------------------------------------- the diagram verb


def test_diagram_verb_prints_the_generated_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["diagram"]) == 0
    assert capsys.readouterr().out == MERMAID
    assert main(["diagram", "--fenced"]) == 0
    assert capsys.readouterr().out == f"```mermaid\n{MERMAID}```\n"


def test_diagram_verb_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "synthorg.persistence", "diagram"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == MERMAID
    parse_er(result.stdout)


def test_diagram_verb_help_and_usage_errors() -> None:
    # main() returns argparse's exit code instead of exiting.
    assert main(["diagram", "--no-such-flag"]) == 2
