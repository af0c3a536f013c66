"""Build stage: foreign keys, protected-row predicates and SQL literals.

A foreign key must target a key or unique field of a declared table; a
protect predicate names required fields compared with literals.
"""

from __future__ import annotations

from typing import Any

from codegen.ir import FieldIR, ForeignKeyIR, sql_literal
from codegen.spec import EntitySpec, SpecError

ON_DELETE = {
    "cascade": "CASCADE",
    "restrict": "RESTRICT",
    "set_null": "SET NULL",
    "no_action": "NO ACTION",
}


def sql_value(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return sql_literal(str(value))


def foreign_keys(
    spec: EntitySpec, file: str, tables: dict[str, EntitySpec]
) -> tuple[ForeignKeyIR, ...]:
    fks: list[ForeignKeyIR] = []
    for name, f in spec.fields.items():
        if f.references is None:
            continue
        table, column = f.references.split(".")
        target = tables.get(table)
        if target is None:
            raise SpecError(
                file, f"fields.{name}.references", f"unknown table {table!r}"
            )
        if column not in target.fields:
            raise SpecError(
                file, f"fields.{name}.references", f"{table} has no field {column!r}"
            )
        if target.repository.key != [column] and not target.fields[column].unique:
            raise SpecError(
                file,
                f"fields.{name}.references",
                f"{table}.{column} must be the key or a unique field",
            )
        if f.on_delete == "set_null" and not f.optional:
            raise SpecError(
                file, f"fields.{name}.on_delete", "set_null needs an optional field"
            )
        fks.append(
            ForeignKeyIR(
                name=f"fk_{spec.table}_{name}",
                column=name,
                table=table,
                target=column,
                on_delete=ON_DELETE[f.on_delete],
            )
        )
    return tuple(fks)


def protect_predicate(
    file: str,
    table: str,
    pname: str,
    predicate: dict[str, Any],
    fields: dict[str, FieldIR],
) -> tuple[str, str]:
    conds: list[str] = []
    for name, value in predicate.items():
        where = f"repository.protect.{pname}.{name}"
        if name not in fields:
            raise SpecError(file, where, f"unknown field {name!r}")
        if fields[name].optional:
            # NULL would make the predicate unknown: neither spared nor named.
            raise SpecError(file, where, "a protected field must not be optional")
        conds.append(f"{fields[name].column} = {sql_value(value)}")
    if not conds:
        raise SpecError(file, f"repository.protect.{pname}", "an empty predicate")
    return (f"{table}.{pname}", " AND ".join(conds))
