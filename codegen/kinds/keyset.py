"""``keyset``: a page of rows after (or before) a cursor on a unique field."""

from __future__ import annotations

from typing import Literal

from codegen.ir import DIALECTS, PLACEHOLDER, MethodIR
from codegen.methods import LIMIT, Context, bind_value, paging_sql, param_of
from codegen.shapes import Shape, Variant
from codegen.spec_types import Identifier, MethodBase, SpecError

SHAPE: Shape = "many"


class KeysetMethod(MethodBase):
    """``after``: the unique field to page by; ``descending`` pages backwards."""

    kind: Literal["keyset"]
    after: Identifier | None = None
    descending: bool = False


Spec = KeysetMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    if spec.after is None or spec.after not in ctx.fields:
        raise SpecError(
            ctx.file, f"{path}.after", "name the unique field to page after"
        )
    if not ctx.is_unique(frozenset({spec.after})):
        raise SpecError(
            ctx.file,
            f"{path}.after",
            f"{spec.after!r} must be unique so a cursor is unambiguous",
        )
    after = ctx.fields[spec.after]
    direction = "before" if spec.descending else "after"
    param = param_of(after, f"{direction}_{spec.after}", optional=True)
    first, nxt = f"{const}_FIRST", f"{const}_AFTER"
    order = f"{after.column} DESC" if spec.descending else after.column
    op = "<" if spec.descending else ">"
    ctx.add(
        first,
        **{
            d: f"{ctx.select}{ctx.where([])} ORDER BY {order}" + paging_sql("limit", d)
            for d in DIALECTS
        },
    )
    ctx.add(
        nxt,
        **{
            d: f"{ctx.select}{ctx.where([f'{after.column} {op} {PLACEHOLDER[d]}'])} "
            f"ORDER BY {order}" + paging_sql("limit", d)
            for d in DIALECTS
        },
    )
    ctx.paths.append(((), (spec.after,)))
    checked = after.arg_check(param.name, f"{ctx.table}.{param.name}")
    bind = {d: bind_value(after, checked, d) for d in DIALECTS}
    return MethodIR(
        name,
        spec.kind,
        doc,
        (param, LIMIT),
        f"tuple[{ctx.name}, ...]",
        declared=True,
        shape=SHAPE,
        paged="limit",
        consts=(first, nxt),
        binds=bind,
        variants=(
            Variant(first, "limit", param=param.name, equals="None"),
            Variant(nxt, "bound_limit"),
        ),
    )
