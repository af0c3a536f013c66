"""``versioned_append``: append with ``version`` = max + 1 within ``scope``.

The version is computed in the INSERT; a unique index on (scope...,
version) backs it, and a concurrent writer that computed the same version
hits it and the method retries (the ``entity`` shape: the written row).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from codegen.ir import DIALECTS, PLACEHOLDER, Dialect, MethodIR, SqlConst, quote
from codegen.kinds._common import bind_tuple, entity_param, field_of
from codegen.methods import Context, bind_value
from codegen.shapes import Shape
from codegen.spec_types import Identifier, MethodBase, SpecError

SHAPE: Shape = "entity"


class VersionedAppendMethod(MethodBase):
    """``version``: the int field numbering versions; ``scope``: counted within."""

    kind: Literal["versioned_append"]
    version: Identifier | None = None
    scope: list[Identifier] = Field(default_factory=list)


Spec = VersionedAppendMethod


def build(
    ctx: Context, name: str, spec: Spec, path: str, const: str, doc: str
) -> MethodIR:
    if (
        spec.version is None
        or spec.version not in ctx.fields
        or ctx.fields[spec.version].kind != "int"
    ):
        raise SpecError(
            ctx.file, f"{path}.version", "name the int field that numbers versions"
        )
    if not spec.scope:
        raise SpecError(
            ctx.file, f"{path}.scope", "name the fields versions are counted within"
        )
    scope = [field_of(ctx, n, f"{path}.scope[{i}]") for i, n in enumerate(spec.scope)]
    version = ctx.fields[spec.version]
    others = [f for f in ctx.fields.values() if f is not version]
    t = quote(ctx.table)
    index = f"ux_{ctx.table}_{'_'.join(spec.scope)}_{spec.version}"
    if frozenset([*spec.scope, spec.version]) not in ctx.unique_names:
        raise SpecError(
            ctx.file,
            "indexes",
            f"versioned_append needs a unique index on {[*spec.scope, spec.version]} "
            f"(declare it, e.g. name: {index})",
        )
    names = ", ".join([*(f.column for f in others), version.column])
    binds: dict[Dialect, str] = {}
    for d in DIALECTS:
        ph = PLACEHOLDER[d]
        where = " AND ".join(f"{f.column} = {ph}" for f in scope)
        ctx.consts[d].append(
            SqlConst(
                name=const,
                sql=f"INSERT INTO {t} ({names}) "
                f"SELECT {', '.join(ph for _ in others)}, "
                f"COALESCE(MAX({version.column}), 0) + 1 FROM {t} WHERE {where} "
                f"RETURNING {ctx.columns}",
            )
        )
        parts = [bind_value(f, f"entity.{f.name}", d, f.optional) for f in others]
        parts += [bind_value(f, f"entity.{f.name}", d) for f in scope]
        binds[d] = bind_tuple(parts)
    ctx.paths.append((tuple(spec.scope), (spec.version,)))
    return MethodIR(
        name,
        spec.kind,
        doc,
        (entity_param(ctx),),
        ctx.name,
        declared=True,
        shape=SHAPE,
        write=True,
        consts=(const,),
        result=spec.version,
        binds=binds,
        extra=(ctx.unique_names[frozenset([*spec.scope, spec.version])],),
    )
