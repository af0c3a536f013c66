"""What a SQL dialect decides in the generator: the :class:`Dialect` object.

Every dialect-specific choice the generator makes is an attribute or a
method here, answered by one subclass per dialect (:mod:`.sqlite`,
:mod:`.postgres`) and looked up by name in the registry
(:data:`codegen.dialects.DIALECTS`). Code outside this package asks the
object; it never compares a dialect's name. A new dialect is one module
subclassing :class:`Dialect`, one registry line, and the two template files
it names (:attr:`Dialect.template_module`, :attr:`Dialect.repository_template`).

The SQL text helpers (:func:`quote`, :func:`sql_literal`) live here so the
dialect modules need nothing else from the generator.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from codegen.migration_types import TableDiff
    from codegen.rules import CheckRule

JSON_KINDS = ("json", "list[str]", "list[int]", "list[json]")
# Where generated code finds the runtime helpers its expressions call.
SUPPORT = "synthorg.persistence.support"


def support(name: str) -> str:
    """``name`` of :data:`SUPPORT`, as the "module:name" a ``uses`` set holds."""
    return f"{SUPPORT}:{name}"


Phases = dict[str, list[str]]  # rename / drop / create / add statements
BOUND_OPS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def quote(identifier: str) -> str:
    """Quote an identifier that the spec already validated as ``[a-z_][a-z0-9_]*``."""
    return f'"{identifier}"'


def sql_literal(value: str) -> str:
    """A SQL string literal for a validated enum value."""
    return "'" + value.replace("'", "''") + "'"


class FillError(ValueError):
    """A backfill or default cannot be written as a SQL value of the column."""


class Dialect(ABC):
    """One SQL dialect: names, SQL spellings, types and codecs, migrations.

    Subclasses set the class attributes and implement the abstract methods;
    one instance of each lives in the registry.
    """

    #: Registry key: the ``generated/<name>/`` and ``migrations/<name>/``
    #: folder, the runtime package ``synthorg.persistence.<name>``.
    name: ClassVar[str]
    #: How documentation and module headers name the dialect.
    title: ClassVar[str]
    #: The prefix of generated repository classes (``SQLiteFooRepository``).
    class_prefix: ClassVar[str]
    #: The bind-parameter marker of the driver.
    placeholder: ClassVar[str]
    #: True when ``ORDER BY`` sorts NULL above every value (PostgreSQL:
    #: NULLS LAST ascending), False when below (SQLite): the ``iter_*``
    #: keyset continuation places NULLs where ``ORDER BY`` does.
    nulls_sort_high: ClassVar[bool]
    #: Appended to an UPDATE/DELETE whose affected rows are counted from the
    #: rows it returns (SQLite's aiosqlite path), or "" when the driver
    #: reports a rowcount (PostgreSQL).
    count_returning: ClassVar[str]
    #: What an upsert returns to say "this row was inserted" (PostgreSQL's
    #: ``RETURNING (xmax = 0)``), or "" when one statement cannot tell: the
    #: ``upsert_outcome`` kind then inserts-or-nothing and updates, in one
    #: transaction.
    upsert_created_returning: ClassVar[str] = ""
    #: How a checked aware-datetime argument is bound (``{v}`` the value).
    time_bind: ClassVar[str]
    #: The runtime names ``time_bind`` calls, as "module:name" (imports).
    time_bind_uses: ClassVar[frozenset[str]] = frozenset()
    #: The runtime names each field kind's encoder and decoder call.
    codec_uses: ClassVar[Mapping[str, frozenset[str]]] = {}
    #: The SQL expression of the current time, as a column value (backfills).
    now: ClassVar[str]
    #: Field kind -> column type.
    column_types: ClassVar[Mapping[str, str]]
    #: Field kind -> Python expression writing a value (``{v}`` the value,
    #: ``{f}`` the quoted ``table.field`` label); absent kinds pass through.
    encoders: ClassVar[Mapping[str, str]]
    #: Field kind -> the expression a bulk ``COPY`` row uses instead of its
    #: encoder (same placeholders); absent kinds use the encoder.
    copy_encoders: ClassVar[Mapping[str, str]] = {}
    #: Field kind -> Python expression reading a column value (``{v}``).
    decoders: ClassVar[Mapping[str, str]]
    #: Extra SQL constants a bulk method runs besides its own (documentation
    #: lists them beside the method's statement).
    bulk_consts: ClassVar[tuple[str, ...]] = ()
    #: The runtime module and names a generated repository module imports to
    #: reach the driver; ``plain_imports`` are ``import x`` lines.
    driver_module: ClassVar[str]
    driver_names: ClassVar[frozenset[str]]
    plain_imports: ClassVar[frozenset[str]]
    #: The names ``generated/<name>/__init__.py`` imports from the driver.
    init_driver_names: ClassVar[frozenset[str]]

    #: Jinja files: per-dialect flags and macros (imported as ``D`` by the
    #: shared templates) and the repository class body.
    @property
    def template_module(self) -> str:
        return f"_dialect_{self.name}.j2"

    @property
    def repository_template(self) -> str:
        return f"repository_{self.name}.py.j2"

    @property
    def runtime_package(self) -> str:
        return f"synthorg.persistence.{self.name}"

    # ------------------------------------------------------------ types

    def column_type(self, kind: str) -> str:
        """The column type of a field kind."""
        return self.column_types[kind]

    def check_sql(self, rule: CheckRule, column: str) -> str | None:
        """A typed CHECK rule on (quoted) ``column``; None if the type suffices.

        Membership, bounds and "differs" are spelled alike everywhere; a
        pattern and a kind's storage format are each dialect's own.
        """
        if rule.kind == "in":
            return f"{column} IN ({', '.join(sql_literal(v) for v in rule.values)})"
        if rule.kind == "bound":
            return f"{column} {BOUND_OPS[rule.op]} {rule.value}"
        if rule.kind == "pattern":
            return self.pattern_check(column, rule.pattern, rule.glob)
        if rule.kind == "differs":
            a, b = rule.columns
            return f"{quote(a)} <> {quote(b)}"
        return self.kind_check(rule.field_kind, column, rule.optional)

    @abstractmethod
    def kind_check(self, kind: str, column: str, optional: bool) -> str | None:
        """A CHECK expression the kind needs beyond its declared constraints."""

    @abstractmethod
    def pattern_check(self, column: str, pattern: str, glob: str) -> str:
        """The CHECK of a ``pattern`` (``glob`` is its GLOB translation)."""

    @abstractmethod
    def string_agg(self, expression: str) -> str:
        """Distinct values of ``expression`` joined by commas (an aggregate)."""

    @abstractmethod
    def existing_keys_sql(self, table: str, key: str) -> str:
        """SELECT the ``key`` values of ``table`` among one bound list of keys."""

    def bulk_doc(self, mode: str) -> str:
        """How a bulk ``insert``/``upsert`` runs, for ``docs/entities.md``."""
        return f"{self.title} runs `executemany` inside one transaction"

    def bulk_statements(
        self, table: str, columns: str, keys: str, conflict: str, mode: str
    ) -> list[tuple[str, str]]:
        """(constant, SQL) a bulk ``insert``/``upsert`` runs besides its own.

        ``columns`` and ``keys`` are quoted column lists, ``conflict`` the
        upsert's ``DO UPDATE SET ...`` / ``DO NOTHING``. By default none: the
        batch is the method's statement under ``executemany``.
        """
        return []

    # ------------------------------------------------------------ imports

    def repository_imports(
        self, shapes: AbstractSet[str]
    ) -> tuple[dict[str, set[str]], set[str]]:
        """(from-imports, plain imports) of the driver a repository module needs.

        ``shapes`` are the result shapes of its methods; what its expressions
        call comes from the codecs and parameters (``uses``), not from here.
        """
        modules = {self.driver_module: set(self.driver_names)}
        return modules, set(self.plain_imports)

    # ------------------------------------------------------------ migrations

    @abstractmethod
    def literal(self, kind: str, value: Any) -> str:
        """A SQL literal of a checked fill value (not a ``now``)."""

    def fill_sql(self, kind: str, value: Any) -> str:
        """The SQL value existing rows get for a column of ``kind``."""
        if kind in ("str", "text", "enum"):
            if not isinstance(value, str):
                raise FillError(f"expected a string for a {kind} column, got {value!r}")
            return sql_literal(value)
        if kind == "bool":
            if not isinstance(value, bool):
                raise FillError(f"expected true or false, got {value!r}")
            return self.literal(kind, value)
        if kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise FillError(f"expected a number for a {kind} column, got {value!r}")
            if kind == "int" and not isinstance(value, int):
                raise FillError(f"expected an integer, got {value!r}")
            return repr(float(value)) if kind == "float" else str(value)
        if kind == "datetime":
            if value == "now":
                return self.now
            try:
                moment = datetime.fromisoformat(str(value))
            except ValueError:
                raise FillError(
                    f"expected 'now' or an ISO-8601 time, got {value!r}"
                ) from None
            if moment.tzinfo is None:
                raise FillError(f"a backfill time needs a timezone: {value!r}")
            text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
            return self.literal(kind, text)
        if kind in JSON_KINDS:
            return self.literal(
                kind, json.dumps(value, separators=(",", ":"), sort_keys=True)
            )
        raise FillError(f"a {kind} column cannot be backfilled")

    @abstractmethod
    def render_table_change(self, d: TableDiff, out: Phases) -> None:
        """Append the statements of one table's change to the phases ``out``."""


def new_column(d: TableDiff, name: str) -> dict[str, Any]:
    """The recorded state of column ``name`` after the change."""
    return next(c for c in d.new["columns"] if c["name"] == name)


def fk_sql(fk: dict[str, Any]) -> str:
    """A FOREIGN KEY clause from its recorded state."""
    return (
        f"FOREIGN KEY ({quote(fk['column'])}) REFERENCES {quote(fk['table'])} "
        f"({quote(fk['target'])}) ON DELETE {fk['on_delete']}"
    )
