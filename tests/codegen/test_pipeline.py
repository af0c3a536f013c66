"""The pipeline's stages compose to what ``generate`` and ``check`` use.

``render`` only renders: it neither reads ``generated/`` (the migration
history is the plan stage's) nor runs ruff (the format stage's). The
stages run one by one give the same tree as :func:`render_outputs`, and
``codegen.renumber`` no longer imports the command line.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from codegen import pipeline
from tests.codegen._support import CASES, ROOT


def _imports(module: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_render_neither_reads_history_nor_formats() -> None:
    imported = _imports(ROOT / "codegen" / "render.py")
    for banned in (
        "subprocess",
        "tempfile",
        "codegen.migrations",
        "codegen.formatting",
        "codegen.spec",
        "codegen.build",
    ):
        assert banned not in imported, f"codegen/render.py imports {banned}"


def test_the_stages_one_by_one_give_render_outputs(tmp_path: Path) -> None:
    schema_dir = CASES / "filtered" / "schema"
    spec = pipeline.load(schema_dir)
    schema = pipeline.build_ir(spec)
    pipeline.check_bodies(schema)
    planned = pipeline.plan_migrations(schema, tmp_path)
    assert set(planned) >= {"migrations/state.json"}
    rendered = pipeline.render_files(schema, planned)
    assert not set(planned) - set(rendered.files)
    formatted = pipeline.format_outputs(rendered)
    assert (formatted.files, formatted.pages) == pipeline.render_outputs(
        schema_dir, tmp_path
    )


def test_renumber_does_not_import_the_command_line() -> None:
    code = "import sys, codegen.renumber; print('codegen.cli' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "False"
