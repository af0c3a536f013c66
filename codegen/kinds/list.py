"""``list``: a page of the rows matching ``by`` and ``where``, in ``order``.

Each list method also gets an ``iter_<name>`` sibling streaming every
matching row in the same order (:mod:`codegen.kinds._stream`).
"""

from __future__ import annotations

from typing import Literal

from codegen.ir import DIALECTS, MethodIR
from codegen.kinds._common import Ordered, eq_fields, explicit, order_of, read_parts
from codegen.kinds._stream import stream_method
from codegen.methods import Context, paging, paging_sql
from codegen.shapes import Shape

SHAPE: Shape = "many"


class ListMethod(Ordered):
    """``by``/``where``/``order``; ``paged``: limit_offset, limit or none."""

    kind: Literal["list"]
    paged: Literal["limit_offset", "limit", "none"] = "limit_offset"


Spec = ListMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    parts = read_parts(ctx, spec, path)
    order = order_of(ctx, spec, path)
    order_sql = ctx.order_sql(order)
    ctx.add(
        const,
        **{
            d: f"{ctx.select}{parts.where(d, ctx.exclude)} ORDER BY {order_sql}"
            + paging_sql(spec.paged, d)
            for d in DIALECTS
        },
    )
    eq = eq_fields(spec)
    ranged = [c.field for c in spec.where if c.op in ("lt", "le", "gt", "ge")]
    ordering = ctx.order_path(order)
    names = [n.lstrip("-") for n in ordering]
    if ranged and ranged[0] not in names:
        ordering = (ranged[0], *ordering)  # the range column leads the ordering
    ctx.paths.append((eq, ordering))
    page_args = tuple(p.name for p in paging(spec.paged))
    method = MethodIR(
        name,
        spec.kind,
        doc,
        tuple(parts.params) + paging(spec.paged),
        f"tuple[{ctx.name}, ...]",
        declared=True,
        shape=SHAPE,
        paged=spec.paged,
        consts=(const,),
        binds=explicit(parts, page_args),
        stream=f"iter_{name}",
    )
    # iter_<name>: the same rows in the same order, streamed in batches.
    ctx.siblings.append(
        stream_method(
            ctx,
            method,
            order,
            {d: () for d in DIALECTS},
            {d: (*parts.conds[d], *ctx.exclude) for d in DIALECTS},
            binds=explicit(parts),
            equal=tuple(spec.by),
            path=path,
        )
    )
    return method
