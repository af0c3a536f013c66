"""Generated documentation: ``docs/entities.md`` and the Mermaid ER diagram.

Everything here reads the frozen IR (:mod:`codegen.ir`) and returns text;
:mod:`codegen.render` lays it out with ``entities.md.j2``. The diagram is
also rendered into ``generated/diagram.py`` (a constant) so the runtime
``diagram`` verb prints it from an installed wheel without the generator.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

from codegen.ir import (
    DIALECTS,
    Codec,
    Dialect,
    EntityIR,
    FieldIR,
    MethodIR,
    SchemaIR,
    SqlConst,
)

DOCS_FILE = "entities.md"
"""The path of the generated page inside the docs folder."""

# Mermaid attribute types: one word per field kind.
_MERMAID_TYPES = {
    "list[str]": "str_list",
    "list[int]": "int_list",
    "list[json]": "json_list",
}

# Where a statement is broken onto a new line (keywords at a clause start).
_CLAUSES = re.compile(
    r" (?=(?:FROM|WHERE|AND|OR|ORDER BY|GROUP BY|HAVING|LIMIT|OFFSET|VALUES|"
    r"ON CONFLICT|DO UPDATE SET|DO NOTHING|RETURNING|SELECT|UNION ALL)\b)"
    r"|(?<!DO UPDATE) (?=SET\b)"
)
_WIDTH = 88


def cell(value: Any) -> str:
    """A Markdown table cell (pipes escaped, one line)."""
    text = " ".join(str(value).split())
    return text.replace("|", "\\|") if text else " "


def code(value: str) -> str:
    """Inline code for a table cell."""
    return f"`{cell(value)}`" if value else " "


def _unquote(sql: str) -> str:
    return sql.replace('"', "")


def format_sql(sql: str) -> str:
    """A statement on several lines: one clause a line, long lines wrapped."""
    lines: list[str] = []
    for part in _CLAUSES.split(sql.strip()):
        indent = "  " if part.startswith(("AND ", "OR ")) else ""
        wrapped = textwrap.wrap(
            part,
            width=_WIDTH - len(indent),
            subsequent_indent="    ",
            break_long_words=False,
            break_on_hyphens=False,
        ) or [part]
        lines.extend(indent + line for line in wrapped)
    return "\n".join(lines)


def const_sql(const: SqlConst) -> str:
    """A constant's statement; a filtered one shows every optional condition."""
    if not const.filtered and not const.keyset:
        return format_sql(const.sql)
    conditions = [*const.always, *(f"{c} /* if set */" for c in const.conditions)]
    if const.keyset:  # an iter_* batch: the continuation is built per batch
        after = ", ".join(column for column, *_ in const.keys)
        conditions.append(f"({after}) /* after the previous batch's last row */")
    where = " WHERE " + " AND ".join(conditions) if conditions else ""
    return format_sql(const.prefix + where + const.suffix)


def _normalise(sql: str) -> str:
    return sql.replace("%s", "?")


def _const_text(const: SqlConst) -> str:
    return "|".join(
        (const.sql, const.prefix, *const.conditions, const.suffix, *const.always)
    )


@dataclass(frozen=True)
class FieldDoc:
    name: str
    python: str
    types: tuple[str, ...]  # the column type in each dialect, DIALECTS order
    nullable: str
    default: str
    constraints: str


@dataclass(frozen=True)
class MethodDoc:
    name: str
    kind: str
    shape: str
    returns: str
    write: bool
    declared: bool
    doc: str
    params: str
    # (dialect title, runtime package folder, [(constant, SQL)]) per dialect
    sql: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]
    differs: bool


@dataclass(frozen=True)
class EntityDoc:
    e: EntityIR
    version_of: str | None
    fields: tuple[FieldDoc, ...]
    key: str
    order: str
    uniques: tuple[str, ...]
    indexes: tuple[tuple[str, str, str, str], ...]  # name, columns, unique, where
    foreign_keys: tuple[tuple[str, str, str], ...]  # column, target, on delete
    methods: tuple[MethodDoc, ...]
    differences: tuple[str, ...]

    @property
    def anchor(self) -> str:
        return self.e.table


def _default(f: FieldIR) -> str:
    """The YAML default as JSON (``now`` for the current time)."""
    if f.default_factory == "utc_now":
        return "now"
    if f.default_value is not None:
        return json.dumps(f.default_value, ensure_ascii=False)
    return "null" if f.default == "None" else ""


def _constraints(e: EntityIR, f: FieldIR) -> str:
    parts: list[str] = []
    if f in e.key:
        parts.append("key")
    if f.unique:
        parts.append("unique")
    if f.enum is not None:
        parts.append(f"enum {f.enum}")
    parts.extend(f"{k}={v}" for k, v in f.constraints)
    for fk in e.foreign_keys:
        if fk.column == f.name:
            parts.append(f"→ {fk.table}.{fk.target}")
    return ", ".join(parts)


def _index_columns(columns: tuple[str, ...]) -> str:
    out: list[str] = []
    for column in columns:
        text = _unquote(column)
        out.append(text if text.endswith(" DESC") else f"{text} ASC")
    return ", ".join(out)


def _method_doc(e: EntityIR, m: MethodIR) -> MethodDoc:
    consts = {d: {c.name: c for c in e.sql_consts[d]} for d in DIALECTS}
    per_dialect: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []
    texts: dict[Dialect, list[str]] = {}
    for dialect in DIALECTS:
        names = list(m.consts)
        # A dialect's own bulk path (PostgreSQL: COPY or a staged merge).
        if m.shape == "batch":
            names += [n for n in DIALECTS[dialect].bulk_consts if n in consts[dialect]]
        found = [consts[dialect][n] for n in names if n in consts[dialect]]
        texts[dialect] = [_normalise(_const_text(c)) for c in found]
        per_dialect.append(
            (
                DIALECTS[dialect].title,
                DIALECTS[dialect].name,
                tuple((c.name, const_sql(c)) for c in found),
            )
        )
    return MethodDoc(
        name=m.name,
        kind=m.kind,
        shape=m.shape,
        returns=m.returns,
        write=m.write,
        declared=m.declared,
        doc=" ".join(m.doc.split()),
        params=m.signature.removeprefix("self").removeprefix(", "),
        sql=tuple(per_dialect),
        differs=len({tuple(t) for t in texts.values()}) > 1,
    )


def _checks(codec: Codec) -> str:
    if not codec.checks:
        return f"by its type `{codec.column_type}`"
    return " and ".join(f"`{cell(x)}`" for _, x in codec.checks)


def _differences(e: EntityIR, methods: tuple[MethodDoc, ...]) -> tuple[str, ...]:
    out: list[str] = []
    for f in e.fields:
        if len({f.codec(d).checks for d in DIALECTS}) > 1:
            each = ", ".join(
                f"{DIALECTS[d].title} {_checks(f.codec(d))}" for d in DIALECTS
            )
            out.append(f"`{f.name}` is checked by the database: {each}.")
    if any(m.shape == "batch" for m in methods):
        names = ", ".join(f"`{m.name}`" for m in methods if m.shape == "batch")
        mode = "insert" if e.append_only else "upsert"
        each = "; ".join(d.bulk_doc(mode) for d in DIALECTS.values())
        every = "Both are" if len(DIALECTS) == 2 else "All are"
        out.append(f"{names}: {each}. {every} all or nothing.")
    differing = [m.name for m in methods if m.differs and m.shape != "batch"]
    if differing:
        out.append(
            "Statements that differ beyond the placeholder (`?` / `%s`): "
            + ", ".join(f"`{n}`" for n in differing)
            + "."
        )
    return tuple(out)


def entity_doc(e: EntityIR, version_of: str | None = None) -> EntityDoc:
    """What the page says about one table."""
    fields = tuple(
        FieldDoc(
            name=f.name,
            python=f.annotation,
            types=tuple(f.codec(d).column_type for d in DIALECTS),
            nullable="yes" if f.optional else "no",
            default=_default(f),
            constraints=_constraints(e, f),
        )
        for f in e.fields
    )
    uniques = [f"key ({', '.join(f.name for f in e.key)})"]
    uniques += [f"{f.name} (unique field)" for f in e.fields if f.unique]
    uniques += [
        f"{_unquote(', '.join(c.sql for c in ix.columns))} (index {ix.name}"
        + (f", where {ix.where})" if ix.where else ")")
        for ix in e.indexes
        if ix.unique
    ]
    methods = tuple(_method_doc(e, m) for m in e.methods)
    return EntityDoc(
        e=e,
        version_of=version_of,
        fields=fields,
        key=", ".join(f.name for f in e.key),
        order=", ".join(f"{n} desc" if d else n for n, d in e.order),
        uniques=tuple(uniques),
        indexes=tuple(
            (
                ix.name,
                _index_columns(tuple(c.sql for c in ix.columns)),
                "yes" if ix.unique else "no",
                ix.where or "",
            )
            for ix in e.indexes
        ),
        foreign_keys=tuple(
            (fk.column, f"{fk.table}.{fk.target}", fk.on_delete)
            for fk in e.foreign_keys
        ),
        methods=methods,
        differences=_differences(e, methods),
    )


def type_mapping(schema: SchemaIR) -> tuple[tuple[str, ...], ...]:
    """Every (field kind, Python, column type per dialect) in the schema."""
    seen: dict[tuple[str, ...], None] = {}
    for e in schema.entities_by_dependency:
        for f in e.fields:
            kind = "enum" if f.enum is not None else f.kind
            python = "enum class" if f.enum is not None else f.annotation
            python = python.removesuffix(" | None")
            seen[(kind, python, *(f.codec(d).column_type for d in DIALECTS))] = None
    return tuple(sorted(seen))


# ------------------------------------------------------------------ Mermaid


def _mermaid_type(f: FieldIR) -> str:
    if f.enum is not None:
        return f.enum
    return _MERMAID_TYPES.get(f.kind, f.kind)


def er_diagram(schema: SchemaIR) -> str:
    """The Mermaid ``erDiagram`` text: tables with key columns, FKs as edges.

    Each table lists its key columns (PK), foreign-key columns (FK) and
    unique columns (UK); an edge joins the referenced table to the
    referencing one, labelled with the column (``o|`` when it is nullable).
    """
    lines = ["erDiagram"]
    tables = sorted(schema.entities_by_dependency, key=lambda e: e.table)
    for e in tables:
        fk_columns = {fk.column for fk in e.foreign_keys}
        lines.append(f"    {e.table} {{")
        for f in e.fields:
            marks = []
            if f in e.key:
                marks.append("PK")
            if f.name in fk_columns:
                marks.append("FK")
            if f.unique and f not in e.key:
                marks.append("UK")
            if marks:
                lines.append(f"        {_mermaid_type(f)} {f.name} {', '.join(marks)}")
        lines.append("    }")
    for e in tables:
        by_name = {f.name: f for f in e.fields}
        for fk in sorted(e.foreign_keys, key=lambda fk: fk.column):
            parent = "o|" if by_name[fk.column].optional else "||"
            lines.append(f'    {fk.table} {parent}--o{{ {e.table} : "{fk.column}"')
    return "\n".join(lines) + "\n"


def entity_docs(
    schema: SchemaIR,
) -> tuple[tuple[EntityDoc, ...], tuple[EntityDoc, ...]]:
    """Entity pages and version-table pages, each sorted by table."""
    entities = tuple(
        entity_doc(e) for e in sorted(schema.entities, key=lambda e: e.table)
    )
    versions = tuple(
        entity_doc(v.table, version_of=v.model)
        for v in sorted(schema.versions, key=lambda v: v.table.table)
    )
    return entities, versions
