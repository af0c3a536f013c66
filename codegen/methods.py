"""What building any repository method needs: the entity context, binding.

Built-in methods come from the repository kinds (id_keyed, filtered_query,
append_only; :mod:`codegen.kinds._builtin`); declared methods from
``repository.methods`` (one module per kind in :mod:`codegen.kinds`). Each
becomes a :class:`MethodIR` (signature, result shape, argument binding) plus
the SQL constants it adds to :class:`Context` in each dialect, and an *access
path* (equality columns, then ordering columns) from which
:mod:`codegen.build` derives indexes so every declared query is index-backed.
This module holds the context and the parameter/paging helpers they share.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codegen.ir import (
    DIALECTS,
    PLACEHOLDER,
    Dialect,
    FieldIR,
    FilterIR,
    MethodIR,
    ParamIR,
    SqlConst,
    quote,
)

AccessPath = tuple[tuple[str, ...], tuple[str, ...]]  # (equality cols, order cols)


@dataclass
class Context:
    """What method building needs to know about the entity."""

    file: str
    name: str
    table: str
    fields: dict[str, FieldIR]
    key: tuple[FieldIR, ...]
    kinds: tuple[str, ...]
    filters: tuple[FilterIR, ...]
    order: tuple[tuple[str, bool], ...]
    time_field: FieldIR | None
    exclude: tuple[str, ...]  # SQL conditions every list statement carries
    unique_sets: tuple[frozenset[str], ...]
    key_annotation: str
    unique_names: dict[frozenset[str], str] = field(default_factory=dict)
    # Rows the generic delete refuses: (constraint token, SQL predicate).
    protect: tuple[tuple[str, str], ...] = ()
    consts: dict[Dialect, list[SqlConst]] = field(
        default_factory=lambda: {d: [] for d in DIALECTS}
    )
    paths: list[AccessPath] = field(default_factory=list)
    # Runtime names ("module:name") the methods' own expressions call beyond
    # their parameters' and the fields' codecs (utc_now, before_now, ...).
    uses: set[str] = field(default_factory=set)
    # Methods a builder derived beside the one it returns (a list method's
    # iter_* sibling); the entity builder places them right after it.
    siblings: list[MethodIR] = field(default_factory=list)

    @property
    def columns(self) -> str:
        return ", ".join(f.column for f in self.fields.values())

    @property
    def select(self) -> str:
        return f"SELECT {self.columns} FROM {quote(self.table)}"

    def order_sql(self, order: tuple[tuple[str, bool], ...]) -> str:
        return ", ".join(
            f"{quote(name)} DESC" if desc else quote(name) for name, desc in order
        )

    def add(self, const_name: str, **per_dialect: SqlConst | str) -> str:
        for dialect in DIALECTS:
            value = per_dialect[dialect]
            if isinstance(value, str):
                value = SqlConst(name=const_name, sql=value)
            self.consts[dialect].append(value)
        return const_name

    @staticmethod
    def order_path(order: tuple[tuple[str, bool], ...]) -> tuple[str, ...]:
        """An ordering as access-path columns (``-name`` when descending)."""
        return tuple(("-" if desc else "") + name for name, desc in order)

    def where(self, conditions: list[str]) -> str:
        conditions = [*conditions, *self.exclude]
        return f" WHERE {' AND '.join(conditions)}" if conditions else ""

    def is_unique(self, names: set[str] | frozenset[str]) -> bool:
        return any(u <= names for u in self.unique_sets)


def bind_value(f: FieldIR, value: str, dialect: Dialect, optional: bool = False) -> str:
    return f.codec(dialect).encode_expr(value, optional)


def param_of(f: FieldIR, name: str, *, optional: bool = False) -> ParamIR:
    base = f.annotation.removesuffix(" | None")
    # An argument never went through a model: check it against the field's
    # domain (type, bounds, NUL, aware datetime in range...) before any SQL,
    # so both backends refuse the same values with InvalidValueError.
    value = f.arg_check(name, f"{f.owner}.{name}")
    binds = {d: bind_value(f, value, d) for d in DIALECTS}
    if optional and any(b != name for b in binds.values()):
        binds = {d: f"None if {name} is None else {b}" for d, b in binds.items()}
    return ParamIR(
        name=name,
        annotation=f"{base} | None" if optional else base,
        default="None" if optional else None,
        binds=binds,
        uses=field_uses(f),
    )


def field_uses(f: FieldIR, *, blank_ok: bool = False) -> dict[Dialect, frozenset[str]]:
    """Per dialect: what an argument of ``f`` checked and encoded calls."""
    checked = f.arg_uses(blank_ok=blank_ok)
    return {d: checked | f.codec(d).uses for d in DIALECTS}


def key_param(ctx: Context, value: str) -> ParamIR:
    """``entity_id`` bound column by column (a tuple for composite keys)."""
    binds: dict[Dialect, str] = {}
    for dialect in DIALECTS:
        if len(ctx.key) == 1:
            f = ctx.key[0]
            checked = f.arg_check(value, f"{ctx.table}.{value}")
            binds[dialect] = bind_value(f, checked, dialect)
        else:
            binds[dialect] = ", ".join(
                bind_value(
                    f, f.arg_check(f"{value}[{i}]", f"{ctx.table}.{f.name}"), dialect
                )
                for i, f in enumerate(ctx.key)
            )
    uses: dict[Dialect, frozenset[str]] = {d: frozenset() for d in DIALECTS}
    for f in ctx.key:
        uses = {d: uses[d] | names for d, names in field_uses(f).items()}
    return ParamIR(
        name=value,
        annotation=ctx.key_annotation,
        binds=binds,
        arity=len(ctx.key),
        uses=uses,
    )


LIMIT = ParamIR(name="limit", annotation="int", default="DEFAULT_PAGE_SIZE")
OFFSET = ParamIR(name="offset", annotation="int", default="0")


def paging(paged: str) -> tuple[ParamIR, ...]:
    return {"limit_offset": (LIMIT, OFFSET), "limit": (LIMIT,), "none": ()}[paged]


def paging_sql(paged: str, dialect: Dialect) -> str:
    ph = PLACEHOLDER[dialect]
    return {
        "limit_offset": f" LIMIT {ph} OFFSET {ph}",
        "limit": f" LIMIT {ph}",
        "none": "",
    }[paged]


def key_where(ctx: Context, dialect: Dialect) -> str:
    ph = PLACEHOLDER[dialect]
    return " AND ".join(f"{f.column} = {ph}" for f in ctx.key)
