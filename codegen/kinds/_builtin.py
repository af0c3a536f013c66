"""The built-in methods of the repository kinds (id_keyed, append_only, ...).

``save``/``get``/``delete``/``list_items``/``save_many`` (id_keyed),
``append``/``append_many``/``purge_before`` (append_only) and
``query``/``count`` (filtered_query): their SQL in both dialects and their
IR; ``list_items`` and ``query`` each with an ``iter_`` sibling streaming
every row (:mod:`codegen.kinds._stream`). Each carries the kind it behaves
as (``get`` is a ``lookup`` by key, ``purge_before`` a ``delete``, ...) and
its result shape; the batch writes are the built-in kind ``bulk``, the
filter-spec reads ``query``/``count``.
"""

from __future__ import annotations

from codegen.dialects import support
from codegen.ir import (
    DIALECTS,
    PLACEHOLDER,
    Dialect,
    MethodIR,
    ParamIR,
    SqlConst,
    quote,
)
from codegen.kinds._stream import stream_method
from codegen.methods import Context, key_param, key_where, paging, paging_sql


def _bulk(ctx: Context, name: str, const: str, mode: str) -> MethodIR:
    """``save_many``/``append_many``: one transaction, batched on the wire.

    SQLite: ``executemany`` in one ``BEGIN IMMEDIATE`` transaction.
    PostgreSQL: ``COPY`` for inserts, pipelined ``executemany`` for upserts.
    A duplicate key rolls the whole batch back; ``_EXISTING`` (single keys)
    finds which keys already existed so the error can name them.
    """
    t = quote(ctx.table)
    non_key = [f for f in ctx.fields.values() if f not in ctx.key]
    update = ", ".join(f"{f.column} = excluded.{f.column}" for f in non_key)
    keys = ", ".join(f.column for f in ctx.key)
    conflict = f"DO UPDATE SET {update}" if update else "DO NOTHING"
    for d, dialect in DIALECTS.items():  # the dialect's own batch path
        have = {c.name for c in ctx.consts[d]}
        ctx.consts[d] += [
            SqlConst(name=n, sql=sql)
            for n, sql in dialect.bulk_statements(
                ctx.table, ctx.columns, keys, conflict, mode
            )
            if n not in have
        ]
    if len(ctx.key) == 1 and all(
        c.name != "_EXISTING" for consts in ctx.consts.values() for c in consts
    ):
        key = ctx.key[0].column
        ctx.add(
            "_EXISTING", **{d: DIALECTS[d].existing_keys_sql(t, key) for d in DIALECTS}
        )
    verb = "Insert" if mode == "insert" else "Upsert"
    doc = (
        f"{verb} every entity in one transaction: all or nothing; a duplicate "
        "key raises DuplicateRecordError naming it."
    )
    entities = ParamIR(name="entities", annotation=f"Sequence[{ctx.name}]")
    return MethodIR(
        name,
        "bulk",
        doc,
        (entities,),
        "None",
        declared=False,
        shape="batch",
        write=True,
        consts=(const,),
        result=mode,
    )


def builtin_methods(ctx: Context) -> list[MethodIR]:
    """The generic categories' methods, in a stable order."""
    methods: list[MethodIR] = []
    t = quote(ctx.table)
    cols = list(ctx.fields.values())
    names = ", ".join(f.column for f in cols)
    key_cols = ", ".join(f.column for f in ctx.key)
    entity = ParamIR(name="entity", annotation=ctx.name)
    order = ctx.order_sql(ctx.order)
    order_text = ", ".join(f"{n} desc" if d else n for n, d in ctx.order)
    ctx.paths.append(((), ctx.order_path(ctx.order)))

    def values(dialect: Dialect) -> str:
        return ", ".join(PLACEHOLDER[dialect] for _ in cols)

    if "id_keyed" in ctx.kinds:
        non_key = [f for f in cols if f not in ctx.key]
        update = ", ".join(f"{f.column} = excluded.{f.column}" for f in non_key)
        conflict = f"DO UPDATE SET {update}" if update else "DO NOTHING"
        ctx.add(
            "_UPSERT",
            **{
                d: f"INSERT INTO {t} ({names}) VALUES ({values(d)}) "
                f"ON CONFLICT ({key_cols}) {conflict}"
                for d in DIALECTS
            },
        )
        ctx.add(
            "_GET", **{d: f"{ctx.select} WHERE {key_where(ctx, d)}" for d in DIALECTS}
        )
        # Protected rows are never deleted; on a miss, _PROTECTED tells a
        # protected row (refused, named) from an absent one (False).
        spared = "".join(f" AND NOT ({pred})" for _, pred in ctx.protect)
        ctx.add(
            "_DELETE",
            **{
                d: f"DELETE FROM {t} WHERE {key_where(ctx, d)}{spared}"
                f"{DIALECTS[d].count_returning}"
                for d in DIALECTS
            },
        )
        protected = " OR ".join(f"({pred})" for _, pred in ctx.protect)
        if ctx.protect:
            ctx.add(
                "_PROTECTED",
                **{
                    d: f"SELECT 1 FROM {t} WHERE {key_where(ctx, d)} AND ({protected})"
                    for d in DIALECTS
                },
            )
        ctx.add(
            "_LIST",
            **{
                d: f"{ctx.select}{ctx.where([])} ORDER BY {order}"
                + paging_sql("limit_offset", d)
                for d in DIALECTS
            },
        )
        key = key_param(ctx, "entity_id")
        methods += [
            MethodIR(
                "save",
                "upsert",
                "Insert or update by key.",
                (entity,),
                "None",
                declared=False,
                shape="exec",
                write=True,
                consts=("_UPSERT",),
            ),
            MethodIR(
                "get",
                "lookup",
                "The entity with this key, or None.",
                (key,),
                f"{ctx.name} | None",
                declared=False,
                shape="one",
                consts=("_GET",),
            ),
            MethodIR(
                "delete",
                "delete",
                "Delete by key; True when a row was deleted."
                + (
                    " A protected row ("
                    + ", ".join(name for name, _ in ctx.protect)
                    + ") is refused with ConstraintViolationError, nothing deleted."
                    if ctx.protect
                    else ""
                ),
                (key,),
                "bool",
                declared=False,
                shape="rowcount",
                write=True,
                consts=("_DELETE", "_PROTECTED") if ctx.protect else ("_DELETE",),
                protect=tuple(name for name, _ in ctx.protect),
            ),
            MethodIR(
                "list_items",
                "list",
                f"One page ordered by {order_text}.",
                paging("limit_offset"),
                f"tuple[{ctx.name}, ...]",
                declared=False,
                shape="many",
                paged="limit_offset",
                consts=("_LIST",),
                stream="iter_list_items",
            ),
        ]
        methods.append(
            stream_method(
                ctx,
                methods[-1],
                ctx.order,
                {d: () for d in DIALECTS},
                {d: ctx.exclude for d in DIALECTS},
                binds={d: "()" for d in DIALECTS},
            )
        )
    if "id_keyed" in ctx.kinds:
        methods.append(_bulk(ctx, "save_many", "_UPSERT", "upsert"))
    if "append_only" in ctx.kinds:
        ctx.add(
            "_INSERT",
            **{d: f"INSERT INTO {t} ({names}) VALUES ({values(d)})" for d in DIALECTS},
        )
        methods.append(
            MethodIR(
                "append",
                "insert",
                "Insert; DuplicateRecordError if the key exists.",
                (entity,),
                "None",
                declared=False,
                shape="exec",
                write=True,
                consts=("_INSERT",),
            )
        )
        methods.append(_bulk(ctx, "append_many", "_INSERT", "insert"))
        tf = ctx.time_field
        assert tf is not None
        ctx.add(
            "_PURGE",
            **{
                d: f"DELETE FROM {t} WHERE {tf.column} < {PLACEHOLDER[d]}"
                f"{DIALECTS[d].count_returning}"
                for d in DIALECTS
            },
        )
        ctx.paths.append(((), (tf.name,)))
        threshold = ParamIR(
            name="threshold",
            annotation="AwareDatetime",
            binds={
                d: DIALECTS[d].time_bind.format(
                    v=f'arg_time(threshold, "{ctx.table}.threshold")'
                )
                for d in DIALECTS
            },
            uses={
                d: DIALECTS[d].time_bind_uses | {support("arg_time")} for d in DIALECTS
            },
        )
        methods.append(
            MethodIR(
                "purge_before",
                "delete",
                f"Delete rows whose {tf.name} is before ``threshold``; the count.",
                (threshold,),
                "int",
                declared=False,
                shape="rowcount",
                write=True,
                consts=("_PURGE",),
            )
        )
    if ctx.filters is not None and (
        "filtered_query" in ctx.kinds or "append_only" in ctx.kinds
    ):
        for dialect in DIALECTS:
            conditions = tuple(flt.condition(dialect) for flt in ctx.filters)
            ctx.consts[dialect].append(
                SqlConst(
                    name="_QUERY",
                    prefix=ctx.select,
                    conditions=conditions,
                    suffix=f" ORDER BY {order}{paging_sql('limit_offset', dialect)}",
                    always=ctx.exclude,
                )
            )
            if "filtered_query" in ctx.kinds:  # the count method below
                ctx.consts[dialect].append(
                    SqlConst(
                        name="_COUNT",
                        prefix=f"SELECT COUNT(*) FROM {t}",
                        conditions=conditions,
                        always=ctx.exclude,
                    )
                )
        spec = ParamIR(name="filter_spec", annotation=f"{ctx.name}FilterSpec")
        methods.append(
            MethodIR(
                "query",
                "query",
                f"One page of matches ordered by {order_text}.",
                (spec, *paging("limit_offset")),
                f"tuple[{ctx.name}, ...]",
                declared=False,
                shape="many",
                mask="filter_spec",
                paged="limit_offset",
                consts=("_QUERY",),
                stream="iter_query",
            )
        )
        methods.append(
            stream_method(
                ctx,
                methods[-1],
                ctx.order,
                {d: tuple(flt.condition(d) for flt in ctx.filters) for d in DIALECTS},
                {d: ctx.exclude for d in DIALECTS},
            )
        )
        if "filtered_query" in ctx.kinds:
            methods.append(
                MethodIR(
                    "count",
                    "count",
                    "The number of matches.",
                    (spec,),
                    "int",
                    declared=False,
                    shape="value",
                    mask="filter_spec",
                    decode="int",
                    consts=("_COUNT",),
                )
            )
        order_names = ctx.order_path(ctx.order)
        for flt in ctx.filters:
            if flt.op == "eq":
                ctx.paths.append(((flt.field.name,), order_names))
            else:  # a range: the field leads (in its ordering direction), then the rest
                name = flt.field.name
                lead = f"-{name}" if f"-{name}" in order_names else name
                rest = tuple(n for n in order_names if n.lstrip("-") != name)
                ctx.paths.append(((), (lead, *rest)))
    return methods
