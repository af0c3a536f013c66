"""IR of tables and the schema: indexes, foreign keys, DDL, entities, versions.

Index columns are typed (:class:`IndexColumn`: name and direction) and
rendered to SQL only where a statement is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from codegen.dialects import quote
from codegen.ir.field import EnumIR, FieldIR, FilterIR
from codegen.ir.method import MethodIR, SqlConst


class IndexColumn(NamedTuple):
    """One column of an index, in its direction."""

    name: str
    descending: bool = False

    @property
    def sql(self) -> str:
        """The column as it appears in CREATE INDEX (``"name" DESC``)."""
        return f"{quote(self.name)} DESC" if self.descending else quote(self.name)


@dataclass(frozen=True)
class IndexIR:
    name: str
    columns: tuple[IndexColumn, ...]
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
    # The time column of a time series (``timeseries`` in the YAML), or None.
    timeseries: str | None = None
    # Runtime names ("module:name") the methods' own expressions call beyond
    # their parameters' and the fields' codecs (see imports.repository_module).
    uses: frozenset[str] = frozenset()

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
        # Every dialect runs the same statement kinds: any one tells.
        sql = {c.name: c.sql for c in next(iter(self.sql_consts.values()))}
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
