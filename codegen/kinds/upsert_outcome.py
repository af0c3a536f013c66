"""``upsert_outcome``: upsert returning True when the row was created.

PostgreSQL decides it in the write (``xmax = 0``); SQLite cannot tell the
two apart in one statement: insert-or-nothing, then update, inside one
``BEGIN IMMEDIATE`` transaction (the ``created`` decode of the value shape).
"""

from __future__ import annotations

from typing import Literal

from codegen.ir import MethodIR, SqlConst, quote
from codegen.kinds import update_entity
from codegen.kinds._common import entity_param, needs_id_keyed
from codegen.methods import Context
from codegen.shapes import Shape
from codegen.spec_types import MethodBase

SHAPE: Shape = "value"


class UpsertOutcomeMethod(MethodBase):
    """No keys beyond ``description``; needs an id_keyed repository."""

    kind: Literal["upsert_outcome"]


Spec = UpsertOutcomeMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    needs_id_keyed(ctx, path, "upsert_outcome")
    t = quote(ctx.table)
    cols = list(ctx.fields.values())
    non_key = [f for f in cols if f not in ctx.key]
    keys = ", ".join(f.column for f in ctx.key)
    update = ", ".join(f"{f.column} = excluded.{f.column}" for f in non_key)
    values = ", ".join("%s" for _ in cols)
    # PostgreSQL: xmax is 0 exactly for a row this statement inserted.
    postgres = (
        f"INSERT INTO {t} ({ctx.columns}) VALUES ({values}) "
        f"ON CONFLICT ({keys}) DO UPDATE SET {update} RETURNING (xmax = 0)"
    )
    # SQLite cannot tell the two apart in one statement: insert-or-nothing,
    # then update, inside one BEGIN IMMEDIATE transaction.
    insert = (
        f"INSERT INTO {t} ({ctx.columns}) VALUES ({', '.join('?' for _ in cols)}) "
        f"ON CONFLICT ({keys}) DO NOTHING RETURNING 1"
    )
    ctx.consts["postgres"].append(SqlConst(name=const, sql=postgres))
    ctx.consts["sqlite"].append(SqlConst(name=f"{const}_INSERT", sql=insert))
    update_const = update_entity.build(
        ctx, f"{name}_update", spec, path, f"{const}_UPDATE", doc
    )
    ctx.consts["postgres"] = [
        c for c in ctx.consts["postgres"] if c.name != f"{const}_UPDATE"
    ]
    return MethodIR(
        name,
        spec.kind,
        doc,
        (entity_param(ctx),),
        "bool",
        declared=True,
        shape=SHAPE,
        write=True,
        consts=(const, f"{const}_INSERT", f"{const}_UPDATE"),
        binds={"sqlite": update_const.binds["sqlite"], "postgres": "_params(entity)"},
        decode="created",
    )
