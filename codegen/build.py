"""Stage 2: turn validated specs into the frozen IR of :mod:`codegen.ir`.

Cross-reference errors (unknown fields, enums or tables, orderings that do
not end in a unique key, lookups by a non-unique set) are raised as
:class:`SpecError` naming the file and the YAML path. Collections keep
declaration order or are sorted, so the output is deterministic.
"""

from __future__ import annotations

import hashlib
import keyword
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from codegen.fields import build_field
from codegen.ir import (
    DIALECTS,
    GEN,
    DdlIR,
    EntityIR,
    EnumIR,
    FieldIR,
    FilterIR,
    ForeignKeyIR,
    IndexIR,
    SchemaIR,
    ValueModelIR,
    VersionIR,
    quote,
    sql_literal,
)
from codegen.kinds import builtin_methods, declared_method
from codegen.methods import Context
from codegen.spec import (
    MODELS_FILE,
    RESERVED_FIELD_NAMES,
    VERSIONS_FILE,
    EntitySpec,
    FilterSpec,
    LoadedSchema,
    MethodSpec,
    SpecError,
    did_you_mean,
    raise_all,
)

ON_DELETE = {
    "cascade": "CASCADE",
    "restrict": "RESTRICT",
    "set_null": "SET NULL",
    "no_action": "NO ACTION",
}


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return sql_literal(str(value))


def _order(
    spec: EntitySpec,
    file: str,
    fields: dict[str, FieldIR],
    unique_sets: tuple[frozenset[str], ...],
) -> tuple[tuple[str, bool], ...]:
    order: list[tuple[str, bool]] = []
    for i, item in enumerate(spec.repository.order):
        name = item.lstrip("-")
        if name not in fields:
            raise SpecError(file, f"repository.order[{i}]", f"unknown field {name!r}")
        order.append((name, item.startswith("-")))
    # Paging is deterministic only when the ordering's columns include a
    # unique set (the key, a unique field or a unique index).
    if not any(u <= {n for n, _ in order} for u in unique_sets):
        raise SpecError(
            file,
            "repository.order",
            f"ordering {list(spec.repository.order)} must end in a unique key "
            f"(the key {list(spec.repository.key)} or a unique field) so pages are "
            "deterministic",
        )
    return tuple(order)


def _filters(
    spec: EntitySpec, file: str, fields: dict[str, FieldIR]
) -> tuple[FilterIR, ...]:
    filters: list[FilterIR] = []
    problems: list[SpecError] = []
    for name, flt in spec.repository.filters.items():
        try:
            filters.append(_filter(file, name, flt, fields))
        except SpecError as exc:
            problems.append(exc)
    raise_all(problems)
    return tuple(filters)


def _filter(
    file: str, name: str, flt: FilterSpec, fields: dict[str, FieldIR]
) -> FilterIR:
    path = f"repository.filters.{name}"
    target = flt.field or name
    if target not in fields:
        raise SpecError(file, path, f"unknown field {target!r}")
    f = fields[target]
    if f.kind in ("json", "list[str]", "list[int]", "list[json]", "bytes"):
        raise SpecError(file, path, f"cannot filter on a {f.kind} field")
    if flt.flag is not None:
        if f.kind != "bool" or flt.op != "eq":
            raise SpecError(file, path, "a flag filter needs a bool field and op eq")
        annotation, default = "bool", "False"
    else:
        if flt.op != "eq" and f.kind not in ("datetime", "int", "float"):
            raise SpecError(
                file, f"{path}.op", f"{flt.op} needs an ordered field, not {f.kind}"
            )
        annotation, default = (
            f.annotation.removesuffix(" | None") + " | None",
            "None",
        )
    return FilterIR(
        name=name,
        field=f,
        op=flt.op,
        flag=flt.flag,
        annotation=annotation,
        default=default,
        description=flt.description or f.description,
    )


def _windows(filters: tuple[FilterIR, ...]) -> tuple[tuple[str, str], ...]:
    """Pairs of (lower, upper) filters on one field: ``until < since`` is refused."""
    pairs: list[tuple[str, str]] = []
    for low in filters:
        for high in filters:
            if (
                low.field is high.field
                and low.op in ("ge", "gt")
                and high.op in ("le", "lt")
            ):
                pairs.append((low.name, high.name))
    return tuple(pairs)


def _indexes(
    spec: EntitySpec,
    file: str,
    table: str,
    fields: dict[str, FieldIR],
    key: tuple[str, ...],
    paths: list[tuple[tuple[str, ...], tuple[str, ...]]],
    order: tuple[tuple[str, bool], ...],
) -> tuple[IndexIR, ...]:
    explicit: list[IndexIR] = []
    for i, index in enumerate(spec.indexes):
        cols: list[str] = []
        for column in index.columns:
            bare = column.lstrip("-")
            if bare not in fields:
                raise SpecError(
                    file, f"indexes[{i}].columns", f"unknown field {bare!r}"
                )
            cols.append(
                f"{quote(bare)} DESC" if column.startswith("-") else quote(bare)
            )
        where = None
        if index.where:
            for name in index.where:
                if name not in fields:
                    raise SpecError(
                        file, f"indexes[{i}].where", f"unknown field {name!r}"
                    )
            where = " AND ".join(
                f"{quote(n)} = {_literal(v)}" for n, v in index.where.items()
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
                IndexIR(name=f"ux_{table}_{name}", columns=(f.column,), unique=True)
            )

    def shape(columns: tuple[str, ...]) -> tuple[tuple[str, bool], ...]:
        """(name, descending) per column, from rendered SQL fragments."""
        return tuple((c.split('"')[1], c.endswith(" DESC")) for c in columns)

    def flip(cols: tuple[tuple[str, bool], ...]) -> tuple[tuple[str, bool], ...]:
        return tuple((n, not d) for n, d in cols)

    # An index serves a path when the path's columns are its prefix, read
    # forwards or (every direction flipped) backwards.
    covering: list[tuple[tuple[str, bool], ...]] = [tuple((k, False) for k in key)]
    covering += [shape(ix.columns) for ix in explicit if ix.where is None]
    derived: dict[tuple[tuple[str, bool], ...], IndexIR] = {}
    unique = [set(key)] + [
        {c.split('"')[1] for c in ix.columns}
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
        rendered = tuple(f"{quote(n)} DESC" if d else quote(n) for n, d in wanted)
        derived[wanted] = IndexIR(name=name, columns=rendered, unique=False)
    return tuple(sorted([*explicit, *derived.values()], key=lambda ix: ix.name))


def _foreign_keys(
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


def _ddl(
    table: str,
    fields: tuple[FieldIR, ...],
    key: tuple[FieldIR, ...],
    fks: tuple[ForeignKeyIR, ...],
    indexes: tuple[IndexIR, ...],
    differ: tuple[tuple[str, str], ...] = (),
) -> dict[str, DdlIR]:
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
            lines.append(
                f"    CONSTRAINT {quote(f'ck_{table}_{a}_differs')} "
                f"CHECK ({quote(a)} <> {quote(b)})"
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
            f"ON {quote(table)} ({', '.join(ix.columns)})"
            + (f" WHERE {ix.where}" if ix.where else "")
            for ix in indexes
        )
        out[dialect] = DdlIR(create_table=create, create_indexes=create_indexes)
    return out


def _protect(
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
        conds.append(f"{fields[name].column} = {_literal(value)}")
    if not conds:
        raise SpecError(file, f"repository.protect.{pname}", "an empty predicate")
    return (f"{table}.{pname}", " AND ".join(conds))


def _check_field_name(file: str, path: str, name: str) -> None:
    if keyword.iskeyword(name):
        raise SpecError(
            file, path, f"{name!r} is a Python keyword; choose another name"
        )
    if name in RESERVED_FIELD_NAMES:
        raise SpecError(
            file,
            path,
            f"{name!r} is a pydantic BaseModel attribute; choose another name",
        )


UNKNOWN_FIELD = re.compile(r"^unknown field '([^']+)'$")
UNKNOWN_ENUM = re.compile(r"^unknown enum '([^']+)' \(known: (.*)\)$")
NOT_A_VALUE = re.compile(r"^'(.+)' is not a value of ([A-Za-z0-9]+)$")


def _hinted(
    error: SpecError, fields: Iterable[str], enums: dict[str, Any]
) -> SpecError:
    """``error`` with a did-you-mean for an unknown field, enum or enum value."""
    message = error.message
    if m := UNKNOWN_FIELD.match(message):
        message += did_you_mean(m.group(1), fields)
    elif m := UNKNOWN_ENUM.match(message):
        hint = did_you_mean(m.group(1), enums)
        message = f"unknown enum {m.group(1)!r}{hint} (known: {m.group(2)})"
    elif (m := NOT_A_VALUE.match(message)) and m.group(2) in enums:
        values = list(enums[m.group(2)].values)
        hint = did_you_mean(m.group(1), values)
        message += hint or f" (values: {', '.join(values)})"
    if message == error.message:
        return error
    return SpecError(error.file, error.path, message)


class _Collect:
    """Runs independent checks, keeping every SpecError (with hints)."""

    def __init__(self, fields: Iterable[str], enums: dict[str, Any]) -> None:
        self.fields = tuple(fields)
        self.enums = enums
        self.errors: list[SpecError] = []

    @contextmanager
    def step(self) -> Iterator[None]:
        try:
            yield
        except SpecError as exc:
            self.errors += [_hinted(e, self.fields, self.enums) for e in exc.errors]

    def raise_all(self) -> None:
        raise_all(self.errors)


def _method_fields(spec: MethodSpec) -> list[tuple[str, str]]:
    """(YAML path suffix, field name) of every field a declared method names."""
    return spec.field_refs()


def _literals(spec: EntitySpec) -> list[tuple[str, str, Any]]:
    """(YAML path, field, value) of every literal the spec compares a field with."""
    repo = spec.repository
    out: list[tuple[str, str, Any]] = [
        (f"repository.exclude.{n}", n, v) for n, v in repo.exclude.items()
    ]
    for pname, predicate in repo.protect.items():
        out += [(f"repository.protect.{pname}.{n}", n, v) for n, v in predicate.items()]
    for i, index in enumerate(spec.indexes):
        out += [(f"indexes[{i}].where.{n}", n, v) for n, v in index.where.items()]
    for mname, m in repo.methods.items():
        out += m.literals(f"repository.methods.{mname}")
    return out


def _entity(
    file: str, spec: EntitySpec, enums: dict[str, Any], tables: dict[str, EntitySpec]
) -> EntityIR:
    # Phase 1: the fields (every other check names them).
    collect = _Collect(spec.fields, enums)
    fields: dict[str, FieldIR] = {}
    for name, fs in spec.fields.items():
        with collect.step():
            _check_field_name(file, f"fields.{name}", name)
            fields[name] = build_field(spec.table, file, name, fs, enums)
    collect.raise_all()
    # Phase 2: checks that only need the fields, all reported together.
    repo = spec.repository
    for i, name in enumerate(repo.key):
        with collect.step():
            if name not in fields:
                raise SpecError(file, f"repository.key[{i}]", f"unknown field {name!r}")
            if fields[name].optional:
                raise SpecError(
                    file,
                    f"repository.key[{i}]",
                    f"key field {name!r} cannot be optional",
                )
    kinds = tuple(sorted(set(repo.kinds)))
    with collect.step():
        if "append_only" in kinds and "id_keyed" in kinds:
            raise SpecError(
                file, "repository.kinds", "append_only and id_keyed exclude each other"
            )
        if "filtered_query" in kinds and "id_keyed" not in kinds:
            raise SpecError(
                file, "repository.kinds", "filtered_query composes with id_keyed"
            )
    with collect.step():
        if "filtered_query" in kinds and not repo.filters:
            raise SpecError(
                file,
                "repository.filters",
                "a filtered_query repository needs at least one filter",
            )
    time_field = None
    with collect.step():
        if "append_only" in kinds:
            if repo.time_field is None or repo.time_field not in fields:
                raise SpecError(
                    file,
                    "repository.time_field",
                    "an append_only repository names its datetime field (purge_before)",
                )
            time_field = fields[repo.time_field]
            if time_field.kind != "datetime" or time_field.optional:
                raise SpecError(
                    file, "repository.time_field", "must be a required datetime field"
                )
    for i, index in enumerate(spec.indexes):
        # Existence first: the uniqueness checks below read these columns.
        for name in [c.lstrip("-") for c in index.columns]:
            with collect.step():
                if name not in fields:
                    raise SpecError(
                        file, f"indexes[{i}].columns", f"unknown field {name!r}"
                    )
        for name in index.where:
            with collect.step():
                if name not in fields:
                    raise SpecError(
                        file, f"indexes[{i}].where", f"unknown field {name!r}"
                    )
    for mname, mspec in repo.methods.items():
        if mspec.kind == "custom":
            continue
        for where, name in _method_fields(mspec):
            with collect.step():
                if name not in fields:
                    raise SpecError(
                        file,
                        f"repository.methods.{mname}.{where}",
                        f"unknown field {name!r}",
                    )
    for where, name, value in _literals(spec):
        with collect.step():
            f = fields.get(name)
            if f is not None and f.enum is not None and value is not None:
                values = list(enums[f.enum].values)
                if value not in values:
                    # A typo would make the predicate silently match nothing.
                    raise SpecError(
                        file, where, f"{value!r} is not a value of {f.enum}"
                    )
    key = tuple(fields[name] for name in repo.key if name in fields)
    unique_sets = [frozenset(repo.key)]
    # A unique but optional field may hold many NULLs: it does not identify a row.
    unique_sets += [
        frozenset({n}) for n, f in fields.items() if f.unique and not f.optional
    ]
    unique_sets += [
        frozenset(c.lstrip("-") for c in ix.columns)
        for ix in spec.indexes
        if ix.unique and not ix.where
    ]
    filters: tuple[FilterIR, ...] = ()
    with collect.step():
        filters = _filters(spec, file, fields)
    order: tuple[tuple[str, bool], ...] = ()
    with collect.step():
        order = _order(spec, file, fields, tuple(unique_sets))
    exclude: list[str] = []
    for name, value in repo.exclude.items():
        with collect.step():
            if name not in fields:
                raise SpecError(
                    file, f"repository.exclude.{name}", f"unknown field {name!r}"
                )
            exclude.append(f"{quote(name)} <> {_literal(value)}")
    protect: list[tuple[str, str]] = []
    for pname, predicate in repo.protect.items():
        with collect.step():
            protect.append(_protect(file, spec.table, pname, predicate, fields))
    differ: tuple[tuple[str, str], ...] = ()
    for i, pair in enumerate(repo.differ):
        with collect.step():
            for name in pair:
                if name not in fields:
                    raise SpecError(
                        file, f"repository.differ[{i}]", f"unknown field {name!r}"
                    )
            differ += ((pair[0], pair[1]),)
    fks: tuple[ForeignKeyIR, ...] = ()
    with collect.step():
        fks = _foreign_keys(spec, file, tables)
    collect.raise_all()
    key_alias = f"{spec.entity}Key" if len(key) > 1 else None
    ctx = Context(
        file=file,
        name=spec.entity,
        table=spec.table,
        fields=fields,
        key=key,
        kinds=kinds,
        filters=filters,
        order=order,
        time_field=time_field,
        exclude=tuple(exclude),
        protect=tuple(protect),
        unique_sets=tuple(unique_sets),
        key_annotation=key_alias or key[0].annotation,
        unique_names={
            frozenset(c.lstrip("-") for c in ix.columns): ix.name
            for ix in spec.indexes
            if ix.unique and not ix.where
        },
    )
    methods = builtin_methods(ctx)
    builtin_names = {m.name for m in methods}
    # Phase 3: the declared methods, each on its own.
    for name, method in repo.methods.items():
        with collect.step():
            if name in builtin_names:
                raise SpecError(
                    file,
                    f"repository.methods.{name}",
                    f"{name!r} is already a method of the repository kind",
                )
            methods.append(declared_method(ctx, name, method))
    collect.raise_all()
    indexes = _indexes(
        spec, file, spec.table, fields, tuple(repo.key), ctx.paths, order
    )
    field_tuple = tuple(fields.values())
    return EntityIR(
        file=file,
        name=spec.entity,
        accessor=spec.accessor,
        table=spec.table,
        module=spec.accessor,
        description=spec.description or f"{spec.entity} entity.",
        kinds=kinds,
        fields=field_tuple,
        key=key,
        filters=filters,
        windows=_windows(filters),
        order=order,
        time_field=time_field,
        exclude=tuple(repo.exclude.items()),
        indexes=indexes,
        foreign_keys=fks,
        enums=tuple(sorted({f.enum for f in field_tuple if f.enum is not None})),
        methods=tuple(methods),
        sql_consts={d: tuple(ctx.consts[d]) for d in DIALECTS},
        ddl=_ddl(spec.table, field_tuple, key, fks, indexes, differ),
        enum_names=frozenset(enums),
        differ=differ,
        renamed_from=spec.renamed_from,
        allow_destructive=tuple(sorted(spec.allow_destructive)),
    )


def _dependency_order(entities: list[EntityIR]) -> tuple[EntityIR, ...]:
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
            entities.append(_entity(file, spec, schema.enums, tables))
        except SpecError as exc:
            problems.append(exc)
    raise_all(problems)
    models = _value_models(schema)
    versions = _versions(schema, entities, models, tables, seen)
    enums = tuple(
        EnumIR(
            name=name,
            description=spec.description or f"{name} values.",
            members=tuple((v.upper(), v) for v in spec.values),
        )
        for name, spec in schema.enums.items()
    )
    tables_in_order = _dependency_order([*entities, *(v.table for v in versions)])
    return SchemaIR(
        enums=enums,
        entities=tuple(sorted(entities, key=lambda e: e.accessor)),
        table_order=tuple(e.table for e in tables_in_order),
        models=models,
        versions=versions,
    )


def _value_models(schema: LoadedSchema) -> tuple[ValueModelIR, ...]:
    file = f"{schema.enums_file.split('/')[0]}/{MODELS_FILE}"
    out: list[ValueModelIR] = []
    for name, spec in schema.models.items():
        prefix = f"models.{name}.fields"
        for fname in spec.fields:
            _check_field_name(file, f"{prefix}.{fname}", fname)
        fields = tuple(
            build_field("_", file, fname, fs, schema.enums, prefix)
            for fname, fs in spec.fields.items()
        )
        out.append(
            ValueModelIR(
                name=name,
                description=spec.description or f"{name} (stored as JSON).",
                fields=fields,
                enums=tuple(sorted({f.enum for f in fields if f.enum is not None})),
            )
        )
    return tuple(out)


# Every version table has this shape; VersionRepository[T] reads and writes it.
VERSION_FIELDS: dict[str, dict[str, Any]] = {
    "entity_id": {"type": "str", "description": "Id of the versioned entity."},
    "version": {"type": "int", "ge": 1},
    "content_hash": {"type": "str", "description": "SHA-256 of the snapshot."},
    "snapshot": {"type": "json", "description": "The versioned model as JSON."},
    "saved_by": {"type": "str"},
    "saved_at": {"type": "datetime", "default": "now"},
}


def _versions(
    schema: LoadedSchema,
    entities: list[EntityIR],
    models: tuple[ValueModelIR, ...],
    tables: dict[str, EntitySpec],
    seen: dict[tuple[str, str], str],
) -> tuple[VersionIR, ...]:
    file = f"{schema.enums_file.split('/')[0]}/{VERSIONS_FILE}"
    modules = {e.name: f"{GEN}.{e.module}" for e in entities}
    modules.update({m.name: f"{GEN}.models" for m in models})
    out: list[VersionIR] = []
    for accessor, version in schema.versions.items():
        path = f"versions.{accessor}"
        for what in ("accessor", "table"):
            other = seen.get((what, accessor))
            if other is not None:
                raise SpecError(
                    file, path, f"{accessor!r} is already declared in {other}"
                )
        if version.model not in modules:
            known = ", ".join(sorted(modules))
            raise SpecError(
                file,
                f"{path}.model",
                f"unknown model {version.model!r} (known: {known})",
            )
        spec = EntitySpec.model_validate(
            {
                "entity": "".join(p.title() for p in accessor.split("_")) + "Row",
                "accessor": accessor,
                "table": accessor,
                "description": version.description or f"Versions of {version.model}.",
                "repository": {
                    "kinds": ["id_keyed"],
                    "key": ["entity_id", "version"],
                    "order": ["entity_id", "version"],
                },
                "fields": VERSION_FIELDS,
                "indexes": [
                    {
                        "name": f"ix_{accessor}_content_hash",
                        "columns": ["entity_id", "content_hash", "-version"],
                    }
                ],
            }
        )
        table = _entity(file, spec, schema.enums, tables)
        out.append(
            VersionIR(
                table=table,
                model=version.model,
                model_module=modules[version.model],
                description=spec.description,
            )
        )
    return tuple(out)
