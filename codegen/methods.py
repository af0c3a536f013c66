"""Repository methods and their SQL, for both dialects, from one declaration.

Built-in methods come from the repository kinds (id_keyed, filtered_query,
append_only); declared methods from ``repository.methods``. Each becomes a
:class:`MethodIR` (signature, result shape, argument binding) plus the SQL
constants it uses in each dialect, and an *access path* (equality columns,
then ordering columns) from which :mod:`codegen.build` derives indexes so
every declared query is index-backed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codegen.ir import (
    DIALECTS,
    PLACEHOLDER,
    Dialect,
    FieldIR,
    FilterIR,
    MethodIR,
    ParamIR,
    SqlConst,
    quote,
)

AccessPath = tuple[tuple[str, ...], tuple[str, ...]]  # (equality cols, order cols)


@dataclass
class Context:
    """What method building needs to know about the entity."""

    file: str
    name: str
    table: str
    fields: dict[str, FieldIR]
    key: tuple[FieldIR, ...]
    kinds: tuple[str, ...]
    filters: tuple[FilterIR, ...]
    order: tuple[tuple[str, bool], ...]
    time_field: FieldIR | None
    exclude: tuple[str, ...]  # SQL conditions every list statement carries
    unique_sets: tuple[frozenset[str], ...]
    key_annotation: str
    unique_names: dict[frozenset[str], str] = field(default_factory=dict)
    # Rows the generic delete refuses: (constraint token, SQL predicate).
    protect: tuple[tuple[str, str], ...] = ()
    consts: dict[Dialect, list[SqlConst]] = field(
        default_factory=lambda: {d: [] for d in DIALECTS}
    )
    paths: list[AccessPath] = field(default_factory=list)

    @property
    def columns(self) -> str:
        return ", ".join(f.column for f in self.fields.values())

    @property
    def select(self) -> str:
        return f"SELECT {self.columns} FROM {quote(self.table)}"

    def order_sql(self, order: tuple[tuple[str, bool], ...]) -> str:
        return ", ".join(
            f"{quote(name)} DESC" if desc else quote(name) for name, desc in order
        )

    def add(self, const_name: str, **per_dialect: SqlConst | str) -> str:
        for dialect in DIALECTS:
            value = per_dialect[dialect]
            if isinstance(value, str):
                value = SqlConst(name=const_name, sql=value)
            self.consts[dialect].append(value)
        return const_name

    @staticmethod
    def order_path(order: tuple[tuple[str, bool], ...]) -> tuple[str, ...]:
        """An ordering as access-path columns (``-name`` when descending)."""
        return tuple(("-" if desc else "") + name for name, desc in order)

    def where(self, conditions: list[str]) -> str:
        conditions = [*conditions, *self.exclude]
        return f" WHERE {' AND '.join(conditions)}" if conditions else ""

    def is_unique(self, names: set[str] | frozenset[str]) -> bool:
        return any(u <= names for u in self.unique_sets)


def _bind(f: FieldIR, value: str, dialect: Dialect, optional: bool = False) -> str:
    return f.codec(dialect).encode_expr(value, optional)


def _param(f: FieldIR, name: str, *, optional: bool = False) -> ParamIR:
    base = f.annotation.removesuffix(" | None")
    # An argument never went through a model: check it against the field's
    # domain (type, bounds, NUL, aware datetime in range...) before any SQL,
    # so both backends refuse the same values with InvalidValueError.
    value = f.arg_check(name, f"{f.owner}.{name}")
    binds = {d: _bind(f, value, d) for d in DIALECTS}
    if optional and any(b != name for b in binds.values()):
        binds = {d: f"None if {name} is None else {b}" for d, b in binds.items()}
    return ParamIR(
        name=name,
        annotation=f"{base} | None" if optional else base,
        default="None" if optional else None,
        binds=binds,
    )


def _key_params(ctx: Context, value: str) -> ParamIR:
    """``entity_id`` bound column by column (a tuple for composite keys)."""
    binds: dict[Dialect, str] = {}
    for dialect in DIALECTS:
        if len(ctx.key) == 1:
            f = ctx.key[0]
            checked = f.arg_check(value, f"{ctx.table}.{value}")
            binds[dialect] = _bind(f, checked, dialect)
        else:
            binds[dialect] = ", ".join(
                _bind(f, f.arg_check(f"{value}[{i}]", f"{ctx.table}.{f.name}"), dialect)
                for i, f in enumerate(ctx.key)
            )
    return ParamIR(
        name=value,
        annotation=ctx.key_annotation,
        binds=binds,
        arity=len(ctx.key),
    )


LIMIT = ParamIR(name="limit", annotation="int", default="DEFAULT_PAGE_SIZE")
OFFSET = ParamIR(name="offset", annotation="int", default="0")


def _paging(paged: str) -> tuple[ParamIR, ...]:
    return {"limit_offset": (LIMIT, OFFSET), "limit": (LIMIT,), "none": ()}[paged]


def _suffix(paged: str, dialect: Dialect) -> str:
    ph = PLACEHOLDER[dialect]
    return {
        "limit_offset": f" LIMIT {ph} OFFSET {ph}",
        "limit": f" LIMIT {ph}",
        "none": "",
    }[paged]


def _key_where(ctx: Context, dialect: Dialect) -> str:
    ph = PLACEHOLDER[dialect]
    return " AND ".join(f"{f.column} = {ph}" for f in ctx.key)


# ---------------------------------------------------------------- built-ins


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
            "_GET", **{d: f"{ctx.select} WHERE {_key_where(ctx, d)}" for d in DIALECTS}
        )
        # Protected rows are never deleted; on a miss, _PROTECTED tells a
        # protected row (refused, named) from an absent one (False).
        spared = "".join(f" AND NOT ({pred})" for _, pred in ctx.protect)
        ctx.add(
            "_DELETE",
            **{
                d: f"DELETE FROM {t} WHERE {_key_where(ctx, d)}{spared}"
                f"{DIALECTS[d].count_returning}"
                for d in DIALECTS
            },
        )
        protected = " OR ".join(f"({pred})" for _, pred in ctx.protect)
        if ctx.protect:
            ctx.add(
                "_PROTECTED",
                **{
                    d: f"SELECT 1 FROM {t} WHERE {_key_where(ctx, d)} AND ({protected})"
                    for d in DIALECTS
                },
            )
        ctx.add(
            "_LIST",
            **{
                d: f"{ctx.select}{ctx.where([])} ORDER BY {order}"
                + _suffix("limit_offset", d)
                for d in DIALECTS
            },
        )
        key = _key_params(ctx, "entity_id")
        methods += [
            MethodIR(
                "save",
                "save",
                "Insert or update by key.",
                (entity,),
                "None",
                declared=False,
                write=True,
                consts=("_UPSERT",),
            ),
            MethodIR(
                "get",
                "one",
                "The entity with this key, or None.",
                (key,),
                f"{ctx.name} | None",
                declared=False,
                consts=("_GET",),
            ),
            MethodIR(
                "delete",
                "affect",
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
                write=True,
                consts=("_DELETE", "_PROTECTED") if ctx.protect else ("_DELETE",),
                result="bool",
                extra=tuple(name for name, _ in ctx.protect),
            ),
            MethodIR(
                "list_items",
                "many",
                f"One page ordered by {order_text}.",
                _paging("limit_offset"),
                f"tuple[{ctx.name}, ...]",
                declared=False,
                paged="limit_offset",
                consts=("_LIST",),
            ),
        ]
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
                "save",
                "Insert; DuplicateRecordError if the key exists.",
                (entity,),
                "None",
                declared=False,
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
        )
        methods.append(
            MethodIR(
                "purge_before",
                "affect",
                f"Delete rows whose {tf.name} is before ``threshold``; the count.",
                (threshold,),
                "int",
                declared=False,
                write=True,
                consts=("_PURGE",),
                result="int",
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
                    suffix=f" ORDER BY {order}{_suffix('limit_offset', dialect)}",
                    always=ctx.exclude,
                )
            )
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
                (spec, *_paging("limit_offset")),
                f"tuple[{ctx.name}, ...]",
                declared=False,
                paged="limit_offset",
                consts=("_QUERY",),
            )
        )
        if "filtered_query" in ctx.kinds:
            methods.append(
                MethodIR(
                    "count",
                    "count_filtered",
                    "The number of matches.",
                    (spec,),
                    "int",
                    declared=False,
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
