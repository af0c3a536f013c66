"""Build stage: an entity's indexes, declared and derived from access paths.

Index columns are typed ``(name, descending)`` pairs
(:class:`codegen.ir.IndexColumn`) from the YAML through to the DDL.
"""

from __future__ import annotations

import hashlib

from codegen.build.keys import sql_value
from codegen.ir import FieldIR, IndexColumn, IndexIR, quote
from codegen.spec import EntitySpec, SpecError


def entity_indexes(
    spec: EntitySpec,
    file: str,
    table: str,
    fields: dict[str, FieldIR],
    key: tuple[str, ...],
    paths: list[tuple[tuple[str, ...], tuple[str, ...]]],
    order: tuple[tuple[str, bool], ...],
) -> tuple[IndexIR, ...]:
    """The declared indexes, unique-field indexes, and one per uncovered path.

    Every query a repository runs must be index-backed (the tests hold it
    with EXPLAIN), without the YAML author listing indexes by hand: each
    access path (equality columns, then ordering columns) that neither the
    key, a unique set nor an existing index serves (read forwards or
    backwards) gets a derived index, named deterministically so migrations
    are stable.
    """
    explicit: list[IndexIR] = []
    for i, index in enumerate(spec.indexes):
        cols: list[IndexColumn] = []
        for column in index.columns:
            bare = column.lstrip("-")
            if bare not in fields:
                raise SpecError(
                    file, f"indexes[{i}].columns", f"unknown field {bare!r}"
                )
            cols.append(IndexColumn(bare, column.startswith("-")))
        where = None
        if index.where:
            for name in index.where:
                if name not in fields:
                    raise SpecError(
                        file, f"indexes[{i}].where", f"unknown field {name!r}"
                    )
            where = " AND ".join(
                f"{quote(n)} = {sql_value(v)}" for n, v in index.where.items()
            )
        explicit.append(
            IndexIR(
                name=index.name,
                columns=tuple(cols),
                unique=index.unique,
                where=where,
                predicate=tuple(index.where.items()),
            )
        )
    for name, f in fields.items():
        if f.unique:
            explicit.append(
                IndexIR(
                    name=f"ux_{table}_{name}", columns=(IndexColumn(name),), unique=True
                )
            )

    def flip(cols: tuple[tuple[str, bool], ...]) -> tuple[tuple[str, bool], ...]:
        return tuple((n, not d) for n, d in cols)

    # An index serves a path when the path's columns are its prefix, read
    # forwards or (every direction flipped) backwards.
    covering: list[tuple[tuple[str, bool], ...]] = [tuple((k, False) for k in key)]
    covering += [ix.columns for ix in explicit if ix.where is None]
    derived: dict[tuple[tuple[str, bool], ...], IndexIR] = {}
    unique = [set(key)] + [
        {c.name for c in ix.columns}
        for ix in explicit
        if ix.unique and ix.where is None
    ]
    for eq, ordering in paths:
        if any(u <= set(eq) for u in unique):
            continue  # a point read: the key or a unique index serves it
        wanted = tuple((c, False) for c in eq) + tuple(
            (c.lstrip("-"), c.startswith("-"))
            for c in ordering
            if c.lstrip("-") not in eq
        )
        if not wanted:
            continue
        variants = {wanted, tuple(wanted[: len(eq)]) + flip(wanted[len(eq) :])}
        if any(
            existing[: len(wanted)] == variant
            for existing in [*covering, *derived]
            for variant in variants
        ):
            continue
        if wanted[len(eq) :] and wanted[len(eq)][1]:
            wanted = tuple(wanted[: len(eq)]) + flip(wanted[len(eq) :])
        names = [n for n, _ in wanted]
        name = f"ix_{table}_" + "_".join(names)
        if len(name) > 63:
            digest = hashlib.sha256("_".join(names).encode()).hexdigest()[:8]
            name = f"{name[:54]}_{digest}"
        if any(ix.name == name for ix in [*explicit, *derived.values()]):
            # Same columns, other directions: keep both indexes, distinct names.
            digest = hashlib.sha256(repr(wanted).encode()).hexdigest()[:8]
            name = f"{name[:54]}_{digest}"
        columns = tuple(IndexColumn(n, d) for n, d in wanted)
        derived[wanted] = IndexIR(name=name, columns=columns, unique=False)
    return tuple(sorted([*explicit, *derived.values()], key=lambda ix: ix.name))
