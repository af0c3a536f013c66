"""``compare_and_set``: write only if ``version`` still holds the expected value.

``expected=None`` upserts unconditionally; for str versions ``""`` means the
row must not exist yet. The statement is chosen per call (``variants``).
"""

from __future__ import annotations

from typing import Literal

from codegen.ir import (
    DIALECTS,
    PLACEHOLDER,
    Dialect,
    MethodIR,
    ParamIR,
    SqlConst,
    quote,
)
from codegen.kinds._common import bind_tuple, entity_param, needs_id_keyed, update_binds
from codegen.methods import Context, bind_value, field_uses, key_where
from codegen.shapes import Shape, Variant
from codegen.spec_types import Identifier, MethodBase, SpecError

SHAPE: Shape = "rowcount"
UNVERSIONABLE = ("json", "list[str]", "list[int]", "list[json]", "bytes", "float")


class CompareAndSetMethod(MethodBase):
    """``version``: the field that versions the row (id_keyed repositories)."""

    kind: Literal["compare_and_set"]
    version: Identifier | None = None


Spec = CompareAndSetMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    if spec.version is None or spec.version not in ctx.fields:
        raise SpecError(
            ctx.file, f"{path}.version", "name the field that versions the row"
        )
    needs_id_keyed(ctx, path, "compare_and_set")
    version = ctx.fields[spec.version]
    if version.kind in UNVERSIONABLE:
        raise SpecError(
            ctx.file, f"{path}.version", f"a {version.kind} field cannot version a row"
        )
    t = quote(ctx.table)
    cols = list(ctx.fields.values())
    non_key = [f for f in cols if f not in ctx.key]
    insert, update = f"{const}_INSERT", f"{const}_UPDATE"
    expected = ParamIR(
        name=f"expected_{spec.version}",
        annotation=version.annotation.removesuffix(" | None") + " | None",
        default="None",
        uses=field_uses(version, blank_ok=True),
    )
    # Only a text version has an "absent" marker (""), run as a strict insert.
    absent_marker = version.kind in ("str", "text")
    binds: dict[Dialect, str] = {}
    for d in DIALECTS:
        ph = PLACEHOLDER[d]
        values = ", ".join(ph for _ in cols)
        returning = DIALECTS[d].count_returning
        sets = ", ".join(f"{f.column} = {ph}" for f in non_key)
        if absent_marker:
            ctx.consts[d].append(
                SqlConst(
                    name=insert,
                    sql=f"INSERT INTO {t} ({ctx.columns}) VALUES ({values}) "
                    f"ON CONFLICT ({', '.join(f.column for f in ctx.key)}) "
                    f"DO NOTHING{returning}",
                )
            )
        ctx.consts[d].append(
            SqlConst(
                name=update,
                sql=f"UPDATE {t} SET {sets} WHERE {key_where(ctx, d)} "
                f"AND {version.column} = {ph}{returning}",
            )
        )
        parts = update_binds(ctx, d)
        # "" marks "absent" for a text version: any other text must be storable.
        checked = version.arg_check(
            expected.name, f"{ctx.table}.{expected.name}", blank_ok=True
        )
        parts.append(bind_value(version, checked, d))
        binds[d] = bind_tuple(parts)
    variants = [
        Variant(
            "_UPSERT",
            "entity",
            param=expected.name,
            equals="None",
            note="unconditional upsert",
            settled=True,
        )
    ]
    if absent_marker:
        variants.append(
            Variant(
                insert,
                "entity",
                param=expected.name,
                equals='""',
                note="first write: the row must not exist yet",
            )
        )
    variants.append(Variant(update, "bound"))
    return MethodIR(
        name,
        spec.kind,
        doc,
        (entity_param(ctx), expected),
        "bool",
        declared=True,
        shape=SHAPE,
        write=True,
        consts=("_UPSERT", insert, update) if absent_marker else ("_UPSERT", update),
        binds=binds,
        variants=tuple(variants),
    )
