"""``increment``: atomically add to ``sum`` of the keyed row, creating it first.

The row's ``single`` field (a currency) is fixed by the first increment; a
later one with another value changes nothing and raises
MixedCurrencyAggregationError (the ``kept_total`` decode). Other fields must
be ``datetime`` with ``default: now`` (stamped on every increment).
"""

from __future__ import annotations

from typing import Literal

from codegen.dialects import support
from codegen.ir import DIALECTS, PLACEHOLDER, Dialect, MethodIR, SqlConst, quote
from codegen.kinds._common import bind_tuple, value_bind
from codegen.methods import Context, param_of
from codegen.shapes import Shape
from codegen.spec_types import Identifier, MethodBase, SpecError

SHAPE: Shape = "value"


class IncrementMethod(MethodBase):
    """``sum``: the int/float field to add to; ``single``: the fixed field."""

    kind: Literal["increment"]
    sum: Identifier | None = None
    single: Identifier | None = None


Spec = IncrementMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    if len(ctx.key) != 1 or "id_keyed" not in ctx.kinds:
        raise SpecError(
            ctx.file, path, "increment needs an id_keyed repository with one key"
        )
    if (
        spec.sum is None
        or spec.sum not in ctx.fields
        or ctx.fields[spec.sum].kind not in ("int", "float")
    ):
        raise SpecError(
            ctx.file, f"{path}.sum", "name the int or float field to add to"
        )
    if spec.single is None or spec.single not in ctx.fields:
        raise SpecError(
            ctx.file, f"{path}.single", "name the field every increment must match"
        )
    key, total, single = ctx.key[0], ctx.fields[spec.sum], ctx.fields[spec.single]
    stamped = [f for f in ctx.fields.values() if f not in (key, total, single)]
    for f in stamped:
        if f.kind != "datetime" or f.default_factory != "utc_now":
            raise SpecError(
                ctx.file,
                f"fields.{f.name}",
                "an increment table's other fields must be datetime with default: now",
            )
    cols = [key, total, single, *stamped]
    t = quote(ctx.table)
    names = ", ".join(f.column for f in cols)
    sets = ", ".join(
        [
            f"{total.column} = {t}.{total.column} + excluded.{total.column}",
            *(f"{f.column} = excluded.{f.column}" for f in stamped),
        ]
    )
    params = (
        param_of(key, key.name),
        param_of(total, "amount"),
        param_of(single, single.name),
    )
    binds: dict[Dialect, str] = {}
    for d in DIALECTS:
        ctx.consts[d].append(
            SqlConst(
                name=const,
                sql=f"INSERT INTO {t} ({names}) "
                f"VALUES ({', '.join(PLACEHOLDER[d] for _ in cols)}) "
                f"ON CONFLICT ({key.column}) DO UPDATE SET {sets} "
                f"WHERE {t}.{single.column} = excluded.{single.column} "
                f"RETURNING {total.column}",
            )
        )
        if stamped:
            ctx.uses.add(support("utc_now"))
        binds[d] = bind_tuple(
            [p.bind(d) for p in params]
            + [value_bind(f, "utc_now()", d) for f in stamped]
        )
    return MethodIR(
        name,
        spec.kind,
        doc,
        params,
        total.annotation,
        declared=True,
        shape=SHAPE,
        write=True,
        consts=(const,),
        result=single.name,
        binds=binds,
        decode="kept_total",
    )
