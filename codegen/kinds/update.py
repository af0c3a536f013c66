"""``update``: UPDATE the ``set`` columns of the rows matching ``by``/``where``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from codegen.dialects import support
from codegen.ir import (
    DIALECTS,
    PLACEHOLDER,
    Dialect,
    MethodIR,
    ParamIR,
    SqlConst,
    quote,
)
from codegen.kinds._common import (
    Filtered,
    Parts,
    add_by,
    add_where,
    bind_tuple,
    eq_fields,
    field_of,
    literal,
    value_bind,
)
from codegen.methods import Context, bind_value, param_of
from codegen.shapes import Guard, Shape
from codegen.spec_types import Identifier, SetSpec, SpecError

SHAPE: Shape = "rowcount"


class UpdateMethod(Filtered):
    """``set`` (field -> param/value/now), ``by``/``where``; ``returns`` bool|int."""

    kind: Literal["update"]
    set: dict[Identifier, SetSpec] = Field(default_factory=dict)
    returns: Literal["bool", "int"] = "bool"


Spec = UpdateMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    if not spec.set:
        raise SpecError(
            ctx.file, f"{path}.set", "an update method sets at least one field"
        )
    parts = Parts()
    add_by(ctx, spec, path, parts)
    sets: dict[Dialect, list[str]] = {d: [] for d in DIALECTS}
    set_binds: dict[Dialect, list[str]] = {d: [] for d in DIALECTS}
    guards: list[Guard] = []
    for fname, entry in spec.set.items():
        f = field_of(ctx, fname, f"{path}.set.{fname}")
        if sum([entry.param is not None, entry.value is not None, entry.now]) != 1:
            raise SpecError(
                ctx.file,
                f"{path}.set.{fname}",
                "give exactly one of 'param', 'value' or 'now'",
            )
        for d in DIALECTS:
            if entry.value is not None:
                sets[d].append(f"{f.column} = {literal(entry.value)}")
                continue
            sets[d].append(f"{f.column} = {PLACEHOLDER[d]}")
            if entry.now:
                ctx.uses.add(support("utc_now"))
                set_binds[d].append(value_bind(f, "utc_now()", d))
            else:
                assert entry.param is not None
                checked = f.arg_check(entry.param, f"{ctx.table}.{entry.param}")
                bind = bind_value(f, checked, d)
                if f.optional:
                    bind = f"None if {entry.param} is None else {bind}"
                set_binds[d].append(bind)
        if entry.param is not None:
            param = param_of(f, entry.param, optional=False)
            if f.optional:
                param = ParamIR(
                    name=entry.param,
                    annotation=f.annotation,
                    binds={d: set_binds[d][-1] for d in DIALECTS},
                    uses=param.uses,
                )
            parts.add_param(param)
            if entry.allowed:
                values = tuple(repr(v) for v in entry.allowed)
                guards.append(
                    Guard(
                        "not_in",
                        (entry.param,),
                        message=f"{fname} must be one of {', '.join(values)}",
                        field=f"{ctx.table}.{entry.param}",
                        values=values,
                    )
                )
    add_where(ctx, spec, path, parts)
    t = quote(ctx.table)
    for d in DIALECTS:
        returning = DIALECTS[d].count_returning
        ctx.consts[d].append(
            SqlConst(
                name=const,
                sql=f"UPDATE {t} SET {', '.join(sets[d])}{parts.where(d)}{returning}",
            )
        )
    ctx.paths.append((eq_fields(spec), ()))
    binds = {d: bind_tuple([*set_binds[d], *parts.binds[d]]) for d in DIALECTS}
    return MethodIR(
        name,
        spec.kind,
        doc,
        tuple(parts.params),
        spec.returns,
        declared=True,
        shape=SHAPE,
        write=True,
        consts=(const,),
        binds=binds,
        guards=tuple(guards),
    )
