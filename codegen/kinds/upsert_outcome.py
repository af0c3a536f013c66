"""``upsert_outcome``: upsert returning True when the row was created.

A dialect whose upsert can say it inserted (``Dialect.upsert_created_returning``:
PostgreSQL's ``xmax = 0``) decides it in the write; one that cannot (SQLite)
inserts-or-nothing, then updates, inside one transaction (the ``created``
decode of the value shape).
"""

from __future__ import annotations

from typing import Literal

from codegen.ir import DIALECTS, MethodIR, SqlConst, quote
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
    one_statement = {
        d for d, dialect in DIALECTS.items() if dialect.upsert_created_returning
    }
    for d, dialect in DIALECTS.items():
        values = ", ".join(dialect.placeholder for _ in cols)
        head = f"INSERT INTO {t} ({ctx.columns}) VALUES ({values}) ON CONFLICT ({keys})"
        if d in one_statement:  # the upsert itself says whether it inserted
            sql = f"{head} DO UPDATE SET {update}{dialect.upsert_created_returning}"
            ctx.consts[d].append(SqlConst(name=const, sql=sql))
        else:  # insert-or-nothing, then update, in one transaction
            sql = f"{head} DO NOTHING RETURNING 1"
            ctx.consts[d].append(SqlConst(name=f"{const}_INSERT", sql=sql))
    update_const = update_entity.build(
        ctx, f"{name}_update", spec, path, f"{const}_UPDATE", doc
    )
    for d in one_statement:
        ctx.consts[d] = [c for c in ctx.consts[d] if c.name != f"{const}_UPDATE"]
    binds = {
        d: "_params(entity)" if d in one_statement else update_const.binds[d]
        for d in DIALECTS
    }
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
        binds=binds,
        decode="created",
    )
