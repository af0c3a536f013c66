"""``first``: the first row in ``order`` among rows matching the set optional params."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from codegen.ir import DIALECTS, PLACEHOLDER, FieldIR, MethodIR, SqlConst
from codegen.kinds._common import (
    Ordered,
    eq_fields,
    explicit,
    field_of,
    order_of,
    read_parts,
)
from codegen.methods import Context, param_of
from codegen.shapes import Guard, Shape
from codegen.spec_types import Identifier

SHAPE: Shape = "one"


class FirstMethod(Ordered):
    """``by``/``where`` fix rows; each ``optional`` field filters when given.

    ``require_any`` refuses a call that gives none of them.
    """

    kind: Literal["first"]
    optional: list[Identifier] = Field(default_factory=list)
    require_any: bool = False


Spec = FirstMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    parts = read_parts(ctx, spec, path)
    order = order_of(ctx, spec, path)
    optional: list[FieldIR] = []
    for i, fname in enumerate(spec.optional):
        optional.append(field_of(ctx, fname, f"{path}.optional[{i}]"))
    for f in optional:
        parts.add_param(param_of(f, f.name, optional=True))
    for d in DIALECTS:
        ctx.consts[d].append(
            SqlConst(
                name=const,
                prefix=ctx.select,
                conditions=tuple(f"{f.column} = {PLACEHOLDER[d]}" for f in optional),
                suffix=f" ORDER BY {ctx.order_sql(order)} LIMIT 1",
                always=tuple(parts.conds[d]) + ctx.exclude,
                require_any=spec.require_any and bool(optional),
            )
        )
    for f in optional:
        ctx.paths.append(((*eq_fields(spec), f.name), ctx.order_path(order)))
    if not (optional and spec.require_any):  # the unfiltered variant runs too
        ctx.paths.append((eq_fields(spec), ctx.order_path(order)))
    guards: tuple[Guard, ...] = ()
    if spec.require_any and optional:
        wanted = " or ".join(f.name for f in optional)
        guards = (
            Guard(
                "all_none",
                tuple(f.name for f in optional),
                message=f"give at least one of {wanted}",
                field=f"{ctx.table}.{optional[0].name}",
            ),
        )
    return MethodIR(
        name,
        spec.kind,
        doc,
        tuple(parts.params),
        f"{ctx.name} | None",
        declared=True,
        shape=SHAPE,
        consts=(const,),
        binds=explicit(parts),
        guards=guards,
        mask="params",
        mask_params=tuple(f.name for f in optional),
    )
