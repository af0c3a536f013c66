"""``lookup``: the one row matching unique ``by`` fields (and ``where``), or None."""

from __future__ import annotations

from typing import Literal

from codegen.ir import DIALECTS, MethodIR
from codegen.kinds._common import Filtered, eq_fields, explicit, read_parts
from codegen.methods import Context
from codegen.shapes import Shape
from codegen.spec_types import SpecError

SHAPE: Shape = "one"


class LookupMethod(Filtered):
    """A lookup by unique fields: ``by`` (required), ``params``, ``where``."""

    kind: Literal["lookup"]


Spec = LookupMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    if not spec.by:
        raise SpecError(ctx.file, f"{path}.by", "a lookup method needs 'by' fields")
    if not ctx.is_unique(frozenset(spec.by)):
        raise SpecError(
            ctx.file,
            f"{path}.by",
            f"{spec.by} is not unique: declare a unique field or index, "
            "or use a 'first' or 'list' method",
        )
    parts = read_parts(ctx, spec, path)
    ctx.add(const, **{d: f"{ctx.select}{parts.where(d)}" for d in DIALECTS})
    ctx.paths.append((eq_fields(spec), ()))
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
    )
