"""``delete``: delete the rows matching ``by``/``where``; how many, or which.

The result is ``rowcount`` (bool when ``by`` is unique, else int), or, with
``returning``, the ``column`` shape: the named field of every deleted row.
"""

from __future__ import annotations

from typing import Literal

from codegen.ir import DIALECTS, MethodIR, quote
from codegen.kinds._common import (
    Filtered,
    Parts,
    eq_fields,
    explicit,
    field_of,
    read_parts,
)
from codegen.methods import Context
from codegen.shapes import Guard, Shape
from codegen.spec_types import Identifier, SpecError

SHAPE: Shape = "rowcount"


class DeleteMethod(Filtered):
    """``by``/``where`` (one at least); ``returning``; ``skip_unless_positive``."""

    kind: Literal["delete"]
    returning: Identifier | None = None
    skip_unless_positive: Identifier | None = None


Spec = DeleteMethod


def positive_guard(
    ctx: Context, name: str | None, path: str, parts: Parts, result: str
) -> tuple[Guard, ...]:
    """Return the empty result, without SQL, unless ``name`` is above 0."""
    if name is None:
        return ()
    if all(p.name != name for p in parts.params):
        raise SpecError(
            ctx.file,
            f"{path}.skip_unless_positive",
            f"{name!r} is not a parameter of the method",
        )
    empty = "False" if result == "bool" else "0"
    return (Guard("not_positive", (name,), returns=empty),)


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    if not spec.by and not spec.where:
        raise SpecError(ctx.file, path, "a delete method needs 'by' or 'where'")
    parts = read_parts(ctx, spec, path)
    t = quote(ctx.table)
    ctx.paths.append(
        (
            eq_fields(spec),
            tuple(c.field for c in spec.where if c.op in ("lt", "le", "gt", "ge")),
        )
    )
    if spec.returning is not None:
        returned = field_of(ctx, spec.returning, f"{path}.returning")
        ctx.add(
            const,
            **{
                d: f"DELETE FROM {t}{parts.where(d)} RETURNING {returned.column}"
                for d in DIALECTS
            },
        )
        base = returned.annotation.removesuffix(" | None")
        return MethodIR(
            name,
            spec.kind,
            doc,
            tuple(parts.params),
            f"tuple[{base}, ...]",
            declared=True,
            shape="column",
            write=True,
            consts=(const,),
            binds=explicit(parts),
        )
    result = "bool" if ctx.is_unique(frozenset(spec.by)) else "int"
    ctx.add(
        const,
        **{
            d: f"DELETE FROM {t}{parts.where(d)}{DIALECTS[d].count_returning}"
            for d in DIALECTS
        },
    )
    return MethodIR(
        name,
        spec.kind,
        doc,
        tuple(parts.params),
        result,
        declared=True,
        shape=SHAPE,
        write=True,
        consts=(const,),
        binds=explicit(parts),
        guards=positive_guard(ctx, spec.skip_unless_positive, path, parts, result),
    )
