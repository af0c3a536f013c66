"""Stage 2: turn validated specs into the frozen IR of :mod:`codegen.ir`.

Cross-reference errors (unknown fields, enums or tables, orderings that do
not end in a unique key, lookups by a non-unique set) are raised as
:class:`SpecError` naming the file and the YAML path. Collections keep
declaration order or are sorted, so the output is deterministic.

One module per stage: :mod:`.entity` (an entity, in checked phases),
:mod:`.query` (ordering, filters), :mod:`.indexes` (declared and derived),
:mod:`.keys` (foreign keys, protect predicates), :mod:`.ddl` (per-dialect
DDL text) and :mod:`.versions` (value models, version tables).
"""

from __future__ import annotations

from codegen.build.entity import entity
from codegen.build.versions import value_models, version_tables
from codegen.ir import EntityIR, EnumIR, SchemaIR
from codegen.spec import LoadedSchema, SpecError, raise_all

__all__ = ["build"]


def dependency_order(entities: list[EntityIR]) -> tuple[EntityIR, ...]:
    """Tables after the tables they reference (ties by name), for DDL order."""
    by_table = {e.table: e for e in entities}
    done: list[EntityIR] = []
    seen: set[str] = set()

    def visit(e: EntityIR, stack: tuple[str, ...]) -> None:
        if e.table in seen:
            return
        if e.table in stack:
            raise SpecError(
                e.file, "fields", f"foreign keys form a cycle: {' -> '.join(stack)}"
            )
        for fk in sorted(e.foreign_keys, key=lambda f: f.table):
            if fk.table != e.table:
                visit(by_table[fk.table], (*stack, e.table))
        seen.add(e.table)
        done.append(e)

    for e in sorted(entities, key=lambda e: e.table):
        visit(e, ())
    return tuple(done)


def build(schema: LoadedSchema) -> SchemaIR:
    """Build the IR of a whole schema, checking names are unique across files."""
    seen: dict[tuple[str, str], str] = {}
    problems: list[SpecError] = []
    for file, spec in schema.entities:
        for what, value in (
            ("entity", spec.entity),
            ("accessor", spec.accessor),
            ("table", spec.table),
        ):
            other = seen.get((what, value))
            if other is not None:
                problems.append(
                    SpecError(file, what, f"{value!r} is already declared in {other}")
                )
            seen[(what, value)] = file
    raise_all(problems)
    tables = {spec.table: spec for _, spec in schema.entities}
    entities: list[EntityIR] = []
    for file, spec in schema.entities:
        # Every entity is checked, so one run reports every file's problems.
        try:
            entities.append(entity(file, spec, schema.enums, tables))
        except SpecError as exc:
            problems.append(exc)
    raise_all(problems)
    models = value_models(schema)
    versions = version_tables(schema, entities, models, tables, seen)
    enums = tuple(
        EnumIR(
            name=name,
            description=spec.description or f"{name} values.",
            members=tuple((v.upper(), v) for v in spec.values),
        )
        for name, spec in schema.enums.items()
    )
    tables_in_order = dependency_order([*entities, *(v.table for v in versions)])
    return SchemaIR(
        enums=enums,
        entities=tuple(sorted(entities, key=lambda e: e.accessor)),
        table_order=tuple(e.table for e in tables_in_order),
        models=models,
        versions=versions,
    )
