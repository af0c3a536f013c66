"""Build stage: the CREATE TABLE and CREATE INDEX text of each dialect.

Column types and rendered CHECKs come from each field's codec in that
dialect; everything else (keys, foreign keys, indexes) is shared SQL.
"""

from __future__ import annotations

from codegen.ir import DIALECTS, CheckRule, DdlIR, FieldIR, ForeignKeyIR, IndexIR, quote


def ddl(
    table: str,
    fields: tuple[FieldIR, ...],
    key: tuple[FieldIR, ...],
    fks: tuple[ForeignKeyIR, ...],
    indexes: tuple[IndexIR, ...],
    differ: tuple[tuple[str, str], ...] = (),
) -> dict[str, DdlIR]:
    """CREATE TABLE and CREATE INDEX text per dialect name."""
    out: dict[str, DdlIR] = {}
    for dialect in DIALECTS:
        lines: list[str] = []
        for f in fields:
            codec = f.codec(dialect)
            lines.append(
                f"    {f.column} {codec.column_type}"
                + ("" if f.optional else " NOT NULL")
            )
        for f in fields:
            for name, expression in f.codec(dialect).checks:
                lines.append(f"    CONSTRAINT {quote(name)} CHECK ({expression})")
        for a, b in differ:
            rule = CheckRule("differs", columns=(a, b))
            lines.append(
                f"    CONSTRAINT {quote(f'ck_{table}_{a}_differs')} "
                f"CHECK ({DIALECTS[dialect].check_sql(rule, '')})"
            )
        lines.append(
            f"    CONSTRAINT {quote('pk_' + table)} PRIMARY KEY "
            f"({', '.join(f.column for f in key)})"
        )
        for fk in fks:
            lines.append(
                f"    CONSTRAINT {quote(fk.name)} FOREIGN KEY ({quote(fk.column)}) "
                f"REFERENCES {quote(fk.table)} ({quote(fk.target)}) "
                f"ON DELETE {fk.on_delete}"
            )
        create = f"CREATE TABLE {quote(table)} (\n" + ",\n".join(lines) + "\n)"
        create_indexes = tuple(
            f"CREATE {'UNIQUE ' if ix.unique else ''}INDEX {quote(ix.name)} "
            f"ON {quote(table)} ({', '.join(c.sql for c in ix.columns)})"
            + (f" WHERE {ix.where}" if ix.where else "")
            for ix in indexes
        )
        out[dialect] = DdlIR(create_table=create, create_indexes=create_indexes)
    return out
