"""The ``iter_<name>`` sibling of a paged list method: its keyset statement and IR.

Every list method (``kind: list``, ``list_items``, ``query``) gets a sibling
that streams the same rows in the same order, a batch at a time (the runtime
is :mod:`synthorg.persistence.keyset`). It takes the method's filter
arguments minus ``limit``/``offset`` plus a keyword ``batch_size``, and adds
one :class:`~codegen.ir.SqlConst` per dialect: the statement's parts and the
ordering's columns, from which the runtime builds each continuation.
Continuing after the last row is exact only when the ordering (with the
method's equality filters) covers a unique set of NOT NULL fields: a unique
nullable field admits many NULLs, so that is refused here.
"""

from __future__ import annotations

from codegen.dialects import support
from codegen.ir import DIALECTS, Dialect, MethodIR, ParamIR, SqlConst
from codegen.methods import Context
from codegen.spec_types import SpecError

BATCH_SIZE = ParamIR(
    name="batch_size",
    annotation="int",
    default="DEFAULT_BATCH_SIZE",
    uses={d: frozenset({support("DEFAULT_BATCH_SIZE")}) for d in DIALECTS},
)


def stream_method(
    ctx: Context,
    base: MethodIR,
    order: tuple[tuple[str, bool], ...],
    conditions: dict[Dialect, tuple[str, ...]],
    always: dict[Dialect, tuple[str, ...]],
    *,
    binds: dict[str, str] | None = None,
    equal: tuple[str, ...] = (),
    path: str = "",
) -> MethodIR:
    """The ``iter_`` sibling of ``base`` (already built, ``order`` its ordering).

    ``conditions`` are the optional filters of a filter-spec query (the mask
    chooses), ``always`` the conditions every statement carries and
    ``binds`` their bound tuple per dialect (None: a filter-spec query binds
    what its mask chose); ``equal`` the fields the method's filters fix (they
    count towards uniqueness).
    """
    where = f"{path}.order" if path else "repository.order"
    for name, _ in order:
        if ctx.fields[name].kind in ("json", "list[str]", "list[int]", "list[json]"):
            raise SpecError(
                ctx.file, where, f"cannot order by {name!r}, a {ctx.fields[name].kind}"
            )
    names = {name for name, _ in order}
    sure = frozenset(
        name
        for name in (*names, *equal)
        if name in ctx.fields and not ctx.fields[name].optional
    )
    if not ctx.is_unique(sure):
        raise SpecError(
            ctx.file,
            where,
            f"ordering {[('-' if d else '') + n for n, d in order]} must end in a "
            "unique set of NOT NULL fields: a unique nullable field admits many "
            "NULLs, so pages (and iter_ batches) would not be deterministic",
        )
    columns = list(ctx.fields)
    keys = tuple(
        (ctx.fields[name].column, columns.index(name), desc, ctx.fields[name].optional)
        for name, desc in order
    )
    const = f"_K_{base.name.upper()}"
    order_sql = ctx.order_sql(order)
    for d, dialect in DIALECTS.items():
        ctx.consts[d].append(
            SqlConst(
                name=const,
                prefix=ctx.select,
                conditions=conditions[d],
                suffix=f" ORDER BY {order_sql} LIMIT {dialect.placeholder}",
                always=always[d],
                keys=keys,
                placeholder=dialect.placeholder,
                nulls_high=dialect.nulls_sort_high,
            )
        )
    params = tuple(p for p in base.params if p.name not in ("limit", "offset"))
    order_text = ", ".join(f"{n} desc" if d else n for n, d in order)
    doc = (
        f"Every row of ``{base.name}`` in its order ({order_text}), read "
        "``batch_size`` rows at a time: memory stays flat. Not a snapshot: a "
        "row present throughout whose ordering columns do not change is "
        "yielded exactly once, none twice."
    )
    return MethodIR(
        f"iter_{base.name}",
        base.kind,
        doc,
        (*params, BATCH_SIZE),
        f"AsyncIterator[{ctx.name}]",
        declared=base.declared,
        shape="stream",
        mask=base.mask,
        consts=(const,),
        binds=binds or {},
    )
