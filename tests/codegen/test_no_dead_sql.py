"""Every SQL statement a generated repository carries is run by one of its methods.

The statements sit as class constants above the methods that run them; a
constant no method names is dead SQL a reader would take for behaviour
(append-only repositories once carried a ``_COUNT`` nothing ran).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GENERATED = Path(__file__).resolve().parents[2] / "generated"
MODULES = sorted(
    p
    for d in ("sqlite", "postgres")
    for p in (GENERATED / d).glob("*.py")
    if p.name != "__init__.py"
)


def dead_constants(source: str) -> list[str]:
    """Class-level ``_NAME = ...`` constants never read as ``self._NAME``."""
    tree = ast.parse(source)
    read = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    }
    dead = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                target = stmt.targets[0]
                if (
                    isinstance(target, ast.Name)
                    and target.id.startswith("_")
                    and target.id != "__slots__"
                    and target.id not in read
                ):
                    dead.append(target.id)
    return dead


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_statement_is_run(path: Path) -> None:
    assert dead_constants(path.read_text(encoding="utf-8")) == []


def test_a_dead_statement_is_found() -> None:
    source = (
        "class R:\n"
        "    __slots__ = ()\n"
        "    _GET = 'SELECT 1'\n"
        "    _COUNT = 'SELECT COUNT(*)'\n"
        "    async def get(self):\n"
        "        return self._GET\n"
    )
    assert dead_constants(source) == ["_COUNT"]
