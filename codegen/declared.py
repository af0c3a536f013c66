"""Declared method kinds: ``repository.methods.<name>`` -> :class:`MethodIR`.

Every kind here is one SQL statement per dialect (``upsert_outcome`` on
SQLite is the one two-statement transaction), so the atomicity a method
promises is the database's, not Python's. Parameters come from ``by``
(equality), ``set`` (written values) and ``where`` (extra predicates), in
that order; bound values always travel as parameters, while literals in
conditions come from the validated spec.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from codegen.ir import (
    DIALECTS,
    PLACEHOLDER,
    Dialect,
    FieldIR,
    MethodIR,
    ParamIR,
    SqlConst,
    quote,
    sql_literal,
)
from codegen.methods import LIMIT, Context, _bind, _key_where, _paging, _param, _suffix
from codegen.spec import ConditionSpec, MethodSpec, SpecError

OPS = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def literal(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return sql_literal(value)


@dataclass
class Parts:
    """Conditions, parameters and bindings gathered from a declaration."""

    conds: dict[Dialect, list[str]] = field(
        default_factory=lambda: {d: [] for d in DIALECTS}
    )
    binds: dict[Dialect, list[str]] = field(
        default_factory=lambda: {d: [] for d in DIALECTS}
    )
    params: list[ParamIR] = field(default_factory=list)

    def add_param(self, param: ParamIR) -> None:
        if all(p.name != param.name for p in self.params):
            self.params.append(param)

    def where(self, dialect: Dialect, extra: tuple[str, ...] = ()) -> str:
        conds = [*self.conds[dialect], *extra]
        return f" WHERE {' AND '.join(conds)}" if conds else ""


def _field(ctx: Context, name: str, path: str) -> FieldIR:
    if name not in ctx.fields:
        raise SpecError(ctx.file, path, f"unknown field {name!r}")
    return ctx.fields[name]


def _value_bind(f: FieldIR, expr: str, dialect: Dialect) -> str:
    return f.codec(dialect).encode_expr(expr, False)


def _by(ctx: Context, spec: MethodSpec, path: str, parts: Parts) -> None:
    for name in spec.params:
        if name not in spec.by:
            raise SpecError(
                ctx.file,
                f"{path}.params.{name}",
                f"renames a parameter, but {name!r} is not in 'by'",
            )
    for i, name in enumerate(spec.by):
        f = _field(ctx, name, f"{path}.by[{i}]")
        param = _param(f, spec.params.get(name, name))
        parts.add_param(param)
        for d in DIALECTS:
            parts.conds[d].append(f"{f.column} = {PLACEHOLDER[d]}")
            parts.binds[d].append(param.bind(d))


def _condition(ctx: Context, c: ConditionSpec, path: str, parts: Parts) -> None:
    f = _field(ctx, c.field, f"{path}.field")
    if c.op in ("is_null", "not_null"):
        for d in DIALECTS:
            parts.conds[d].append(
                f"{f.column} IS {'NOT ' if c.op == 'not_null' else ''}NULL"
            )
        return
    given = [c.value is not None, c.param is not None, c.now]
    if sum(given) != 1:
        raise SpecError(ctx.file, path, "give exactly one of 'value', 'param' or 'now'")
    if c.value is not None:
        for d in DIALECTS:
            parts.conds[d].append(f"{f.column} {OPS[c.op]} {literal(c.value)}")
        return
    if (c.ago is not None or c.now) and f.kind != "datetime":
        raise SpecError(ctx.file, path, "'ago' and 'now' compare a datetime field")
    if c.param is not None and c.ago is not None:
        param = ParamIR(name=c.param, annotation="int")
        label = f"{ctx.table}.{c.param}"
        expr = f'before_now({c.ago!r}, {c.param}, "{label}")'
    elif c.param is not None:
        param = _param(f, c.param)
        expr = ""
    else:
        param = None
        expr = "utc_now()"
    if param is not None:
        parts.add_param(param)
    for d in DIALECTS:
        parts.conds[d].append(f"{f.column} {OPS[c.op]} {PLACEHOLDER[d]}")
        parts.binds[d].append(
            _value_bind(f, expr, d) if expr else param.bind(d) if param else ""
        )


def _where(ctx: Context, spec: MethodSpec, path: str, parts: Parts) -> None:
    for i, c in enumerate(spec.where):
        _condition(ctx, c, f"{path}.where[{i}]", parts)


def _tuple(binds: list[str]) -> str:
    if not binds:
        return "()"
    return "(" + ", ".join(binds) + ("," if len(binds) == 1 else "") + ")"


def _explicit(parts: Parts, extra: tuple[str, ...] = ()) -> dict[str, str]:
    return {d: _tuple([*parts.binds[d], *extra]) for d in DIALECTS}


def _order_of(
    ctx: Context, spec: MethodSpec, path: str
) -> tuple[tuple[str, bool], ...]:
    if not spec.order:
        return ctx.order
    order = tuple((item.lstrip("-"), item.startswith("-")) for item in spec.order)
    for i, (name, _) in enumerate(order):
        _field(ctx, name, f"{path}.order[{i}]")
    # Rows share the 'by' values, so they count towards uniqueness.
    if not ctx.is_unique(frozenset([*spec.by, *(n for n, _ in order)])):
        raise SpecError(
            ctx.file,
            f"{path}.order",
            f"ordering {spec.order} must end in a unique key so pages are "
            "deterministic",
        )
    return order


def _eq_fields(ctx: Context, spec: MethodSpec) -> tuple[str, ...]:
    eq = [*spec.by]
    eq += [c.field for c in spec.where if c.op == "eq" and c.field not in eq]
    return tuple(eq)


def declared_method(ctx: Context, name: str, spec: MethodSpec) -> MethodIR:
    """The IR of ``repository.methods.<name>``."""
    path = f"repository.methods.{name}"
    const = f"_M_{name.upper()}"
    doc = spec.description or f"{name} ({spec.kind})."
    builders = {
        "lookup": _lookup,
        "first": _first,
        "list": _list,
        "count": _count,
        "keyset": _keyset,
        "delete": _delete,
        "update": _update,
        "insert": _insert,
        "update_entity": _update_entity,
        "upsert": _upsert,
        "upsert_outcome": _upsert_outcome,
        "compare_and_set": _compare_and_set,
        "aggregate": _aggregate,
        "increment": _increment,
        "versioned_append": _versioned_append,
    }
    if spec.kind == "custom":
        return _custom(ctx, name, spec, path, doc)
    return builders[spec.kind](ctx, name, spec, path, const, doc)


def _read_parts(ctx: Context, spec: MethodSpec, path: str) -> Parts:
    parts = Parts()
    _by(ctx, spec, path, parts)
    _where(ctx, spec, path, parts)
    return parts


def _lookup(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    if not spec.by:
        raise SpecError(ctx.file, f"{path}.by", "a lookup method needs 'by' fields")
    if not ctx.is_unique(frozenset(spec.by)):
        raise SpecError(
            ctx.file,
            f"{path}.by",
            f"{spec.by} is not unique: declare a unique field or index, "
            "or use a 'first' or 'list' method",
        )
    parts = _read_parts(ctx, spec, path)
    ctx.add(const, **{d: f"{ctx.select}{parts.where(d)}" for d in DIALECTS})
    ctx.paths.append((_eq_fields(ctx, spec), ()))
    return MethodIR(
        name,
        "one",
        doc,
        tuple(parts.params),
        f"{ctx.name} | None",
        declared=True,
        consts=(const,),
        binds=_explicit(parts),
    )


def _first(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    """The first row in ``order`` among rows matching the set optional params."""
    parts = _read_parts(ctx, spec, path)
    order = _order_of(ctx, spec, path)
    optional: list[FieldIR] = []
    for i, fname in enumerate(spec.optional):
        optional.append(_field(ctx, fname, f"{path}.optional[{i}]"))
    for f in optional:
        parts.add_param(_param(f, f.name, optional=True))
    for d in DIALECTS:
        ctx.consts[d].append(
            SqlConst(
                name=const,
                prefix=ctx.select,
                conditions=tuple(f"{f.column} = {PLACEHOLDER[d]}" for f in optional),
                suffix=f" ORDER BY {ctx.order_sql(order)} LIMIT 1",
                always=tuple(parts.conds[d]) + ctx.exclude,
                require_any=spec.require_any and bool(optional),
            )
        )
    for f in optional:
        ctx.paths.append(((*_eq_fields(ctx, spec), f.name), ctx.order_path(order)))
    if not (optional and spec.require_any):  # the unfiltered variant runs too
        ctx.paths.append((_eq_fields(ctx, spec), ctx.order_path(order)))
    guards: tuple[str, ...] = ()
    if spec.require_any and optional:
        names = " and ".join(f"{f.name} is None" for f in optional)
        wanted = " or ".join(f.name for f in optional)
        guards = (
            f"if {names}:\n"
            f"    raise InvalidValueError({('give at least one of ' + wanted)!r}, "
            f'field="{ctx.table}.{optional[0].name}")',
        )
    fixed = _explicit(parts)
    return MethodIR(
        name,
        "first",
        doc,
        tuple(parts.params),
        f"{ctx.name} | None",
        declared=True,
        consts=(const,),
        binds=fixed,
        guards=guards,
        mask_params=tuple(f.name for f in optional),
    )


def _list(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    parts = _read_parts(ctx, spec, path)
    order = _order_of(ctx, spec, path)
    order_sql = ctx.order_sql(order)
    ctx.add(
        const,
        **{
            d: f"{ctx.select}{parts.where(d, ctx.exclude)} ORDER BY {order_sql}"
            + _suffix(spec.paged, d)
            for d in DIALECTS
        },
    )
    eq = _eq_fields(ctx, spec)
    ranged = [c.field for c in spec.where if c.op in ("lt", "le", "gt", "ge")]
    ordering = ctx.order_path(order)
    names = [n.lstrip("-") for n in ordering]
    if ranged and ranged[0] not in names:
        ordering = (ranged[0], *ordering)  # the range column leads the ordering
    ctx.paths.append((eq, ordering))
    paging = tuple(p.name for p in _paging(spec.paged))
    return MethodIR(
        name,
        "many",
        doc,
        tuple(parts.params) + _paging(spec.paged),
        f"tuple[{ctx.name}, ...]",
        declared=True,
        paged=spec.paged,
        consts=(const,),
        binds=_explicit(parts, paging),
    )


def _count(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    parts = _read_parts(ctx, spec, path)
    t = quote(ctx.table)
    ctx.add(const, **{d: f"SELECT COUNT(*) FROM {t}{parts.where(d)}" for d in DIALECTS})
    ctx.paths.append((_eq_fields(ctx, spec), ()))
    return MethodIR(
        name,
        "scalar",
        doc,
        tuple(parts.params),
        "int",
        declared=True,
        consts=(const,),
        binds=_explicit(parts),
    )


def _keyset(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
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
    direction = "before" if spec.descending else "after"
    param = _param(after, f"{direction}_{spec.after}", optional=True)
    first, nxt = f"{const}_FIRST", f"{const}_AFTER"
    order = f"{after.column} DESC" if spec.descending else after.column
    op = "<" if spec.descending else ">"
    ctx.add(
        first,
        **{
            d: f"{ctx.select}{ctx.where([])} ORDER BY {order}" + _suffix("limit", d)
            for d in DIALECTS
        },
    )
    ctx.add(
        nxt,
        **{
            d: f"{ctx.select}{ctx.where([f'{after.column} {op} {PLACEHOLDER[d]}'])} "
            f"ORDER BY {order}" + _suffix("limit", d)
            for d in DIALECTS
        },
    )
    ctx.paths.append(((), (spec.after,)))
    checked = after.arg_check(param.name, f"{ctx.table}.{param.name}")
    bind = {d: _bind(after, checked, d) for d in DIALECTS}
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
        binds=bind,
    )


def _affect_result(ctx: Context, spec: MethodSpec, unique: bool) -> str:
    if spec.kind == "update":
        return spec.returns
    return "bool" if unique else "int"


def _positive_guard(
    ctx: Context, spec: MethodSpec, path: str, parts: Parts, result: str
) -> tuple[str, ...]:
    if spec.skip_unless_positive is None:
        return ()
    if all(p.name != spec.skip_unless_positive for p in parts.params):
        raise SpecError(
            ctx.file,
            f"{path}.skip_unless_positive",
            f"{spec.skip_unless_positive!r} is not a parameter of the method",
        )
    empty = "False" if result == "bool" else "0"
    return (f"if {spec.skip_unless_positive} <= 0:\n    return {empty}",)


def _delete(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    if not spec.by and not spec.where:
        raise SpecError(ctx.file, path, "a delete method needs 'by' or 'where'")
    parts = _read_parts(ctx, spec, path)
    t = quote(ctx.table)
    ctx.paths.append(
        (
            _eq_fields(ctx, spec),
            tuple(c.field for c in spec.where if c.op in ("lt", "le", "gt", "ge")),
        )
    )
    if spec.returning is not None:
        returned = _field(ctx, spec.returning, f"{path}.returning")
        ctx.add(
            const,
            **{
                d: f"DELETE FROM {t}{parts.where(d)} RETURNING {returned.column}"
                for d in DIALECTS
            },
        )
        base = returned.annotation.removesuffix(" | None")
        return MethodIR(
            name,
            "affect",
            doc,
            tuple(parts.params),
            f"tuple[{base}, ...]",
            declared=True,
            write=True,
            consts=(const,),
            result="scalars",
            binds=_explicit(parts),
        )
    result = _affect_result(ctx, spec, ctx.is_unique(frozenset(spec.by)))
    ctx.add(
        const,
        **{
            d: f"DELETE FROM {t}{parts.where(d)}{DIALECTS[d].count_returning}"
            for d in DIALECTS
        },
    )
    return MethodIR(
        name,
        "affect",
        doc,
        tuple(parts.params),
        result,
        declared=True,
        write=True,
        consts=(const,),
        result=result,
        binds=_explicit(parts),
        guards=_positive_guard(ctx, spec, path, parts, result),
    )


def _update(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    """UPDATE the ``set`` columns of the rows matching ``by`` and ``where``."""
    if not spec.set:
        raise SpecError(
            ctx.file, f"{path}.set", "an update method sets at least one field"
        )
    parts = Parts()
    _by(ctx, spec, path, parts)
    sets: dict[Dialect, list[str]] = {d: [] for d in DIALECTS}
    set_binds: dict[Dialect, list[str]] = {d: [] for d in DIALECTS}
    guards: list[str] = []
    for fname, entry in spec.set.items():
        f = _field(ctx, fname, f"{path}.set.{fname}")
        if sum([entry.param is not None, entry.value is not None, entry.now]) != 1:
            raise SpecError(
                ctx.file,
                f"{path}.set.{fname}",
                "give exactly one of 'param', 'value' or 'now'",
            )
        for d in DIALECTS:
            if entry.value is not None:
                sets[d].append(f"{f.column} = {literal(entry.value)}")
                continue
            sets[d].append(f"{f.column} = {PLACEHOLDER[d]}")
            if entry.now:
                set_binds[d].append(_value_bind(f, "utc_now()", d))
            else:
                assert entry.param is not None
                checked = f.arg_check(entry.param, f"{ctx.table}.{entry.param}")
                bind = _bind(f, checked, d)
                if f.optional:
                    bind = f"None if {entry.param} is None else {bind}"
                set_binds[d].append(bind)
        if entry.param is not None:
            param = _param(f, entry.param, optional=False)
            if f.optional:
                param = ParamIR(
                    name=entry.param,
                    annotation=f.annotation,
                    binds={d: set_binds[d][-1] for d in DIALECTS},
                )
            parts.add_param(param)
            if entry.allowed:
                values = ", ".join(repr(v) for v in entry.allowed)
                message = f"{fname} must be one of {values}"
                guards.append(
                    f"if {entry.param} not in ({values},):\n"
                    f"    raise InvalidValueError({message!r}, "
                    f'field="{ctx.table}.{entry.param}")'
                )
    _where(ctx, spec, path, parts)
    t = quote(ctx.table)
    for d in DIALECTS:
        returning = DIALECTS[d].count_returning
        ctx.consts[d].append(
            SqlConst(
                name=const,
                sql=f"UPDATE {t} SET {', '.join(sets[d])}{parts.where(d)}{returning}",
            )
        )
    ctx.paths.append((_eq_fields(ctx, spec), ()))
    binds = {d: _tuple([*set_binds[d], *parts.binds[d]]) for d in DIALECTS}
    result = spec.returns
    return MethodIR(
        name,
        "affect",
        doc,
        tuple(parts.params),
        result,
        declared=True,
        write=True,
        consts=(const,),
        result=result,
        binds=binds,
        guards=tuple(guards),
    )


def _update_binds(ctx: Context, dialect: Dialect) -> list[str]:
    """Binds of ``UPDATE ... SET <non-key> = ... WHERE <key> = ...`` from ``entity``."""
    non_key = [f for f in ctx.fields.values() if f not in ctx.key]
    parts = [_bind(f, f"entity.{f.name}", dialect, f.optional) for f in non_key]
    parts += [_bind(f, f"entity.{f.name}", dialect) for f in ctx.key]
    return parts


def _entity_param(ctx: Context) -> ParamIR:
    return ParamIR(name="entity", annotation=ctx.name)


def _insert(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    """A strict create: DuplicateRecordError when the key exists."""
    cols = list(ctx.fields.values())
    t = quote(ctx.table)
    ctx.add(
        const,
        **{
            d: f"INSERT INTO {t} ({ctx.columns}) "
            f"VALUES ({', '.join(PLACEHOLDER[d] for _ in cols)})"
            for d in DIALECTS
        },
    )
    return MethodIR(
        name,
        "save",
        doc,
        (_entity_param(ctx),),
        "None",
        declared=True,
        write=True,
        consts=(const,),
    )


def _update_entity(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    """A strict update: RecordNotFoundError when the key is absent."""
    t = quote(ctx.table)
    non_key = [f for f in ctx.fields.values() if f not in ctx.key]
    binds: dict[Dialect, str] = {}
    for d in DIALECTS:
        ph = PLACEHOLDER[d]
        sets = ", ".join(f"{f.column} = {ph}" for f in non_key)
        returning = DIALECTS[d].count_returning
        ctx.consts[d].append(
            SqlConst(
                name=const,
                sql=f"UPDATE {t} SET {sets} WHERE {_key_where(ctx, d)}{returning}",
            )
        )
        parts = _update_binds(ctx, d)
        binds[d] = _tuple(parts)
    return MethodIR(
        name,
        "update_entity",
        doc,
        (_entity_param(ctx),),
        "None",
        declared=True,
        write=True,
        consts=(const,),
        binds=binds,
    )


def _upsert(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    """An alias of ``save`` under the name the domain uses (``store``)."""
    if "id_keyed" not in ctx.kinds:
        raise SpecError(ctx.file, path, "upsert needs an id_keyed repository")
    return MethodIR(
        name,
        "save",
        doc,
        (_entity_param(ctx),),
        "None",
        declared=True,
        write=True,
        consts=("_UPSERT",),
    )


def _upsert_outcome(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    """Upsert returning True when the row was created, decided with the write."""
    if "id_keyed" not in ctx.kinds:
        raise SpecError(ctx.file, path, "upsert_outcome needs an id_keyed repository")
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
    update_const = _update_entity(
        ctx, f"{name}_update", spec, path, f"{const}_UPDATE", doc
    )
    ctx.consts["postgres"] = [
        c for c in ctx.consts["postgres"] if c.name != f"{const}_UPDATE"
    ]
    return MethodIR(
        name,
        "outcome",
        doc,
        (_entity_param(ctx),),
        "bool",
        declared=True,
        write=True,
        consts=(const, f"{const}_INSERT", f"{const}_UPDATE"),
        binds=update_const.binds,
    )


def _compare_and_set(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    """Write only if ``version`` still holds the expected value.

    ``expected=None`` upserts unconditionally; for str versions ``""``
    means the row must not exist yet.
    """
    if spec.version is None or spec.version not in ctx.fields:
        raise SpecError(
            ctx.file, f"{path}.version", "name the field that versions the row"
        )
    if "id_keyed" not in ctx.kinds:
        raise SpecError(ctx.file, path, "compare_and_set needs an id_keyed repository")
    version = ctx.fields[spec.version]
    if version.kind in (
        "json",
        "list[str]",
        "list[int]",
        "list[json]",
        "bytes",
        "float",
    ):
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
    )
    binds: dict[Dialect, str] = {}
    for d in DIALECTS:
        ph = PLACEHOLDER[d]
        values = ", ".join(ph for _ in cols)
        returning = DIALECTS[d].count_returning
        sets = ", ".join(f"{f.column} = {ph}" for f in non_key)
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
                sql=f"UPDATE {t} SET {sets} WHERE {_key_where(ctx, d)} "
                f"AND {version.column} = {ph}{returning}",
            )
        )
        parts = _update_binds(ctx, d)
        # "" marks "absent" for a text version: any other text must be storable.
        checked = version.arg_check(
            expected.name, f"{ctx.table}.{expected.name}", blank_ok=True
        )
        parts.append(_bind(version, checked, d))
        binds[d] = _tuple(parts)
    return MethodIR(
        name,
        "cas",
        doc,
        (_entity_param(ctx), expected),
        "bool",
        declared=True,
        write=True,
        consts=("_UPSERT", insert, update),
        result="empty_means_absent" if version.kind in ("str", "text") else "",
        binds=binds,
    )


def _aggregate(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    """SUM(sum) of the matching rows, refused when ``single`` has several values."""
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
    optional = [
        _field(ctx, n, f"{path}.optional[{i}]") for i, n in enumerate(spec.optional)
    ]
    params = tuple(_param(f, f.name, optional=True) for f in optional)
    total, single = ctx.fields[spec.sum].column, ctx.fields[spec.single].column
    distinct = {d: DIALECTS[d].string_agg(single) for d in DIALECTS}
    for d in DIALECTS:
        # One statement: the distinct probe and the SUM share one snapshot.
        ctx.consts[d].append(
            SqlConst(
                name=const,
                prefix=f"SELECT COUNT(DISTINCT {single}), {distinct[d]}, "
                f"COALESCE(SUM({total}), 0) FROM {quote(ctx.table)}",
                conditions=tuple(f"{f.column} = {PLACEHOLDER[d]}" for f in optional),
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
        mask_params=tuple(f.name for f in optional),
    )


def _increment(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    """Atomically add to ``sum`` of the keyed row, creating it on first use.

    The row's ``single`` field (a currency) is fixed by the first increment;
    a later one with another value changes nothing and raises
    MixedCurrencyAggregationError. Other fields must be ``datetime`` with
    ``default: now`` (stamped on every increment).
    """
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
        _param(key, key.name),
        _param(total, "amount"),
        _param(single, single.name),
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
        binds[d] = _tuple(
            [p.bind(d) for p in params]
            + [_value_bind(f, "utc_now()", d) for f in stamped]
        )
    return MethodIR(
        name,
        "increment",
        doc,
        params,
        total.annotation,
        declared=True,
        write=True,
        consts=(const,),
        result=single.name,
        binds=binds,
    )


def _versioned_append(
    ctx: Context, name: str, spec: MethodSpec, path: str, const: str, doc: str
) -> MethodIR:
    """Append with ``version`` = max + 1 within ``scope``, computed in the INSERT.

    A unique index on (scope..., version) backs it; a concurrent writer that
    computed the same version hits it and the method retries.
    """
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
    scope = [_field(ctx, n, f"{path}.scope[{i}]") for i, n in enumerate(spec.scope)]
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
        parts = [_bind(f, f"entity.{f.name}", d, f.optional) for f in others]
        parts += [_bind(f, f"entity.{f.name}", d) for f in scope]
        binds[d] = _tuple(parts)
    ctx.paths.append((tuple(spec.scope), (spec.version,)))
    return MethodIR(
        name,
        "versioned_append",
        doc,
        (_entity_param(ctx),),
        ctx.name,
        declared=True,
        write=True,
        consts=(const,),
        result=spec.version,
        binds=binds,
        extra=(ctx.unique_names[frozenset([*spec.scope, spec.version])],),
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
    if args.vararg or args.kwarg or args.posonlyargs or args.kwonlyargs:
        raise SpecError(
            ctx.file,
            f"{path}.signature",
            "use plain parameters after 'self' (no *args, **kwargs, / or *)",
        )
    if not args.args or args.args[0].arg != "self":
        raise SpecError(ctx.file, f"{path}.signature", "the first parameter is 'self'")
    positional = args.args[1:]
    if func.returns is None or any(a.annotation is None for a in positional):
        raise SpecError(
            ctx.file,
            f"{path}.signature",
            "annotate every parameter and the return type",
        )
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    params = [
        ParamIR(
            name=a.arg,
            annotation=ast.unparse(a.annotation) if a.annotation else "",
            default=ast.unparse(d) if d is not None else None,
        )
        for a, d in zip(positional, defaults, strict=True)
    ]
    return MethodIR(
        name,
        "custom",
        doc,
        tuple(params),
        ast.unparse(func.returns),
        declared=True,
        extra=tuple(spec.imports),
    )
