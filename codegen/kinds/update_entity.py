"""``update_entity``: a strict update of every column; RecordNotFoundError if absent."""

from __future__ import annotations

from typing import Literal

from codegen.ir import DIALECTS, PLACEHOLDER, Dialect, MethodIR, SqlConst, quote
from codegen.kinds._common import bind_tuple, entity_param, update_binds
from codegen.methods import Context, key_where
from codegen.shapes import Shape
from codegen.spec_types import MethodBase

SHAPE: Shape = "rowcount"


class UpdateEntityMethod(MethodBase):
    """No keys beyond ``description``: the entity's key picks the row."""

    kind: Literal["update_entity"]


Spec = UpdateEntityMethod


def build(
    ctx: Context, name: str, spec: MethodBase, path: str, const: str, doc: str
) -> MethodIR:
    t = quote(ctx.table)
    non_key = [f for f in ctx.fields.values() if f not in ctx.key]
    binds: dict[Dialect, str] = {}
    for d in DIALECTS:
        ph = PLACEHOLDER[d]
        sets = ", ".join(f"{f.column} = {ph}" for f in non_key)
        returning = DIALECTS[d].count_returning
        ctx.consts[d].append(
            SqlConst(
                name=const,
                sql=f"UPDATE {t} SET {sets} WHERE {key_where(ctx, d)}{returning}",
            )
        )
        binds[d] = bind_tuple(update_binds(ctx, d))
    # returns None: the rowcount shape raises RecordNotFoundError on no row.
    return MethodIR(
        name,
        "update_entity",
        doc,
        (entity_param(ctx),),
        "None",
        declared=True,
        shape=SHAPE,
        write=True,
        consts=(const,),
        binds=binds,
    )
