"""Helpers shared by the codegen tests: case folders, tree I/O and tree diffs.

A golden case is a folder ``cases/<case>/`` with ``schema/*.yaml`` and the
complete rendered tree in ``expected/``. Set ``UPDATE_GOLDEN=1`` to rewrite
the expected files (golden trees and ``errors/*/expected_error.txt``)
instead of comparing; review the diff before committing.
"""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CASES = HERE / "cases"
ERRORS = HERE / "errors"


def update_golden() -> bool:
    """True when the run should rewrite expected output instead of comparing."""
    return os.environ.get("UPDATE_GOLDEN") == "1"


def case_names(folder: Path) -> list[str]:
    """Every case folder (one with a ``schema/`` subfolder), sorted."""
    return sorted(p.name for p in folder.iterdir() if (p / "schema").is_dir())


def read_tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` as ``{posix relative path: text}``."""
    return {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def write_tree(root: Path, files: dict[str, str]) -> None:
    """Replace ``root`` with exactly ``files``."""
    if root.exists():
        shutil.rmtree(root)
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def tree_diff(expected: dict[str, str], actual: dict[str, str]) -> str:
    """A readable report of missing, extra and different files ('' if equal)."""
    lines: list[str] = []
    for rel in sorted(set(expected) - set(actual)):
        lines.append(f"missing (expected but not rendered): {rel}")
    for rel in sorted(set(actual) - set(expected)):
        lines.append(f"extra (rendered but not expected): {rel}")
    for rel in sorted(set(expected) & set(actual)):
        if expected[rel] != actual[rel]:
            lines.append(f"different: {rel}")
            lines.extend(
                difflib.unified_diff(
                    expected[rel].splitlines(),
                    actual[rel].splitlines(),
                    f"expected/{rel}",
                    f"rendered/{rel}",
                    lineterm="",
                )
            )
    return "\n".join(lines)
