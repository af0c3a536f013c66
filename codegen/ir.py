"""Stage 2: turn validated specs into a frozen intermediate representation.

Every decision is made here, before any template runs: Python annotations,
defaults, column types, constraint and index names, SQL statements for both
dialects, value encoders and decoders, and each module's imports. Every
collection is sorted or kept in declaration order so the output is
deterministic. Cross-reference errors are raised as :class:`SpecError` with
the file and the YAML path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from codegen import postgres_types, sqlite_types
from codegen.spec import EntitySpec, FieldSpec, LoadedSchema, SpecError

Dialect = Literal["sqlite", "postgres"]
DIALECTS: tuple[Dialect, ...] = ("sqlite", "postgres")
PLACEHOLDER: dict[Dialect, str] = {"sqlite": "?", "postgres": "%s"}
TYPES = {"sqlite": sqlite_types, "postgres": postgres_types}

PY_TYPES = {
    "str": "NotBlankStr",
    "text": "str",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "datetime": "AwareDatetime",
    "bytes": "bytes",
    "json": "dict[str, JsonValue]",
    "list[str]": "tuple[str, ...]",
    "list[int]": "tuple[int, ...]",
    "list[json]": "tuple[JsonValue, ...]",
}


def quote(identifier: str) -> str:
    """Quote an identifier that the spec already validated as ``[a-z_][a-z0-9_]*``."""
    return f'"{identifier}"'


def sql_literal(value: str) -> str:
    """A SQL string literal for a validated enum value."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class EnumIR:
    name: str
    description: str
    members: tuple[tuple[str, str], ...]  # (MEMBER_NAME, value)


@dataclass(frozen=True)
class Codec:
    """Per-dialect column type and Python expressions for one field."""

    column_type: str
    encode: str  # template with {v}
    decode: str  # template with {v}
    checks: tuple[tuple[str, str], ...]  # (constraint name, expression)

    def encode_expr(self, value: str, optional: bool) -> str:
        expr = self.encode.format(v=value)
        if optional and expr != value:
            return f"None if {value} is None else {expr}"
        return expr

    def decode_expr(self, value: str, optional: bool) -> str:
        expr = self.decode.format(v=value)
        if optional and expr != value:
            return f"None if {value} is None else {expr}"
        return expr


@dataclass(frozen=True)
class FieldIR:
    name: str
    kind: str  # a FieldSpec.type or "enum"
    enum: str | None
    optional: bool
    description: str
    annotation: str
    default: str | None  # a Python expression for Field(default=...), or None
    default_factory: str | None
    constraints: tuple[tuple[str, str], ...]  # pydantic Field kwargs
    unique: bool
    sample: Any  # a JSON-able description the conformance suite uses
    sqlite: Codec
    postgres: Codec

    @property
    def column(self) -> str:
        return quote(self.name)

    def codec(self, dialect: Dialect) -> Codec:
        return self.sqlite if dialect == "sqlite" else self.postgres

    def field_call(self) -> str | None:
        """The ``Field(...)`` right-hand side of the model attribute, if any."""
        args: list[str] = []
        if self.default_factory is not None:
            args.append(f"default_factory={self.default_factory}")
        elif self.default is not None:
            args.append(f"default={self.default}")
        args.extend(f"{key}={value}" for key, value in self.constraints)
        if self.description:
            args.append(f"description={json.dumps(self.description)}")
        return f"Field({', '.join(args)})" if args else None


@dataclass(frozen=True)
class FilterIR:
    name: str
    field: FieldIR
    annotation: str
    description: str

    def param(self, dialect: Dialect) -> str:
        return self.field.codec(dialect).encode_expr(f"spec.{self.name}", False)


@dataclass(frozen=True)
class IndexIR:
    name: str
    columns: tuple[str, ...]  # already SQL fragments ("status", "created_at" DESC)
    unique: bool


@dataclass(frozen=True)
class StatementsIR:
    """Every SQL statement of one entity in one dialect."""

    placeholder: str
    columns: str
    upsert: str
    get: str
    delete: str
    list_items: str
    select_prefix: str  # SELECT cols FROM table
    count_prefix: str
    order_suffix: str  # ORDER BY ... LIMIT ? OFFSET ?
    filter_conditions: tuple[str, ...]
    create_table: str
    create_indexes: tuple[str, ...]


@dataclass(frozen=True)
class EntityIR:
    file: str
    name: str
    accessor: str
    table: str
    module: str
    description: str
    kinds: tuple[str, ...]
    fields: tuple[FieldIR, ...]
    key: tuple[FieldIR, ...]
    filters: tuple[FilterIR, ...]
    order: tuple[tuple[str, bool], ...]  # (field, descending)
    indexes: tuple[IndexIR, ...]
    enums: tuple[str, ...]
    sqlite: StatementsIR
    postgres: StatementsIR

    @property
    def repository(self) -> str:
        return f"{self.name}Repository"

    @property
    def filter_spec(self) -> str:
        return f"{self.name}FilterSpec"

    @property
    def key_alias(self) -> str | None:
        """The name of the composite key's tuple alias (``SettingRowKey``)."""
        return f"{self.name}Key" if len(self.key) > 1 else None

    @property
    def key_tuple(self) -> str:
        return "tuple[" + ", ".join(f.annotation for f in self.key) + "]"

    @property
    def key_annotation(self) -> str:
        return self.key_alias or self.key[0].annotation

    @property
    def exports(self) -> tuple[str, ...]:
        """Public names of the entity module."""
        names = [self.name, self.repository]
        if self.filtered:
            names.append(self.filter_spec)
        if self.key_alias:
            names.append(self.key_alias)
        return tuple(sorted(names))

    @property
    def id_keyed(self) -> bool:
        return "id_keyed" in self.kinds

    @property
    def filtered(self) -> bool:
        return "filtered_query" in self.kinds

    def statements(self, dialect: Dialect) -> StatementsIR:
        return self.sqlite if dialect == "sqlite" else self.postgres

    def uses(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.fields)


@dataclass(frozen=True)
class SchemaIR:
    enums: tuple[EnumIR, ...]
    entities: tuple[EntityIR, ...]

    @property
    def exports(self) -> tuple[str, ...]:
        """Every public generated name, sorted."""
        names = [enum.name for enum in self.enums]
        for e in self.entities:
            names.extend(e.exports)
        return tuple(sorted(names))


# ---------------------------------------------------------------- fields


def _python_default(
    spec: FieldSpec, kind: str, enum: str | None
) -> tuple[str | None, str | None]:
    """(default expression, default_factory expression) for a field."""
    value = spec.default
    if value is None:
        return ("None", None) if spec.optional else (None, None)
    if kind == "datetime":
        if value != "now":
            raise ValueError("a datetime default must be 'now'")
        return None, "utc_now"
    if kind in ("list[str]", "list[int]", "list[json]"):
        if value != []:
            raise ValueError("a list default must be []")
        return "()", None
    if kind == "json":
        if value != {}:
            raise ValueError("a json default must be {}")
        return None, "dict"
    if kind == "enum":
        assert enum is not None
        return f"{enum}.{str(value).upper().replace('-', '_').replace('.', '_')}", None
    expected: dict[str, type | tuple[type, ...]] = {
        "str": str,
        "text": str,
        "int": int,
        "float": (int, float),
        "bool": bool,
    }
    wanted = expected.get(kind)
    if wanted is None:
        raise ValueError(f"a {kind} field cannot declare a default")
    if isinstance(value, bool) and kind != "bool":
        raise ValueError(f"default must be a {kind}")
    if not isinstance(value, wanted):
        raise ValueError(f"default must be a {kind}")
    if kind == "float":
        return repr(float(str(value))), None
    return repr(value), None


def _field(
    entity: EntitySpec, file: str, name: str, spec: FieldSpec, enums: dict[str, Any]
) -> FieldIR:
    path = f"fields.{name}"
    if (spec.type is None) == (spec.enum is None):
        raise SpecError(file, path, "declare exactly one of 'type' or 'enum'")
    kind = spec.type or "enum"
    if spec.enum is not None and spec.enum not in enums:
        known = ", ".join(sorted(enums)) or "none"
        raise SpecError(
            file, f"{path}.enum", f"unknown enum {spec.enum!r} (known: {known})"
        )
    if (
        spec.default is not None
        and spec.enum is not None
        and spec.default not in enums[spec.enum].values
    ):
        raise SpecError(
            file, f"{path}.default", f"{spec.default!r} is not a value of {spec.enum}"
        )
    try:
        default, factory = _python_default(spec, kind, spec.enum)
    except ValueError as exc:
        raise SpecError(file, f"{path}.default", str(exc)) from None

    constraints: list[tuple[str, str]] = []
    sql_bounds: list[tuple[str, str]] = []
    for op, sql_op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        bound = getattr(spec, op)
        if bound is None:
            continue
        if kind not in ("int", "float"):
            raise SpecError(
                file,
                f"{path}.{op}",
                f"bounds apply to int and float fields, not {kind}",
            )
        constraints.append((op, repr(bound)))
        sql_bounds.append((op, f"{quote(name)} {sql_op} {bound}"))

    base = PY_TYPES.get(kind, spec.enum or "")
    annotation = f"{base} | None" if spec.optional else base

    def codec(dialect: Dialect) -> Codec:
        types = TYPES[dialect]
        column = quote(name)
        checks: list[tuple[str, str]] = []
        if kind == "enum":
            assert spec.enum is not None
            values = ", ".join(sql_literal(v) for v in enums[spec.enum].values)
            checks.append((f"ck_{entity.table}_{name}", f"{column} IN ({values})"))
        kind_check = types.kind_check(kind, column)
        if kind_check is not None:
            checks.append((f"ck_{entity.table}_{name}_format", kind_check))
        for op, expression in sql_bounds:
            checks.append((f"ck_{entity.table}_{name}_{op}", expression))
        return Codec(
            column_type=types.column_type(kind),
            encode=types.ENCODERS.get(kind, "{v}"),
            decode=types.DECODERS.get(kind, "{v}"),
            checks=tuple(checks),
        )

    return FieldIR(
        name=name,
        kind=kind,
        enum=spec.enum,
        optional=spec.optional,
        description=spec.description,
        annotation=annotation,
        default=default,
        default_factory=factory,
        constraints=tuple(constraints),
        unique=spec.unique,
        sample={
            "kind": kind,
            "enum": spec.enum,
            "optional": spec.optional,
            "ge": spec.ge if spec.ge is not None else spec.gt,
            "le": spec.le if spec.le is not None else spec.lt,
        },
        sqlite=codec("sqlite"),
        postgres=codec("postgres"),
    )


# --------------------------------------------------------------- entities


def _order(
    spec: EntitySpec, file: str, fields: dict[str, FieldIR], key: tuple[str, ...]
) -> tuple[tuple[str, bool], ...]:
    order: list[tuple[str, bool]] = []
    for i, item in enumerate(spec.repository.order):
        name = item.lstrip("-")
        if name not in fields:
            raise SpecError(file, f"repository.order[{i}]", f"unknown field {name!r}")
        order.append((name, item.startswith("-")))
    # Paging is deterministic only when the ordering ends in a unique key:
    # either the whole primary key or a single unique column.
    names = [name for name, _ in order]
    ends_in_key = names[-len(key) :] == list(key) or fields[names[-1]].unique
    if not ends_in_key:
        raise SpecError(
            file,
            "repository.order",
            f"ordering {list(spec.repository.order)} must end in a unique key "
            f"(the key {list(key)} or a unique field) so pages are deterministic",
        )
    return tuple(order)


def _order_sql(order: tuple[tuple[str, bool], ...]) -> tuple[str, ...]:
    return tuple(f"{quote(name)} DESC" if desc else quote(name) for name, desc in order)


def _indexes(
    spec: EntitySpec,
    file: str,
    table: str,
    fields: dict[str, FieldIR],
    filters: tuple[FilterIR, ...],
    order: tuple[tuple[str, bool], ...],
    key: tuple[str, ...],
) -> tuple[IndexIR, ...]:
    indexes: dict[tuple[str, ...], IndexIR] = {}
    key_cols = tuple(quote(k) for k in key)
    order_cols = _order_sql(order)

    def add(name: str, columns: tuple[str, ...], unique: bool) -> None:
        if columns == key_cols or columns in indexes:
            return  # the primary key (or an identical index) already serves it
        indexes[columns] = IndexIR(name=name, columns=columns, unique=unique)

    # An ordering other than the key needs its own index to page without a sort.
    if order_cols != key_cols:
        add(f"ix_{table}_order", order_cols, False)
    # Each filter is an equality prefix in front of the list ordering, so a
    # filtered page reads the index in order and stops at LIMIT.
    for flt in filters:
        prefixed = (flt.field.column, *(c for c in order_cols if c != flt.field.column))
        add(f"ix_{table}_{flt.field.name}", prefixed, False)
    for name, field in fields.items():
        if field.unique:
            add(f"ux_{table}_{name}", (field.column,), True)
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
        add(index.name, tuple(cols), index.unique)
    return tuple(sorted(indexes.values(), key=lambda ix: ix.name))


def _statements(
    dialect: Dialect,
    table: str,
    fields: tuple[FieldIR, ...],
    key: tuple[FieldIR, ...],
    filters: tuple[FilterIR, ...],
    order: tuple[tuple[str, bool], ...],
    indexes: tuple[IndexIR, ...],
) -> StatementsIR:
    ph = PLACEHOLDER[dialect]
    qtable = quote(table)
    columns = ", ".join(f.column for f in fields)
    key_cols = ", ".join(f.column for f in key)
    key_where = " AND ".join(f"{f.column} = {ph}" for f in key)
    non_key = [f for f in fields if f not in key]
    update = ", ".join(f"{f.column} = excluded.{f.column}" for f in non_key)
    conflict = f"DO UPDATE SET {update}" if update else "DO NOTHING"
    values = ", ".join(ph for _ in fields)
    order_by = ", ".join(_order_sql(order))
    select = f"SELECT {columns} FROM {qtable}"

    lines: list[str] = []
    for f in fields:
        codec = f.codec(dialect)
        line = f"    {f.column} {codec.column_type}"
        if not f.optional:
            line += " NOT NULL"
        lines.append(line)
    for f in fields:
        for name, expression in f.codec(dialect).checks:
            lines.append(f"    CONSTRAINT {quote(name)} CHECK ({expression})")
    lines.append(f"    CONSTRAINT {quote('pk_' + table)} PRIMARY KEY ({key_cols})")
    create_table = f"CREATE TABLE {qtable} (\n" + ",\n".join(lines) + "\n)"
    create_indexes = tuple(
        f"CREATE {'UNIQUE ' if ix.unique else ''}INDEX {quote(ix.name)} "
        f"ON {qtable} ({', '.join(ix.columns)})"
        for ix in indexes
    )
    return StatementsIR(
        placeholder=ph,
        columns=columns,
        upsert=f"INSERT INTO {qtable} ({columns}) VALUES ({values}) "
        f"ON CONFLICT ({key_cols}) {conflict}",
        get=f"{select} WHERE {key_where}",
        delete=f"DELETE FROM {qtable} WHERE {key_where}"
        + (" RETURNING 1" if dialect == "sqlite" else ""),
        list_items=f"{select} ORDER BY {order_by} LIMIT {ph} OFFSET {ph}",
        select_prefix=select,
        count_prefix=f"SELECT COUNT(*) FROM {qtable}",
        order_suffix=f" ORDER BY {order_by} LIMIT {ph} OFFSET {ph}",
        filter_conditions=tuple(f"{flt.field.column} = {ph}" for flt in filters),
        create_table=create_table,
        create_indexes=create_indexes,
    )


def _entity(file: str, spec: EntitySpec, enums: dict[str, Any]) -> EntityIR:
    fields = {
        name: _field(spec, file, name, fs, enums) for name, fs in spec.fields.items()
    }
    for i, name in enumerate(spec.repository.key):
        if name not in fields:
            raise SpecError(file, f"repository.key[{i}]", f"unknown field {name!r}")
        if fields[name].optional:
            raise SpecError(
                file, f"repository.key[{i}]", f"key field {name!r} cannot be optional"
            )
    key = tuple(fields[name] for name in spec.repository.key)
    if "filtered_query" in spec.repository.kinds and not spec.repository.filters:
        raise SpecError(
            file,
            "repository.filters",
            "a filtered_query repository needs at least one filter",
        )
    if "id_keyed" not in spec.repository.kinds:
        raise SpecError(file, "repository.kinds", "must include id_keyed")
    filters: list[FilterIR] = []
    for name, flt in spec.repository.filters.items():
        target = flt.field or name
        if target not in fields:
            raise SpecError(
                file, f"repository.filters.{name}", f"unknown field {target!r}"
            )
        field = fields[target]
        if field.kind in ("json", "list[str]", "list[int]", "list[json]", "bytes"):
            raise SpecError(
                file,
                f"repository.filters.{name}",
                f"cannot filter by equality on a {field.kind} field",
            )
        base = field.annotation.removesuffix(" | None")
        filters.append(
            FilterIR(
                name=name,
                field=field,
                annotation=f"{base} | None",
                description=flt.description or field.description,
            )
        )
    key_names = tuple(spec.repository.key)
    order = _order(spec, file, fields, key_names)
    filter_tuple = tuple(filters)
    indexes = _indexes(spec, file, spec.table, fields, filter_tuple, order, key_names)
    field_tuple = tuple(fields.values())
    return EntityIR(
        file=file,
        name=spec.entity,
        accessor=spec.accessor,
        table=spec.table,
        module=spec.accessor,
        description=spec.description or f"{spec.entity} entity.",
        kinds=tuple(sorted(set(spec.repository.kinds))),
        fields=field_tuple,
        key=key,
        filters=filter_tuple,
        order=order,
        indexes=indexes,
        enums=tuple(sorted({f.enum for f in field_tuple if f.enum is not None})),
        sqlite=_statements(
            "sqlite", spec.table, field_tuple, key, filter_tuple, order, indexes
        ),
        postgres=_statements(
            "postgres", spec.table, field_tuple, key, filter_tuple, order, indexes
        ),
    )


def build(schema: LoadedSchema) -> SchemaIR:
    """Build the IR of a whole schema, checking names are unique across files."""
    entities = [_entity(file, spec, schema.enums) for file, spec in schema.entities]
    seen: dict[tuple[str, str], str] = {}
    for entity in entities:
        for what, value in (
            ("entity", entity.name),
            ("accessor", entity.accessor),
            ("table", entity.table),
        ):
            other = seen.get((what, value))
            if other is not None:
                raise SpecError(
                    entity.file, what, f"{value!r} is already declared in {other}"
                )
            seen[(what, value)] = entity.file
    enums = tuple(
        EnumIR(
            name=name,
            description=spec.description or f"{name} values.",
            members=tuple(
                (v.upper().replace("-", "_").replace(".", "_"), v) for v in spec.values
            ),
        )
        for name, spec in schema.enums.items()
    )
    return SchemaIR(
        enums=enums, entities=tuple(sorted(entities, key=lambda e: e.accessor))
    )
