"""What several method kinds share: filter keys, conditions, orderings, binds.

:class:`Filtered` is the spec base of the kinds that select rows with ``by``
(equality on fields, optionally renamed by ``params``) and ``where`` (extra
predicates); :class:`Parts` gathers the SQL conditions, parameters and
bindings those produce, in that order. Bound values always travel as
parameters; literals in conditions come from the validated spec.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import Field

from codegen.dialects import support
from codegen.ir import (
    DIALECTS,
    PLACEHOLDER,
    Dialect,
    FieldIR,
    ParamIR,
    sql_literal,
)
from codegen.methods import Context, bind_value, param_of
from codegen.spec_types import (
    ConditionSpec,
    Identifier,
    MethodBase,
    OrderItem,
    SpecError,
)

OPS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class Filtered(MethodBase):
    """The keys of a kind that selects rows: ``by``, ``params``, ``where``."""

    by: list[Identifier] = Field(default_factory=list)
    params: dict[Identifier, Identifier] = Field(default_factory=dict)
    where: list[ConditionSpec] = Field(default_factory=list)


class Ordered(Filtered):
    """A selecting kind that also takes an ``order`` (default: the entity's)."""

    order: list[OrderItem] = Field(default_factory=list)


def literal(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return sql_literal(value)


@dataclass
class Parts:
    """Conditions, parameters and bindings gathered from a declaration."""

    conds: dict[Dialect, list[str]] = field(
        default_factory=lambda: {d: [] for d in DIALECTS}
    )
    binds: dict[Dialect, list[str]] = field(
        default_factory=lambda: {d: [] for d in DIALECTS}
    )
    params: list[ParamIR] = field(default_factory=list)

    def add_param(self, param: ParamIR) -> None:
        if all(p.name != param.name for p in self.params):
            self.params.append(param)

    def where(self, dialect: Dialect, extra: tuple[str, ...] = ()) -> str:
        conds = [*self.conds[dialect], *extra]
        return f" WHERE {' AND '.join(conds)}" if conds else ""


def field_of(ctx: Context, name: str, path: str) -> FieldIR:
    if name not in ctx.fields:
        raise SpecError(ctx.file, path, f"unknown field {name!r}")
    return ctx.fields[name]


def value_bind(f: FieldIR, expr: str, dialect: Dialect) -> str:
    return f.codec(dialect).encode_expr(expr, False)


def add_by(ctx: Context, spec: Filtered, path: str, parts: Parts) -> None:
    for name in spec.params:
        if name not in spec.by:
            raise SpecError(
                ctx.file,
                f"{path}.params.{name}",
                f"renames a parameter, but {name!r} is not in 'by'",
            )
    for i, name in enumerate(spec.by):
        f = field_of(ctx, name, f"{path}.by[{i}]")
        param = param_of(f, spec.params.get(name, name))
        parts.add_param(param)
        for d in DIALECTS:
            parts.conds[d].append(f"{f.column} = {PLACEHOLDER[d]}")
            parts.binds[d].append(param.bind(d))


def add_condition(ctx: Context, c: ConditionSpec, path: str, parts: Parts) -> None:
    f = field_of(ctx, c.field, f"{path}.field")
    if c.op in ("is_null", "not_null"):
        for d in DIALECTS:
            parts.conds[d].append(
                f"{f.column} IS {'NOT ' if c.op == 'not_null' else ''}NULL"
            )
        return
    given = [c.value is not None, c.param is not None, c.now]
    if sum(given) != 1:
        raise SpecError(ctx.file, path, "give exactly one of 'value', 'param' or 'now'")
    if c.value is not None:
        for d in DIALECTS:
            parts.conds[d].append(f"{f.column} {OPS[c.op]} {literal(c.value)}")
        return
    if (c.ago is not None or c.now) and f.kind != "datetime":
        raise SpecError(ctx.file, path, "'ago' and 'now' compare a datetime field")
    if c.param is not None and c.ago is not None:
        param = ParamIR(name=c.param, annotation="int")
        label = f"{ctx.table}.{c.param}"
        expr = f'before_now({c.ago!r}, {c.param}, "{label}")'
        ctx.uses.add(support("before_now"))
    elif c.param is not None:
        param = param_of(f, c.param)
        expr = ""
    else:
        param = None
        expr = "utc_now()"
        ctx.uses.add(support("utc_now"))
    if param is not None:
        parts.add_param(param)
    for d in DIALECTS:
        parts.conds[d].append(f"{f.column} {OPS[c.op]} {PLACEHOLDER[d]}")
        parts.binds[d].append(
            value_bind(f, expr, d) if expr else param.bind(d) if param else ""
        )


def add_where(ctx: Context, spec: Filtered, path: str, parts: Parts) -> None:
    for i, c in enumerate(spec.where):
        add_condition(ctx, c, f"{path}.where[{i}]", parts)


def read_parts(ctx: Context, spec: Filtered, path: str) -> Parts:
    """``by`` then ``where``: the conditions of a selecting kind."""
    parts = Parts()
    add_by(ctx, spec, path, parts)
    add_where(ctx, spec, path, parts)
    return parts


def bind_tuple(binds: list[str]) -> str:
    if not binds:
        return "()"
    return "(" + ", ".join(binds) + ("," if len(binds) == 1 else "") + ")"


def explicit(parts: Parts, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """The bound tuple of each dialect (by dialect name), plus ``extra``."""
    return {d: bind_tuple([*parts.binds[d], *extra]) for d in DIALECTS}


def order_of(ctx: Context, spec: Ordered, path: str) -> tuple[tuple[str, bool], ...]:
    """The declared ordering (default: the entity's), checked to end unique."""
    if not spec.order:
        return ctx.order
    order = tuple((item.lstrip("-"), item.startswith("-")) for item in spec.order)
    for i, (name, _) in enumerate(order):
        field_of(ctx, name, f"{path}.order[{i}]")
    # Rows share the 'by' values, so they count towards uniqueness.
    if not ctx.is_unique(frozenset([*spec.by, *(n for n, _ in order)])):
        raise SpecError(
            ctx.file,
            f"{path}.order",
            f"ordering {spec.order} must end in a unique key so pages are "
            "deterministic",
        )
    return order


def eq_fields(spec: Filtered) -> tuple[str, ...]:
    """The fields a selecting kind compares with ``=`` (its index's lead)."""
    eq = [*spec.by]
    eq += [c.field for c in spec.where if c.op == "eq" and c.field not in eq]
    return tuple(eq)


def update_binds(ctx: Context, dialect: Dialect) -> list[str]:
    """Binds of ``UPDATE ... SET <non-key> = ... WHERE <key> = ...`` from ``entity``."""
    non_key = [f for f in ctx.fields.values() if f not in ctx.key]
    parts = [bind_value(f, f"entity.{f.name}", dialect, f.optional) for f in non_key]
    parts += [bind_value(f, f"entity.{f.name}", dialect) for f in ctx.key]
    return parts


def entity_param(ctx: Context) -> ParamIR:
    return ParamIR(name="entity", annotation=ctx.name)


def needs_id_keyed(ctx: Context, path: str, kind: str) -> None:
    if "id_keyed" not in ctx.kinds:
        raise SpecError(ctx.file, path, f"{kind} needs an id_keyed repository")
