"""The format stage: generated Python run through the pinned ruff.

Templates do not fight over whitespace: every ``.py`` file of the rendered
tree is written to a scratch folder, import-sorted (``ruff check --select I
--fix``) and formatted (``ruff format``) with the project's own
``pyproject.toml``, then read back. Other files pass through untouched.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def format_python(files: dict[str, str]) -> dict[str, str]:
    """Run the pinned ruff over every ``.py`` file (isort fixes, then format)."""
    python = {path: text for path, text in files.items() if path.endswith(".py")}
    if not python:
        return files
    with tempfile.TemporaryDirectory(prefix="codegen-") as tmp:
        root = Path(tmp)
        for path, text in python.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        ruff = [sys.executable, "-m", "ruff"]
        config = ["--config", str(PYPROJECT), "--no-cache"]
        for command in (
            [
                *ruff,
                "check",
                *config,
                "--select",
                "I",
                "--fix",
                "--quiet",
                "--exit-zero",
                tmp,
            ],
            [*ruff, "format", *config, tmp],
        ):
            result = subprocess.run(
                command, capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                raise RuntimeError(
                    f"ruff failed on generated code:\n{result.stdout}{result.stderr}"
                )
        formatted = {path: (root / path).read_text(encoding="utf-8") for path in python}
    return {path: formatted.get(path, text) for path, text in files.items()}
