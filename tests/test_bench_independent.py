"""The benchmark stands on the installed package alone, never on ``tests/``.

``bench/`` is run by users comparing drivers (``make bench``); importing a
test helper would make it depend on the test tree's layout and fixtures.
"""

from __future__ import annotations

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_bench_does_not_import_tests() -> None:
    modules = sorted(BENCH.glob("*.py"))
    assert modules, "bench/ has no modules: the check would be vacuous"
    offenders = {
        path.name: sorted(n for n in _imported(path) if n.split(".")[0] == "tests")
        for path in modules
    }
    assert not any(offenders.values()), offenders
