"""``upsert``: ``save`` under the name the domain uses (``store``)."""

from __future__ import annotations

from typing import Literal

from codegen.ir import MethodIR
from codegen.kinds._common import entity_param, needs_id_keyed
from codegen.methods import Context
from codegen.shapes import Shape
from codegen.spec_types import MethodBase

SHAPE: Shape = "exec"


class UpsertMethod(MethodBase):
    """No keys beyond ``description``; needs an id_keyed repository."""

    kind: Literal["upsert"]


Spec = UpsertMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    needs_id_keyed(ctx, path, "upsert")
    return MethodIR(
        name,
        spec.kind,
        doc,
        (entity_param(ctx),),
        "None",
        declared=True,
        shape=SHAPE,
        write=True,
        consts=("_UPSERT",),
    )
