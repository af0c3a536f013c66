"""Stage 2 data: the frozen intermediate representation the templates lay out.

Every decision is made before any template runs (by :mod:`codegen.build`,
:mod:`codegen.statements` and :mod:`codegen.methods`): Python annotations,
defaults, column types, constraint and index names, SQL statements for both
dialects, value encoders and decoders. This module only holds the data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from codegen import postgres_types, sqlite_types

PKG = "synthorg.persistence"
GEN = f"{PKG}.generated"
Dialect = Literal["sqlite", "postgres"]
DIALECTS: tuple[Dialect, ...] = ("sqlite", "postgres")
PLACEHOLDER: dict[Dialect, str] = {"sqlite": "?", "postgres": "%s"}
TYPES = {"sqlite": sqlite_types, "postgres": postgres_types}

PY_TYPES = {
    "str": "NotBlankStr",
    "text": "Text",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "datetime": "Timestamp",
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
    pattern: str | None = None
    # Schema evolution: the raw YAML default and backfill, the previous name.
    default_value: Any = None
    backfill: Any = None
    renamed_from: str | None = None
    owner: str = ""  # the table (or value model) declaring the field

    @property
    def column(self) -> str:
        return quote(self.name)

    def codec(self, dialect: Dialect) -> Codec:
        return self.sqlite if dialect == "sqlite" else self.postgres

    def arg_check(self, value: str, label: str, *, blank_ok: bool = False) -> str:
        """A Python expression refusing a raw argument outside this field's domain.

        The check (``synthorg.persistence._codec.arg_*``) raises
        InvalidValueError naming ``label`` and returns the value to bind.
        ``blank_ok`` lets a ``str`` field take ``""`` (a compare-and-set's
        "absent" marker).
        """
        where = json.dumps(label)
        if self.kind == "str":
            if blank_ok:
                return f"arg_text({value}, {where})"
            if self.pattern is not None:
                return f"arg_str({value}, {where}, {self.pattern!r})"
            return f"arg_str({value}, {where})"
        if self.kind == "text":
            return f"arg_text({value}, {where})"
        if self.kind == "int":
            bounds = dict(self.constraints)
            low = int(bounds["ge"]) if "ge" in bounds else None
            if "gt" in bounds:
                low = int(bounds["gt"]) + 1
            high = int(bounds["le"]) if "le" in bounds else None
            if "lt" in bounds:
                high = int(bounds["lt"]) - 1
            extra = "".join(
                f", {name}={bound}"
                for name, bound in (("low", low), ("high", high))
                if bound is not None
            )
            return f"arg_int({value}, {where}{extra})"
        if self.kind == "float":
            extra = "".join(
                f", {op}={bound}"
                for op, bound in self.constraints
                if op in ("ge", "gt", "le", "lt")
            )
            return f"arg_float({value}, {where}{extra})"
        if self.kind == "bool":
            return f"arg_bool({value}, {where})"
        if self.kind == "datetime":
            return f"arg_time({value}, {where})"
        if self.kind == "enum":
            return f"arg_enum({value}, {self.enum}, {where})"
        if self.kind == "bytes":
            return f"arg_bytes({value}, {where})"
        return f"arg_json({value}, {where}, {self.kind!r})"

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


OPERATORS = {"eq": "=", "ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


@dataclass(frozen=True)
class FilterIR:
    name: str
    field: FieldIR
    op: str  # eq, ge, gt, le, lt
    flag: bool | None  # a boolean filter adding ``field = flag`` when True
    annotation: str
    default: str
    description: str

    def param(self, dialect: Dialect) -> str:
        value = repr(self.flag) if self.flag is not None else f"spec.{self.name}"
        return self.field.codec(dialect).encode_expr(value, False)

    def condition(self, dialect: Dialect) -> str:
        return f"{self.field.column} {OPERATORS[self.op]} {PLACEHOLDER[dialect]}"

    @property
    def test(self) -> str:
        """The Python test that this filter is set on ``spec``."""
        if self.flag is not None:
            return f"spec.{self.name}"
        return f"spec.{self.name} is not None"


@dataclass(frozen=True)
class IndexIR:
    name: str
    columns: tuple[str, ...]  # already SQL fragments ("status", "created_at" DESC)
    unique: bool
    where: str | None = None  # a partial index predicate
    predicate: tuple[tuple[str, str | int | bool], ...] = ()  # where, as (field, value)


@dataclass(frozen=True)
class ForeignKeyIR:
    name: str
    column: str
    table: str
    target: str
    on_delete: str  # SQL text: CASCADE, RESTRICT, SET NULL, NO ACTION


@dataclass(frozen=True)
class SqlConst:
    """A SQL constant of a generated repository (shown above its method).

    Either a plain statement, or a :class:`FilterSql` whose WHERE clause is
    chosen per call from the set filters (``conditions``); ``always`` holds
    the conditions every variant carries (a declared ``exclude``).
    """

    name: str
    sql: str = ""
    prefix: str = ""
    conditions: tuple[str, ...] = ()
    suffix: str = ""
    always: tuple[str, ...] = ()
    require_any: bool = False  # mask 0 (no condition set) is never executed

    @property
    def filtered(self) -> bool:
        return not self.sql


@dataclass(frozen=True)
class ParamIR:
    """A method parameter and how it is bound in each dialect."""

    name: str
    annotation: str
    default: str | None = None
    sqlite_bind: str = ""
    postgres_bind: str = ""
    arity: int = 1  # how many SQL parameters the binding expands to

    def bind(self, dialect: Dialect) -> str:
        return (
            self.sqlite_bind if dialect == "sqlite" else self.postgres_bind
        ) or self.name

    @property
    def signature(self) -> str:
        if self.default is None:
            return f"{self.name}: {self.annotation}"
        return f"{self.name}: {self.annotation} = {self.default}"


@dataclass(frozen=True)
class MethodIR:
    """One repository method: signature, SQL per dialect, result shape.

    ``kind`` picks the template macro; ``consts`` name the SQL constants the
    method uses, in the order that macro expects.
    """

    name: str
    kind: str
    doc: str
    params: tuple[ParamIR, ...]
    returns: str
    declared: bool  # part of the entity's own Protocol (not a generic category)
    write: bool = False
    paged: str = "none"  # limit_offset | limit | none
    consts: tuple[str, ...] = ()
    result: str = ""  # kind-specific detail (bool/int/scalars, column, ...)
    extra: tuple[str, ...] = ()  # kind-specific names (e.g. custom imports)
    binds: tuple[str, str] = ("", "")  # explicit bound tuple (sqlite, postgres)
    guards: tuple[str, ...] = ()  # Python statements run before any SQL
    mask_params: tuple[str, ...] = ()  # optional params choosing a FilterSql variant

    def bound(self, dialect: Dialect) -> str:
        """The parameters tuple expression passed with the statement."""
        explicit = self.binds[0 if dialect == "sqlite" else 1]
        if explicit:
            return explicit
        return self.args(dialect, paging=True)

    def param(self, name: str) -> ParamIR:
        return next(p for p in self.params if p.name == name)

    @property
    def signature(self) -> str:
        return ", ".join(["self", *(p.signature for p in self.params)])

    def args(self, dialect: Dialect, paging: bool = False) -> str:
        """The bound parameters as a tuple expression (limit/offset if ``paging``)."""
        binds = [
            p.bind(dialect)
            for p in self.params
            if paging or p.name not in ("limit", "offset")
        ]
        if not binds:
            return "()"
        arity = sum(
            p.arity for p in self.params if paging or p.name not in ("limit", "offset")
        )
        return "(" + ", ".join(binds) + ("," if arity == 1 else "") + ")"

    @property
    def call_args(self) -> str:
        return ", ".join(p.name for p in self.params)


@dataclass(frozen=True)
class DdlIR:
    """The table and its indexes in one dialect."""

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
    windows: tuple[tuple[str, str], ...]  # (lower filter, upper filter) pairs
    order: tuple[tuple[str, bool], ...]  # (field, descending)
    time_field: FieldIR | None
    exclude: tuple[tuple[str, Any], ...]
    indexes: tuple[IndexIR, ...]
    foreign_keys: tuple[ForeignKeyIR, ...]
    enums: tuple[str, ...]
    methods: tuple[MethodIR, ...]
    sql_consts: dict[str, tuple[SqlConst, ...]]  # per dialect
    ddl: dict[str, DdlIR]  # per dialect
    enum_names: frozenset[str] = field(default=frozenset())  # every enum of the schema
    differ: tuple[tuple[str, str], ...] = ()  # field pairs that must not be equal
    renamed_from: str | None = None  # schema evolution: the previous table name
    allow_destructive: tuple[str, ...] = ()  # destructive changes allowed

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
    def append_only(self) -> bool:
        return "append_only" in self.kinds

    @property
    def filtered(self) -> bool:
        """Whether the entity has a filter spec (filtered_query or append_only)."""
        return "filtered_query" in self.kinds or self.append_only

    @property
    def declared_methods(self) -> tuple[MethodIR, ...]:
        return tuple(m for m in self.methods if m.declared)

    @property
    def strict_inserts(self) -> tuple[str, ...]:
        """Methods whose contract is "must not exist": a plain INSERT.

        A unique violation there is a :class:`DuplicateRecordError` whatever
        index the database checks first; elsewhere (upserts) a non-key
        unique violation is a ``ConstraintViolationError`` naming the index.
        """
        sql = {c.name: c.sql for c in self.sql_consts["sqlite"]}
        names: list[str] = []
        for m in self.methods:
            first = sql.get(m.consts[0], "") if m.consts else ""
            if first.startswith("INSERT INTO") and "ON CONFLICT" not in first:
                names.append(m.name)
        return tuple(names)

    @property
    def custom_methods(self) -> tuple[MethodIR, ...]:
        return tuple(m for m in self.methods if m.kind == "custom")

    @property
    def key_params(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.key)


@dataclass(frozen=True)
class ValueModelIR:
    """A model stored as JSON inside rows (``schema/_models.yaml``)."""

    name: str
    description: str
    fields: tuple[FieldIR, ...]
    enums: tuple[str, ...]


@dataclass(frozen=True)
class VersionIR:
    """A version-snapshot accessor: its table (as an entity) and model."""

    table: EntityIR
    model: str
    model_module: str  # where the model class is generated
    description: str

    @property
    def accessor(self) -> str:
        return self.table.accessor


@dataclass(frozen=True)
class SchemaIR:
    enums: tuple[EnumIR, ...]
    entities: tuple[EntityIR, ...]  # sorted by accessor
    table_order: tuple[str, ...]  # referenced tables first
    models: tuple[ValueModelIR, ...] = ()
    versions: tuple[VersionIR, ...] = ()

    @property
    def entities_by_dependency(self) -> tuple[EntityIR, ...]:
        """Every table (entities and version tables), referenced first."""
        by_table = {e.table: e for e in self.entities}
        by_table.update({v.table.table: v.table for v in self.versions})
        return tuple(by_table[t] for t in self.table_order)

    @property
    def accessors(self) -> tuple[str, ...]:
        names = [e.accessor for e in self.entities]
        names += [v.accessor for v in self.versions]
        return tuple(sorted(names))

    @property
    def exports(self) -> tuple[str, ...]:
        """Every public generated name, sorted."""
        names = [enum.name for enum in self.enums]
        names += [model.name for model in self.models]
        for e in self.entities:
            names.extend(e.exports)
        return tuple(sorted(names))
