"""``count``: the number of rows matching ``by`` and ``where``."""

from __future__ import annotations

from typing import Literal

from codegen.ir import DIALECTS, MethodIR, quote
from codegen.kinds._common import Filtered, eq_fields, explicit, read_parts
from codegen.methods import Context
from codegen.shapes import Shape

SHAPE: Shape = "value"


class CountMethod(Filtered):
    """A count of the rows matching ``by`` and ``where`` (both optional)."""

    kind: Literal["count"]


Spec = CountMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    parts = read_parts(ctx, spec, path)
    t = quote(ctx.table)
    ctx.add(const, **{d: f"SELECT COUNT(*) FROM {t}{parts.where(d)}" for d in DIALECTS})
    ctx.paths.append((eq_fields(spec), ()))
    return MethodIR(
        name,
        spec.kind,
        doc,
        tuple(parts.params),
        "int",
        declared=True,
        shape=SHAPE,
        consts=(const,),
        binds=explicit(parts),
        decode="int",
    )
