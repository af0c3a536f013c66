"""Repository methods and their SQL, for both dialects, from one declaration.

Built-in methods come from the repository kinds (id_keyed, filtered_query,
append_only); declared methods from ``repository.methods``. Each becomes a
:class:`MethodIR` (signature, result shape, argument binding) plus the SQL
constants it uses in each dialect, and an *access path* (equality columns,
then ordering columns) from which :mod:`codegen.build` derives indexes so
every declared query is index-backed.
"""

from __future__ import annotations

import ast
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
from codegen.spec import MethodSpec, SpecError

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

    def where(self, conditions: list[str]) -> str:
        conditions = [*conditions, *self.exclude]
        return f" WHERE {' AND '.join(conditions)}" if conditions else ""

    def is_unique(self, names: set[str] | frozenset[str]) -> bool:
        return any(u <= names for u in self.unique_sets)


def _bind(f: FieldIR, value: str, dialect: Dialect, optional: bool = False) -> str:
    return f.codec(dialect).encode_expr(value, optional)


def _param(f: FieldIR, name: str, *, optional: bool = False) -> ParamIR:
    base = f.annotation.removesuffix(" | None")
    return ParamIR(
        name=name,
        annotation=f"{base} | None" if optional else base,
        default="None" if optional else None,
        sqlite_bind=_bind(f, name, "sqlite", optional),
        postgres_bind=_bind(f, name, "postgres", optional),
    )


def _key_params(ctx: Context, value: str) -> ParamIR:
    """``entity_id`` bound column by column (a tuple for composite keys)."""
    binds: dict[Dialect, str] = {}
    for dialect in DIALECTS:
        if len(ctx.key) == 1:
            binds[dialect] = _bind(ctx.key[0], value, dialect)
        else:
            binds[dialect] = ", ".join(
                _bind(f, f"{value}[{i}]", dialect) for i, f in enumerate(ctx.key)
            )
    return ParamIR(
        name=value,
        annotation=ctx.key_annotation,
        sqlite_bind=binds["sqlite"],
        postgres_bind=binds["postgres"],
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
    ctx.paths.append(((), tuple(n for n, _ in ctx.order)))

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
        ctx.add(
            "_DELETE",
            sqlite=f"DELETE FROM {t} WHERE {_key_where(ctx, 'sqlite')} RETURNING 1",
            postgres=f"DELETE FROM {t} WHERE {_key_where(ctx, 'postgres')}",
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
                "delete",
                "Delete by key; True when a row was deleted.",
                (key,),
                "bool",
                declared=False,
                write=True,
                consts=("_DELETE",),
                result="bool",
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
        tf = ctx.time_field
        assert tf is not None
        ctx.add(
            "_PURGE",
            sqlite=f"DELETE FROM {t} WHERE {tf.column} < ? RETURNING 1",
            postgres=f"DELETE FROM {t} WHERE {tf.column} < %s",
        )
        ctx.paths.append(((), (tf.name,)))
        threshold = ParamIR(
            name="threshold",
            annotation="AwareDatetime",
            sqlite_bind="dt_to_text(require_aware(threshold))",
            postgres_bind="require_aware(threshold)",
        )
        methods.append(
            MethodIR(
                "purge_before",
                "delete",
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
        for flt in ctx.filters:
            if flt.op == "eq":
                ctx.paths.append(((flt.field.name,), tuple(n for n, _ in ctx.order)))
    return methods


# ---------------------------------------------------------------- declared


def _fields(ctx: Context, names: list[str], path: str) -> list[FieldIR]:
    out: list[FieldIR] = []
    for i, name in enumerate(names):
        if name not in ctx.fields:
            raise SpecError(ctx.file, f"{path}[{i}]", f"unknown field {name!r}")
        out.append(ctx.fields[name])
    return out


def _order_of(
    ctx: Context, spec: MethodSpec, path: str
) -> tuple[tuple[str, bool], ...]:
    if not spec.order:
        return ctx.order
    order = tuple((item.lstrip("-"), item.startswith("-")) for item in spec.order)
    _fields(ctx, [n for n, _ in order], f"{path}.order")
    # Rows share the 'by' values, so they count towards uniqueness.
    if not ctx.is_unique(frozenset([*spec.by, *(n for n, _ in order)])):
        raise SpecError(
            ctx.file,
            f"{path}.order",
            f"ordering {spec.order} must end in a unique key so pages are "
            "deterministic",
        )
    return order


def declared_method(ctx: Context, name: str, spec: MethodSpec) -> MethodIR:
    """The IR of ``repository.methods.<name>``."""
    path = f"repository.methods.{name}"
    const = f"_M_{name.upper()}"
    t = quote(ctx.table)
    doc = spec.description or f"{name} ({spec.kind})."
    by = _fields(ctx, spec.by, f"{path}.by")
    for i, field_name in enumerate(spec.params):
        if field_name not in spec.by:
            raise SpecError(
                ctx.file,
                f"{path}.params.{field_name}",
                f"renames a parameter, but {field_name!r} is not in 'by'",
            )
        del i
    params = tuple(_param(f, spec.params.get(f.name, f.name)) for f in by)

    def eq(dialect: Dialect) -> list[str]:
        return [f"{f.column} = {PLACEHOLDER[dialect]}" for f in by]

    def eq_plain(dialect: Dialect) -> str:
        conditions = eq(dialect)
        return f" WHERE {' AND '.join(conditions)}" if conditions else ""

    needs_by = spec.kind in ("lookup", "list", "count", "delete")
    if needs_by and not by:
        raise SpecError(
            ctx.file, f"{path}.by", f"a {spec.kind} method needs 'by' fields"
        )

    if spec.kind == "lookup":
        if not ctx.is_unique(frozenset(spec.by)):
            raise SpecError(
                ctx.file,
                f"{path}.by",
                f"{spec.by} is not unique: declare a unique field or index, "
                "or use a 'list' method",
            )
        ctx.add(const, **{d: f"{ctx.select}{eq_plain(d)}" for d in DIALECTS})
        ctx.paths.append((tuple(spec.by), ()))
        return MethodIR(
            name,
            "one",
            doc,
            params,
            f"{ctx.name} | None",
            declared=True,
            consts=(const,),
        )

    if spec.kind == "list":
        order = _order_of(ctx, spec, path)
        order_sql = ctx.order_sql(order)
        ctx.add(
            const,
            **{
                d: f"{ctx.select}{ctx.where(eq(d))} ORDER BY {order_sql}"
                + _suffix(spec.paged, d)
                for d in DIALECTS
            },
        )
        ctx.paths.append((tuple(spec.by), tuple(n for n, _ in order)))
        return MethodIR(
            name,
            "many",
            doc,
            params + _paging(spec.paged),
            f"tuple[{ctx.name}, ...]",
            declared=True,
            paged=spec.paged,
            consts=(const,),
        )

    if spec.kind == "count":
        ctx.add(
            const, **{d: f"SELECT COUNT(*) FROM {t}{eq_plain(d)}" for d in DIALECTS}
        )
        ctx.paths.append((tuple(spec.by), ()))
        return MethodIR(
            name, "scalar", doc, params, "int", declared=True, consts=(const,)
        )

    if spec.kind == "keyset":
        if spec.after is None or spec.after not in ctx.fields:
            raise SpecError(
                ctx.file, f"{path}.after", "name the unique field to page after"
            )
        if not ctx.is_unique(frozenset({spec.after})):
            raise SpecError(
                ctx.file,
                f"{path}.after",
                f"{spec.after!r} must be unique so a cursor is unambiguous",
            )
        after = ctx.fields[spec.after]
        param = _param(after, f"after_{spec.after}", optional=True)
        first, nxt = f"{const}_FIRST", f"{const}_AFTER"
        ctx.add(
            first,
            **{
                d: f"{ctx.select}{ctx.where([])} ORDER BY {after.column}"
                + _suffix("limit", d)
                for d in DIALECTS
            },
        )
        ctx.add(
            nxt,
            **{
                d: f"{ctx.select}{ctx.where([f'{after.column} > {PLACEHOLDER[d]}'])} "
                f"ORDER BY {after.column}{_suffix('limit', d)}"
                for d in DIALECTS
            },
        )
        ctx.paths.append(((), (spec.after,)))
        return MethodIR(
            name,
            "keyset",
            doc,
            (param, LIMIT),
            f"tuple[{ctx.name}, ...]",
            declared=True,
            paged="limit",
            consts=(first, nxt),
            result=param.name,
        )

    if spec.kind == "delete":
        ctx.paths.append((tuple(spec.by), ()))
        if spec.returning is not None:
            returned = _fields(ctx, [spec.returning], f"{path}.returning")[0]
            ctx.add(
                const,
                **{
                    d: f"DELETE FROM {t}{eq_plain(d)} RETURNING {returned.column}"
                    for d in DIALECTS
                },
            )
            base = returned.annotation.removesuffix(" | None")
            return MethodIR(
                name,
                "delete",
                doc,
                params,
                f"tuple[{base}, ...]",
                declared=True,
                write=True,
                consts=(const,),
                result="scalars",
            )
        unique = ctx.is_unique(frozenset(spec.by))
        ctx.add(
            const,
            sqlite=f"DELETE FROM {t}{eq_plain('sqlite')} RETURNING 1",
            postgres=f"DELETE FROM {t}{eq_plain('postgres')}",
        )
        return MethodIR(
            name,
            "delete",
            doc,
            params,
            "bool" if unique else "int",
            declared=True,
            write=True,
            consts=(const,),
            result="bool" if unique else "int",
        )

    if spec.kind == "compare_and_set":
        return _compare_and_set(ctx, name, spec, path, const, doc)
    if spec.kind == "aggregate":
        return _aggregate(ctx, name, spec, path, const, doc)
    return _custom(ctx, name, spec, path, doc)


def _compare_and_set(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    if spec.version is None or spec.version not in ctx.fields:
        raise SpecError(
            ctx.file, f"{path}.version", "name the field that versions the row"
        )
    if "id_keyed" not in ctx.kinds:
        raise SpecError(ctx.file, path, "compare_and_set needs an id_keyed repository")
    version = ctx.fields[spec.version]
    if version.kind not in ("str", "text"):
        raise SpecError(
            ctx.file,
            f"{path}.version",
            "the version field must be a str ('' means: must not exist yet)",
        )
    t = quote(ctx.table)
    cols = list(ctx.fields.values())
    non_key = [f for f in cols if f not in ctx.key]
    insert, update = f"{const}_INSERT", f"{const}_UPDATE"
    for dialect in DIALECTS:
        ph = PLACEHOLDER[dialect]
        names = ", ".join(f.column for f in cols)
        values = ", ".join(ph for _ in cols)
        returning = " RETURNING 1" if dialect == "sqlite" else ""
        sets = ", ".join(f"{f.column} = {ph}" for f in non_key)
        ctx.consts[dialect].append(
            SqlConst(
                name=insert,
                sql=f"INSERT INTO {t} ({names}) VALUES ({values}) "
                f"ON CONFLICT ({', '.join(f.column for f in ctx.key)}) "
                f"DO NOTHING{returning}",
            )
        )
        ctx.consts[dialect].append(
            SqlConst(
                name=update,
                sql=f"UPDATE {t} SET {sets} WHERE {_key_where(ctx, dialect)} "
                f"AND {version.column} = {ph}{returning}",
            )
        )
    expected = ParamIR(
        name=f"expected_{spec.version}", annotation="str | None", default="None"
    )
    binds: dict[Dialect, str] = {}
    for dialect in DIALECTS:
        parts = [_bind(f, f"entity.{f.name}", dialect, f.optional) for f in non_key]
        parts += [_bind(f, f"entity.{f.name}", dialect) for f in ctx.key]
        binds[dialect] = ", ".join([*parts, expected.name])
    return MethodIR(
        name,
        "cas",
        doc,
        (ParamIR(name="entity", annotation=ctx.name), expected),
        "bool",
        declared=True,
        write=True,
        consts=("_UPSERT", insert, update),
        result=binds["sqlite"],
        extra=(binds["postgres"],),
    )


def _aggregate(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    if spec.sum is None or spec.sum not in ctx.fields:
        raise SpecError(ctx.file, f"{path}.sum", "name the numeric field to sum")
    if ctx.fields[spec.sum].kind not in ("int", "float"):
        raise SpecError(
            ctx.file, f"{path}.sum", "the summed field must be int or float"
        )
    if spec.single is None or spec.single not in ctx.fields:
        raise SpecError(
            ctx.file,
            f"{path}.single",
            "name the field that must hold one value across matched rows",
        )
    optional = _fields(ctx, spec.optional, f"{path}.optional")
    params = tuple(_param(f, f.name, optional=True) for f in optional)
    total, single = ctx.fields[spec.sum].column, ctx.fields[spec.single].column
    distinct = {
        "sqlite": f"GROUP_CONCAT(DISTINCT {single})",
        "postgres": f"STRING_AGG(DISTINCT {single}, ',' ORDER BY {single})",
    }
    for dialect in DIALECTS:
        # One statement: the distinct probe and the SUM share one snapshot.
        ctx.consts[dialect].append(
            SqlConst(
                name=const,
                prefix=f"SELECT COUNT(DISTINCT {single}), {distinct[dialect]}, "
                f"COALESCE(SUM({total}), 0) FROM {quote(ctx.table)}",
                conditions=tuple(
                    f"{f.column} = {PLACEHOLDER[dialect]}" for f in optional
                ),
            )
        )
    for f in optional:
        ctx.paths.append(((f.name,), ()))
    return MethodIR(
        name,
        "aggregate",
        doc,
        params,
        "float",
        declared=True,
        consts=(const,),
        result=spec.single,
    )


def _custom(ctx: Context, name: str, spec: MethodSpec, path: str, doc: str) -> MethodIR:
    if spec.signature is None:
        raise SpecError(
            ctx.file,
            f"{path}.signature",
            "a custom method declares its signature, e.g. "
            "'(self, items: Sequence[SettingRow]) -> bool'",
        )
    try:
        tree = ast.parse(f"async def {name}{spec.signature}: ...")
    except SyntaxError as exc:
        raise SpecError(
            ctx.file, f"{path}.signature", f"not a valid signature: {exc.msg}"
        ) from None
    func = tree.body[0]
    assert isinstance(func, ast.AsyncFunctionDef)
    args = func.args
    if (
        args.vararg
        or args.kwarg
        or args.posonlyargs
        or not args.args
        or args.args[0].arg != "self"
    ):
        raise SpecError(
            ctx.file,
            f"{path}.signature",
            "use plain parameters after 'self' (no *args, **kwargs or /)",
        )
    if func.returns is None or any(
        a.annotation is None for a in args.args[1:] + args.kwonlyargs
    ):
        raise SpecError(
            ctx.file,
            f"{path}.signature",
            "annotate every parameter and the return type",
        )
    positional = args.args[1:]
    defaults: list[ast.expr | None] = [None] * (
        len(positional) - len(args.defaults)
    ) + list(args.defaults)
    params = [
        ParamIR(
            name=a.arg,
            annotation=ast.unparse(a.annotation) if a.annotation else "",
            default=ast.unparse(d) if d is not None else None,
        )
        for a, d in zip(positional, defaults, strict=True)
    ]
    if args.kwonlyargs:
        raise SpecError(
            ctx.file, f"{path}.signature", "keyword-only parameters are not supported"
        )
    return MethodIR(
        name,
        "custom",
        doc,
        tuple(params),
        ast.unparse(func.returns),
        declared=True,
        extra=tuple(spec.imports),
    )
