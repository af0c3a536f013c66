"""Build stage: one entity spec into its :class:`~codegen.ir.EntityIR`.

Checks run in phases (fields; then everything that only needs the fields;
then the methods) and every phase reports all its errors at once, each with
a did-you-mean hint where one helps.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from codegen.build.ddl import ddl
from codegen.build.indexes import entity_indexes
from codegen.build.keys import foreign_keys, protect_predicate, sql_value
from codegen.build.query import entity_filters, entity_order, windows
from codegen.fields import build_field
from codegen.ir import DIALECTS, EntityIR, FieldIR, FilterIR, ForeignKeyIR, quote
from codegen.kinds import builtin_methods, declared_method
from codegen.methods import Context
from codegen.spec import (
    RESERVED_FIELD_NAMES,
    EntitySpec,
    MethodSpec,
    SpecError,
    did_you_mean,
    raise_all,
)


def check_field_name(file: str, path: str, name: str) -> None:
    if keyword.iskeyword(name):
        raise SpecError(
            file, path, f"{name!r} is a Python keyword; choose another name"
        )
    if name in RESERVED_FIELD_NAMES:
        raise SpecError(
            file,
            path,
            f"{name!r} is a pydantic BaseModel attribute; choose another name",
        )


UNKNOWN_FIELD = re.compile(r"^unknown field '([^']+)'$")
UNKNOWN_ENUM = re.compile(r"^unknown enum '([^']+)' \(known: (.*)\)$")
NOT_A_VALUE = re.compile(r"^'(.+)' is not a value of ([A-Za-z0-9]+)$")


def _hinted(
    error: SpecError, fields: Iterable[str], enums: dict[str, Any]
) -> SpecError:
    """``error`` with a did-you-mean for an unknown field, enum or enum value."""
    message = error.message
    if m := UNKNOWN_FIELD.match(message):
        message += did_you_mean(m.group(1), fields)
    elif m := UNKNOWN_ENUM.match(message):
        hint = did_you_mean(m.group(1), enums)
        message = f"unknown enum {m.group(1)!r}{hint} (known: {m.group(2)})"
    elif (m := NOT_A_VALUE.match(message)) and m.group(2) in enums:
        values = list(enums[m.group(2)].values)
        hint = did_you_mean(m.group(1), values)
        message += hint or f" (values: {', '.join(values)})"
    if message == error.message:
        return error
    return SpecError(error.file, error.path, message)


class _Collect:
    """Runs independent checks, keeping every SpecError (with hints)."""

    def __init__(self, fields: Iterable[str], enums: dict[str, Any]) -> None:
        self.fields = tuple(fields)
        self.enums = enums
        self.errors: list[SpecError] = []

    @contextmanager
    def step(self) -> Iterator[None]:
        try:
            yield
        except SpecError as exc:
            self.errors += [_hinted(e, self.fields, self.enums) for e in exc.errors]

    def raise_all(self) -> None:
        raise_all(self.errors)


def _method_fields(spec: MethodSpec) -> list[tuple[str, str]]:
    """(YAML path suffix, field name) of every field a declared method names."""
    return spec.field_refs()


def _literals(spec: EntitySpec) -> list[tuple[str, str, Any]]:
    """(YAML path, field, value) of every literal the spec compares a field with."""
    repo = spec.repository
    out: list[tuple[str, str, Any]] = [
        (f"repository.exclude.{n}", n, v) for n, v in repo.exclude.items()
    ]
    for pname, predicate in repo.protect.items():
        out += [(f"repository.protect.{pname}.{n}", n, v) for n, v in predicate.items()]
    for i, index in enumerate(spec.indexes):
        out += [(f"indexes[{i}].where.{n}", n, v) for n, v in index.where.items()]
    for mname, m in repo.methods.items():
        out += m.literals(f"repository.methods.{mname}")
    return out


def _repository_shape(
    collect: _Collect, file: str, spec: EntitySpec, fields: dict[str, FieldIR]
) -> tuple[tuple[str, ...], FieldIR | None]:
    """(kinds, time field) after checking the key, the kinds and what they need."""
    repo = spec.repository
    for i, name in enumerate(repo.key):
        with collect.step():
            if name not in fields:
                raise SpecError(file, f"repository.key[{i}]", f"unknown field {name!r}")
            if fields[name].optional:
                raise SpecError(
                    file,
                    f"repository.key[{i}]",
                    f"key field {name!r} cannot be optional",
                )
    kinds = tuple(sorted(set(repo.kinds)))
    with collect.step():
        if "append_only" in kinds and "id_keyed" in kinds:
            raise SpecError(
                file, "repository.kinds", "append_only and id_keyed exclude each other"
            )
        if "filtered_query" in kinds and "id_keyed" not in kinds:
            raise SpecError(
                file, "repository.kinds", "filtered_query composes with id_keyed"
            )
    with collect.step():
        if "filtered_query" in kinds and not repo.filters:
            raise SpecError(
                file,
                "repository.filters",
                "a filtered_query repository needs at least one filter",
            )
    time_field = None
    with collect.step():
        if "append_only" in kinds:
            if repo.time_field is None or repo.time_field not in fields:
                raise SpecError(
                    file,
                    "repository.time_field",
                    "an append_only repository names its datetime field (purge_before)",
                )
            time_field = fields[repo.time_field]
            if time_field.kind != "datetime" or time_field.optional:
                raise SpecError(
                    file, "repository.time_field", "must be a required datetime field"
                )
    return kinds, time_field


def _check_timeseries(
    file: str, spec: EntitySpec, kinds: tuple[str, ...], fields: dict[str, FieldIR]
) -> None:
    """``timeseries``: an append_only entity's required datetime column."""
    column = spec.timeseries
    if column is None:
        return
    if "append_only" not in kinds:
        raise SpecError(
            file, "timeseries", "only an append_only repository is a time series"
        )
    if column not in fields:
        raise SpecError(file, "timeseries", f"unknown field {column!r}")
    if fields[column].kind != "datetime" or fields[column].optional:
        raise SpecError(
            file,
            "timeseries",
            f"the time column {column!r} must be a required datetime field",
        )


def _check_references(
    collect: _Collect,
    file: str,
    spec: EntitySpec,
    fields: dict[str, FieldIR],
    enums: dict[str, Any],
) -> None:
    """Every field an index or method names exists; every literal is a value.

    Run before anything reads those names, so one run reports each unknown
    name (with a hint) instead of the first failure downstream.
    """
    repo = spec.repository
    for i, index in enumerate(spec.indexes):
        # Existence first: the uniqueness checks below read these columns.
        for name in [c.lstrip("-") for c in index.columns]:
            with collect.step():
                if name not in fields:
                    raise SpecError(
                        file, f"indexes[{i}].columns", f"unknown field {name!r}"
                    )
        for name in index.where:
            with collect.step():
                if name not in fields:
                    raise SpecError(
                        file, f"indexes[{i}].where", f"unknown field {name!r}"
                    )
    for mname, mspec in repo.methods.items():
        if mspec.kind == "custom":
            continue
        for where, name in _method_fields(mspec):
            with collect.step():
                if name not in fields:
                    raise SpecError(
                        file,
                        f"repository.methods.{mname}.{where}",
                        f"unknown field {name!r}",
                    )
    for where, name, value in _literals(spec):
        with collect.step():
            f = fields.get(name)
            if f is not None and f.enum is not None and value is not None:
                values = list(enums[f.enum].values)
                if value not in values:
                    # A typo would make the predicate silently match nothing.
                    raise SpecError(
                        file, where, f"{value!r} is not a value of {f.enum}"
                    )


def _unique_sets(spec: EntitySpec, fields: dict[str, FieldIR]) -> list[frozenset[str]]:
    """Column sets that identify a row: the key, unique fields, unique indexes."""
    repo = spec.repository
    unique_sets = [frozenset(repo.key)]
    # A unique but optional field may hold many NULLs: it does not identify a row.
    unique_sets += [
        frozenset({n}) for n, f in fields.items() if f.unique and not f.optional
    ]
    unique_sets += [
        frozenset(c.lstrip("-") for c in ix.columns)
        for ix in spec.indexes
        if ix.unique and not ix.where
    ]
    return unique_sets


def entity(
    file: str, spec: EntitySpec, enums: dict[str, Any], tables: dict[str, EntitySpec]
) -> EntityIR:
    """The IR of one entity spec, or every SpecError it has (with hints).

    Three phases, each reporting all its errors before the next runs: the
    fields (every other check names them), the checks that only need the
    fields, then the methods (each built on its own, so one bad method does
    not hide another). Indexes come last because the methods' access paths
    decide which are derived.
    """
    # Phase 1: the fields (every other check names them).
    collect = _Collect(spec.fields, enums)
    fields: dict[str, FieldIR] = {}
    for name, fs in spec.fields.items():
        with collect.step():
            check_field_name(file, f"fields.{name}", name)
            fields[name] = build_field(spec.table, file, name, fs, enums)
    collect.raise_all()
    # Phase 2: checks that only need the fields, all reported together.
    repo = spec.repository
    kinds, time_field = _repository_shape(collect, file, spec, fields)
    with collect.step():
        _check_timeseries(file, spec, kinds, fields)
    _check_references(collect, file, spec, fields, enums)
    key = tuple(fields[name] for name in repo.key if name in fields)
    unique_sets = _unique_sets(spec, fields)
    filters: tuple[FilterIR, ...] = ()
    with collect.step():
        filters = entity_filters(spec, file, fields)
    order: tuple[tuple[str, bool], ...] = ()
    with collect.step():
        order = entity_order(spec, file, fields, tuple(unique_sets))
    exclude: list[str] = []
    for name, value in repo.exclude.items():
        with collect.step():
            if name not in fields:
                raise SpecError(
                    file, f"repository.exclude.{name}", f"unknown field {name!r}"
                )
            exclude.append(f"{quote(name)} <> {sql_value(value)}")
    protect: list[tuple[str, str]] = []
    for pname, predicate in repo.protect.items():
        with collect.step():
            protect.append(
                protect_predicate(file, spec.table, pname, predicate, fields)
            )
    differ: tuple[tuple[str, str], ...] = ()
    for i, pair in enumerate(repo.differ):
        with collect.step():
            for name in pair:
                if name not in fields:
                    raise SpecError(
                        file, f"repository.differ[{i}]", f"unknown field {name!r}"
                    )
            differ += ((pair[0], pair[1]),)
    fks: tuple[ForeignKeyIR, ...] = ()
    with collect.step():
        fks = foreign_keys(spec, file, tables)
    collect.raise_all()
    key_alias = f"{spec.entity}Key" if len(key) > 1 else None
    ctx = Context(
        file=file,
        name=spec.entity,
        table=spec.table,
        fields=fields,
        key=key,
        kinds=kinds,
        filters=filters,
        order=order,
        time_field=time_field,
        exclude=tuple(exclude),
        protect=tuple(protect),
        unique_sets=tuple(unique_sets),
        key_annotation=key_alias or key[0].annotation,
        unique_names={
            frozenset(c.lstrip("-") for c in ix.columns): ix.name
            for ix in spec.indexes
            if ix.unique and not ix.where
        },
    )
    methods = builtin_methods(ctx)
    builtin_names = {m.name for m in methods}
    builtin_names |= {m.name for m in ctx.siblings}
    # Phase 3: the declared methods, each on its own.
    for name, method in repo.methods.items():
        with collect.step():
            if name in builtin_names:
                raise SpecError(
                    file,
                    f"repository.methods.{name}",
                    f"{name!r} is already a method of the repository kind",
                )
            methods.append(declared_method(ctx, name, method))
        # A derived sibling (iter_<name>) sits right after its method.
        methods.extend(ctx.siblings)
        ctx.siblings.clear()
    collect.raise_all()
    with collect.step():
        seen: set[str] = set()
        for m in methods:
            if m.name in seen:
                raise SpecError(
                    file,
                    f"repository.methods.{m.name}",
                    f"{m.name!r} is also the name of a generated method",
                )
            seen.add(m.name)
    collect.raise_all()
    indexes = entity_indexes(
        spec, file, spec.table, fields, tuple(repo.key), ctx.paths, order
    )
    field_tuple = tuple(fields.values())
    return EntityIR(
        file=file,
        name=spec.entity,
        accessor=spec.accessor,
        table=spec.table,
        module=spec.accessor,
        description=spec.description or f"{spec.entity} entity.",
        kinds=kinds,
        fields=field_tuple,
        key=key,
        filters=filters,
        windows=windows(filters),
        order=order,
        time_field=time_field,
        exclude=tuple(repo.exclude.items()),
        timeseries=spec.timeseries,
        uses=frozenset(ctx.uses),
        indexes=indexes,
        foreign_keys=fks,
        enums=tuple(sorted({f.enum for f in field_tuple if f.enum is not None})),
        methods=tuple(methods),
        sql_consts={d: tuple(ctx.consts[d]) for d in DIALECTS},
        ddl=ddl(spec.table, field_tuple, key, fks, indexes, differ),
        enum_names=frozenset(enums),
        differ=differ,
        renamed_from=spec.renamed_from,
        allow_destructive=tuple(sorted(spec.allow_destructive)),
    )
