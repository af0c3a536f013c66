"""``insert``: a strict create; DuplicateRecordError when the key exists."""

from __future__ import annotations

from typing import Literal

from codegen.ir import DIALECTS, PLACEHOLDER, MethodIR, quote
from codegen.kinds._common import entity_param
from codegen.methods import Context
from codegen.shapes import Shape
from codegen.spec_types import MethodBase

SHAPE: Shape = "exec"


class InsertMethod(MethodBase):
    """No keys beyond ``description``: the entity's columns are written."""

    kind: Literal["insert"]


Spec = InsertMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    cols = list(ctx.fields.values())
    t = quote(ctx.table)
    ctx.add(
        const,
        **{
            d: f"INSERT INTO {t} ({ctx.columns}) "
            f"VALUES ({', '.join(PLACEHOLDER[d] for _ in cols)})"
            for d in DIALECTS
        },
    )
    return MethodIR(
        name,
        spec.kind,
        doc,
        (entity_param(ctx),),
        "None",
        declared=True,
        shape=SHAPE,
        write=True,
        consts=(const,),
    )
