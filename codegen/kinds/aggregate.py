"""``aggregate``: SUM(``sum``) of the matching rows, refused when ``single`` varies.

One statement: the distinct probe of ``single`` and the SUM share one
snapshot (the ``mixed_sum`` decode raises MixedCurrencyAggregationError).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from codegen.ir import DIALECTS, PLACEHOLDER, MethodIR, SqlConst, quote
from codegen.kinds._common import field_of
from codegen.methods import Context, param_of
from codegen.shapes import Shape
from codegen.spec_types import Identifier, MethodBase, SpecError

SHAPE: Shape = "value"


class AggregateMethod(MethodBase):
    """``sum`` (int/float field), ``single`` (one value), ``optional`` filters."""

    kind: Literal["aggregate"]
    sum: Identifier | None = None
    single: Identifier | None = None
    optional: list[Identifier] = Field(default_factory=list)


Spec = AggregateMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    if spec.sum is None or spec.sum not in ctx.fields:
        raise SpecError(ctx.file, f"{path}.sum", "name the numeric field to sum")
    if ctx.fields[spec.sum].kind not in ("int", "float"):
        raise SpecError(
            ctx.file, f"{path}.sum", "the summed field must be int or float"
        )
    if spec.single is None or spec.single not in ctx.fields:
        raise SpecError(
            ctx.file,
            f"{path}.single",
            "name the field that must hold one value across matched rows",
        )
    optional = [
        field_of(ctx, n, f"{path}.optional[{i}]") for i, n in enumerate(spec.optional)
    ]
    params = tuple(param_of(f, f.name, optional=True) for f in optional)
    total, single = ctx.fields[spec.sum].column, ctx.fields[spec.single].column
    distinct = {d: DIALECTS[d].string_agg(single) for d in DIALECTS}
    for d in DIALECTS:
        ctx.consts[d].append(
            SqlConst(
                name=const,
                prefix=f"SELECT COUNT(DISTINCT {single}), {distinct[d]}, "
                f"COALESCE(SUM({total}), 0) FROM {quote(ctx.table)}",
                conditions=tuple(f"{f.column} = {PLACEHOLDER[d]}" for f in optional),
            )
        )
    for f in optional:
        ctx.paths.append(((f.name,), ()))
    return MethodIR(
        name,
        spec.kind,
        doc,
        params,
        "float",
        declared=True,
        shape=SHAPE,
        consts=(const,),
        result=spec.single,
        binds={d: "()" for d in DIALECTS},
        mask="params",
        mask_params=tuple(f.name for f in optional),
        decode="mixed_sum",
    )
