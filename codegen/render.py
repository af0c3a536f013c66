"""Stage 3: render the IR into ``{relative path: text}``. A pure function.

``generate``, ``check`` and the golden tests all call :func:`render_schema`;
only :mod:`codegen.cli` touches ``generated/``. Python output is formatted
by the pinned ruff (import sorting, then ``ruff format``), so templates do
not fight over whitespace.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import jinja2

from codegen import docs, imports, migrations, sql_layout
from codegen.build import build
from codegen.custom import check_custom
from codegen.ir import DIALECTS, Dialect, SchemaIR
from codegen.migrations import History, plan
from codegen.spec import load_schema

TEMPLATES = Path(__file__).parent / "templates"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
QQ = '"' * 3
TITLES: dict[Dialect, str] = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def _py(value: Any) -> str:
    """A Python literal for a str/number/bool/None/tuple value."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        inner = ", ".join(_py(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def _docstring(text: str, indent: int) -> str:
    """A triple-quoted docstring wrapped to the line length at ``indent``."""
    text = " ".join(text.replace("\\", "/").replace(QQ, "'").split())
    lines = textwrap.wrap(text, width=88 - indent - 3) or [""]
    if len(lines) == 1 and len(lines[0]) + indent + 6 <= 88:
        return QQ + lines[0] + QQ
    pad = " " * indent
    return (
        QQ
        + lines[0]
        + "".join(f"\n{pad}{line}" for line in lines[1:])
        + f"\n{pad}"
        + QQ
    )


def _order_text(order: tuple[tuple[str, bool], ...]) -> str:
    return ", ".join(f"{name} desc" if desc else name for name, desc in order)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["py"] = _py
    env.filters["order_text"] = _order_text
    env.filters["docstring"] = _docstring
    env.filters["cell"] = docs.cell
    env.filters["code"] = docs.code
    env.filters["inline"] = lambda value: f"`{value}`"
    env.filters["sql_block"] = sql_layout.sql_block
    env.globals["sql_placement"] = sql_layout.placement
    env.globals["sql_header"] = sql_layout.header
    return env


def render_ir(
    schema: SchemaIR,
    history: History,
    allow_destructive: bool = False,
    shared: dict[Dialect, frozenset[tuple[str, str]]] | None = None,
) -> dict[str, str]:
    """Every generated file of ``schema``; Python files not yet formatted.

    ``shared`` (from :func:`check_custom`) names the custom bodies written
    once for every dialect.
    """
    env = _environment()
    files: dict[str, str] = {}
    files["__init__.py"] = env.get_template("package_init.py.j2").render(
        schema=schema, module_imports=imports.package_init(schema)
    )
    files["enums.py"] = env.get_template("enums.py.j2").render(schema=schema)
    files["models.py"] = env.get_template("models.py.j2").render(
        schema=schema, module_imports=imports.models_module(schema)
    )
    for e in schema.entities:
        files[f"{e.module}.py"] = env.get_template("entity.py.j2").render(
            e=e, module_imports=imports.entity_module(e)
        )
    files["repositories.py"] = env.get_template("repositories.py.j2").render(
        schema=schema, module_imports=imports.repositories_module(schema)
    )
    files["manifest.py"] = env.get_template("manifest.py.j2").render(
        schema=schema, module_imports=imports.manifest_module(schema)
    )
    for dialect in DIALECTS:
        title = TITLES[dialect]
        shared_custom = (shared or {}).get(dialect, frozenset())
        files[f"{dialect}/__init__.py"] = env.get_template("dialect_init.py.j2").render(
            schema=schema,
            dialect=dialect,
            dialect_title=title,
            module_imports=imports.dialect_init_module(schema, dialect),
        )
        for e in schema.entities:
            files[f"{dialect}/{e.module}.py"] = env.get_template(
                "repository.py.j2"
            ).render(
                e=e,
                dialect=dialect,
                dialect_title=title,
                module_imports=imports.repository_module(e, dialect, shared_custom),
                shared_custom={n for m, n in shared_custom if m == e.module},
            )
        files[f"ddl/{dialect}.sql"] = env.get_template("schema.sql.j2").render(
            schema=schema, dialect=dialect, dialect_title=title
        )
    files["diagram.py"] = env.get_template("diagram.py.j2").render(
        diagram=docs.er_diagram(schema)
    )
    files.update(plan(schema, history, allow_destructive))
    return dict(sorted(files.items()))


def render_docs(
    schema: SchemaIR, shared: dict[Dialect, frozenset[tuple[str, str]]] | None = None
) -> dict[str, str]:
    """The generated pages of ``docs/`` (``entities.md``): ``{name: text}``.

    ``shared`` (from :func:`check_custom`) names the custom bodies written
    once for every dialect, so the page points at the right file.
    """
    entities, versions = docs.entity_docs(schema)
    text = (
        _environment()
        .get_template("entities.md.j2")
        .render(
            entities=entities,
            versions=versions,
            diagram=docs.er_diagram(schema),
            types=docs.type_mapping(schema),
            shared_custom=shared or {d: frozenset() for d in DIALECTS},
        )
    )
    # One blank line between blocks, none trailing: stable under any editor.
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return {docs.DOCS_FILE: "\n".join(out).strip() + "\n"}


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


def read_history(out_dir: Path) -> History:
    """The revisions and recorded state already in ``out_dir``.

    Refuses (:class:`codegen.migrations.HistoryError`) a history a merge left
    inconsistent: conflict markers, duplicate revision numbers.
    """
    return migrations.read_history(out_dir)


RUNTIME = Path(__file__).resolve().parent.parent / "src" / "synthorg" / "persistence"


def render_outputs(
    schema_dir: Path,
    out_dir: Path,
    runtime_dir: Path = RUNTIME,
    allow_destructive: bool = False,
) -> tuple[dict[str, str], dict[str, str]]:
    """The files of ``generated/`` and the generated pages of ``docs/``.

    Loads, validates, builds and renders ``schema_dir`` against
    ``out_dir``'s history. ``runtime_dir`` is where hand-written
    ``<dialect>/custom/<accessor>.py`` modules of custom methods are
    checked; ``allow_destructive`` allows every destructive schema change
    in the next migration revision.
    """
    schema = build(load_schema(schema_dir))
    shown = (
        "src/synthorg/persistence"
        if runtime_dir == RUNTIME
        else f"{runtime_dir.parent.name}/{runtime_dir.name}"
    )
    shared = check_custom(schema, runtime_dir, shown)
    generated = format_python(
        render_ir(schema, read_history(out_dir), allow_destructive, shared)
    )
    return generated, render_docs(schema, shared)


def render_schema(
    schema_dir: Path,
    out_dir: Path,
    runtime_dir: Path = RUNTIME,
    allow_destructive: bool = False,
) -> dict[str, str]:
    """The files of ``generated/`` only (see :func:`render_outputs`)."""
    return render_outputs(schema_dir, out_dir, runtime_dir, allow_destructive)[0]
