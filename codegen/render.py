"""The render stage: the IR into ``{relative path: text}``. Pure functions.

:func:`render_ir` lays out every generated file except the migration
revisions (the plan stage, :func:`codegen.pipeline.plan_migrations`, makes
those); :func:`render_docs` the generated pages of ``docs/``. Nothing here
reads or writes files other than the Jinja templates, and nothing formats:
:mod:`codegen.formatting` runs ruff over the result afterwards. The stages
are put together in :mod:`codegen.pipeline`.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jinja2

from codegen import docs, imports, sql_layout
from codegen.dialects.sqlite import read_entry as sqlite_read_entry
from codegen.ir import DIALECTS, Dialect, SchemaIR

TEMPLATES = Path(__file__).parent / "templates"
QQ = '"' * 3
TITLES: dict[Dialect, str] = {name: d.title for name, d in DIALECTS.items()}


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
    env.globals["sqlite_read"] = sqlite_read_entry
    return env


Shared = dict[Dialect, frozenset[tuple[str, str]]]


def render_ir(schema: SchemaIR, shared: Shared | None = None) -> dict[str, str]:
    """Every generated file but the revisions; Python files not yet formatted.

    ``shared`` (from :func:`codegen.custom.check_custom`) names the custom
    bodies written once for every dialect.
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
    return dict(sorted(files.items()))


def render_docs(schema: SchemaIR, shared: Shared | None = None) -> dict[str, str]:
    """The generated pages of ``docs/`` (``entities.md``): ``{name: text}``.

    ``shared`` (from :func:`codegen.custom.check_custom`) names the custom
    bodies written once for every dialect, so the page points at the right file.
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
            titles=[d.title for d in DIALECTS.values()],
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
