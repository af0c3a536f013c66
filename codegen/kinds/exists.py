"""``exists``: whether any row matches ``by`` and ``where`` (a key or a filter).

One ``SELECT EXISTS(SELECT 1 ...)`` in both dialects: the database stops at
the first match. SQLite answers 0/1, PostgreSQL a boolean; the ``value``
shape's ``bool`` decode makes both a Python bool.
"""

from __future__ import annotations

from typing import Literal

from codegen.ir import DIALECTS, MethodIR, quote
from codegen.kinds._common import Filtered, eq_fields, explicit, read_parts
from codegen.methods import Context
from codegen.shapes import Shape
from codegen.spec_types import SpecError

SHAPE: Shape = "value"


class ExistsMethod(Filtered):
    """``by`` (e.g. the key or a unique field) and/or ``where``: one at least."""

    kind: Literal["exists"]


Spec = ExistsMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    if not spec.by and not spec.where:
        raise SpecError(ctx.file, path, "an exists method needs 'by' or 'where'")
    parts = read_parts(ctx, spec, path)
    t = quote(ctx.table)
    ctx.add(
        const,
        **{d: f"SELECT EXISTS(SELECT 1 FROM {t}{parts.where(d)})" for d in DIALECTS},
    )
    ctx.paths.append((eq_fields(spec), ()))
    return MethodIR(
        name,
        spec.kind,
        doc,
        tuple(parts.params),
        "bool",
        declared=True,
        shape=SHAPE,
        consts=(const,),
        binds=explicit(parts),
        decode="bool",
    )
