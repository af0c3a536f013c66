"""Outside ``codegen/dialects/`` nothing in the generator branches on a dialect.

A dialect is an object (:mod:`codegen.dialects`): code asks it (its
placeholder, codecs, rowcount strategy, migration rendering ...) and
templates read the per-dialect template module it names
(``_dialect_<name>.j2``). A comparison with a dialect's name anywhere else
would quietly give a new dialect another dialect's behaviour, so this test
names the file and line of any such branch.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jinja2
import pytest

from codegen.dialects import DIALECTS

ROOT = Path(__file__).resolve().parents[2]
CODEGEN = ROOT / "codegen"
TEMPLATES = CODEGEN / "templates"
NAMES = frozenset({*DIALECTS, *(d.title for d in DIALECTS.values())})
TEMPLATE_BRANCH = re.compile(
    r"\bdialect\s*[!=]=|[!=]=\s*[\"'](?:"
    + "|".join(re.escape(n) for n in sorted(NAMES))
    + r")[\"']"
)


def _names_a_dialect(node: ast.expr) -> bool:
    """A string constant naming a dialect, or a tuple/list/set holding one."""
    if isinstance(node, ast.Constant):
        return node.value in NAMES
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_names_a_dialect(e) for e in node.elts)
    return False


def _branches(node: ast.AST) -> bool:
    """A comparison (or match case) against a dialect's name."""
    if isinstance(node, ast.Compare):
        return any(_names_a_dialect(x) for x in (node.left, *node.comparators))
    if isinstance(node, ast.Match):
        return any(
            isinstance(case.pattern, ast.MatchValue)
            and _names_a_dialect(case.pattern.value)
            for case in node.cases
        )
    return False


def python_branches(root: Path = CODEGEN, base: Path = ROOT) -> list[str]:
    """``file:line`` of every comparison with a dialect's name outside dialects/."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if (root / "dialects") in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Compare, ast.Match)) and _branches(node):
                found.append(f"{path.relative_to(base)}:{node.lineno}")
    return sorted(found, key=lambda s: (s.rsplit(":", 1)[0], int(s.rsplit(":", 1)[1])))


def template_branches(root: Path = TEMPLATES, base: Path = ROOT) -> list[str]:
    """``file:line`` of every ``dialect ==`` (or ``== "sqlite"``) in a template."""
    found: list[str] = []
    for path in sorted(root.glob("*.j2")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            if TEMPLATE_BRANCH.search(line):
                found.append(f"{path.relative_to(base)}:{number}: {line.strip()}")
    return found


def test_no_python_branch_on_a_dialect_name() -> None:
    assert python_branches() == []


def test_no_template_branch_on_a_dialect_name() -> None:
    assert template_branches() == []


def test_the_checks_see_a_branch(tmp_path: Path) -> None:
    """The scanners catch the shapes they look for (not vacuously green)."""
    (tmp_path / "mod.py").write_text(
        'def f(d):\n    return 1 if d == "sqlite" else 2\n'
        'def g(d):\n    return d in ("postgres", "x")\n',
        encoding="utf-8",
    )
    (tmp_path / "dialects").mkdir()
    (tmp_path / "dialects" / "ok.py").write_text('X = 1 if 0 == "sqlite" else 2\n')
    assert [s.rsplit(":", 1)[1] for s in python_branches(tmp_path, tmp_path)] == [
        "2",
        "4",
    ]
    (tmp_path / "t.j2").write_text(
        'a\n{% if dialect == "sqlite" %}\n{{ "x" if d != "postgres" }}\n',
        encoding="utf-8",
    )
    assert len(template_branches(tmp_path, tmp_path)) == 2


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_each_dialect_has_its_templates(name: str) -> None:
    """The template module and repository body a dialect names exist and agree."""
    dialect = DIALECTS[name]
    assert (TEMPLATES / dialect.repository_template).is_file()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined
    )
    module = env.get_template(dialect.template_module).module
    assert module.prefix == dialect.class_prefix  # type: ignore[attr-defined]
    for flag in (
        "handle",
        "handle_type",
        "builder_doc",
        "rejects_blob_as_text",
        "stages_bulk_upserts",
    ):
        assert hasattr(module, flag), f"{dialect.template_module} lacks {flag}"
