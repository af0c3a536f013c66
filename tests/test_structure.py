"""The runtime's shape: no dialect-neutral module branches on a dialect's name.

Dialect-specific behaviour lives in the dialect packages
(``synthorg/persistence/sqlite/``, ``postgres/``, and the generated code's
``generated/sqlite/``, ``generated/postgres/``) and is reached through the
registry in :mod:`synthorg.persistence.dialects`. Everywhere else a
comparison with ``"sqlite"`` or ``"postgres"`` (``==``, ``!=``, ``in``, a
``match`` case) would be a branch a third dialect silently falls into; this
test walks the source with :mod:`ast` and names each one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import synthorg.persistence

ROOT = Path(synthorg.persistence.__file__).resolve().parent
DIALECT_NAMES = frozenset({"sqlite", "postgres"})
DIALECT_PACKAGES = frozenset({"sqlite", "postgres"})

# Configuration, not behaviour: PersistenceConfig names its two built-in
# settings sections (``sqlite:``, ``postgres:``), so its validator checks
# that the section of the chosen backend is present, and ``from_env`` maps
# the environment's variables onto those sections.
ALLOWED = frozenset(
    {
        ("config.py", "PersistenceConfig._validate_backend_name"),
        ("config.py", "PersistenceConfig.from_env"),
    }
)


def _modules() -> list[Path]:
    """Every runtime module outside the dialect packages."""
    found: list[Path] = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        inside = parts[1:-1] if parts[0] == "generated" else parts[:-1]
        if inside and inside[0] in DIALECT_PACKAGES:
            continue
        found.append(path)
    return found


def _names_dialect(node: ast.AST) -> bool:
    """A dialect name literal, alone or inside a tuple/list/set literal."""
    if isinstance(node, ast.Constant):
        return node.value in DIALECT_NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_names_dialect(item) for item in node.elts)
    return False


class _Finder(ast.NodeVisitor):
    """Dialect-name comparisons, each with the function it is in."""

    def __init__(self) -> None:
        self.scope: list[str] = []
        self.found: list[tuple[str, int]] = []

    def _scoped(
        self, node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
    ) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_ClassDef = _scoped
    visit_FunctionDef = _scoped
    visit_AsyncFunctionDef = _scoped

    def visit_Compare(self, node: ast.Compare) -> None:
        if any(_names_dialect(part) for part in (node.left, *node.comparators)):
            self.found.append((".".join(self.scope), node.lineno))
        self.generic_visit(node)

    def visit_MatchValue(self, node: ast.MatchValue) -> None:
        if _names_dialect(node.value):
            self.found.append((".".join(self.scope), node.lineno))
        self.generic_visit(node)


def _branches(path: Path) -> list[str]:
    finder = _Finder()
    finder.visit(ast.parse(path.read_text("utf-8"), filename=str(path)))
    relative = path.relative_to(ROOT).as_posix()
    return [
        f"{relative}:{line} (in {scope or 'module'})"
        for scope, line in finder.found
        if (relative, scope) not in ALLOWED
    ]


def test_no_dialect_branches_outside_the_dialect_packages() -> None:
    modules = _modules()
    assert any(p.name == "drift.py" for p in modules)  # the walk found the runtime
    offenders = [hit for path in modules for hit in _branches(path)]
    assert offenders == [], (
        "dialect-neutral code compares with a dialect's name; move the "
        "behaviour into the dialect package and reach it through "
        "synthorg.persistence.dialects:\n  " + "\n  ".join(offenders)
    )


@pytest.mark.parametrize(
    "source",
    [
        'if backend.kind == "sqlite": pass',
        'x = "postgres" if name != "postgres" else None',
        'if kind in ("sqlite", "sqlite_file"): pass',
        'match name:\n    case "postgres":\n        pass',
    ],
)
def test_the_check_sees_each_form(source: str) -> None:
    finder = _Finder()
    finder.visit(ast.parse(source))
    assert finder.found


def test_allow_list_entries_still_exist() -> None:
    """An allow-list entry whose comparison is gone must be removed."""
    for relative, scope in ALLOWED:
        finder = _Finder()
        finder.visit(ast.parse((ROOT / relative).read_text("utf-8")))
        assert scope in {s for s, _ in finder.found}, (relative, scope)


def test_every_dialect_has_a_runtime_and_a_backend() -> None:
    from synthorg.persistence.dialects import DIALECTS, dialect_runtime
    from synthorg.persistence.registry import default_registry

    for dialect in DIALECTS:
        assert dialect_runtime(dialect.name).name == dialect.name
        assert dialect.name in default_registry
        assert (ROOT / dialect.name / "runtime.py").is_file()
