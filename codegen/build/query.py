"""Build stage: an entity's ordering, filters and filter windows.

The ordering must end in a unique set so paging is deterministic; filters
are checked against the field they compare.
"""

from __future__ import annotations

from codegen.ir import FieldIR, FilterIR
from codegen.spec import EntitySpec, FilterSpec, SpecError, raise_all


def entity_order(
    spec: EntitySpec,
    file: str,
    fields: dict[str, FieldIR],
    unique_sets: tuple[frozenset[str], ...],
) -> tuple[tuple[str, bool], ...]:
    order: list[tuple[str, bool]] = []
    for i, item in enumerate(spec.repository.order):
        name = item.lstrip("-")
        if name not in fields:
            raise SpecError(file, f"repository.order[{i}]", f"unknown field {name!r}")
        order.append((name, item.startswith("-")))
    # Paging is deterministic only when the ordering's columns include a
    # unique set (the key, a unique field or a unique index).
    if not any(u <= {n for n, _ in order} for u in unique_sets):
        raise SpecError(
            file,
            "repository.order",
            f"ordering {list(spec.repository.order)} must end in a unique key "
            f"(the key {list(spec.repository.key)} or a unique field) so pages are "
            "deterministic",
        )
    return tuple(order)


def entity_filters(
    spec: EntitySpec, file: str, fields: dict[str, FieldIR]
) -> tuple[FilterIR, ...]:
    filters: list[FilterIR] = []
    problems: list[SpecError] = []
    for name, flt in spec.repository.filters.items():
        try:
            filters.append(one_filter(file, name, flt, fields))
        except SpecError as exc:
            problems.append(exc)
    raise_all(problems)
    return tuple(filters)


def one_filter(
    file: str, name: str, flt: FilterSpec, fields: dict[str, FieldIR]
) -> FilterIR:
    path = f"repository.filters.{name}"
    target = flt.field or name
    if target not in fields:
        raise SpecError(file, path, f"unknown field {target!r}")
    f = fields[target]
    if f.kind in ("json", "list[str]", "list[int]", "list[json]", "bytes"):
        raise SpecError(file, path, f"cannot filter on a {f.kind} field")
    if flt.flag is not None:
        if f.kind != "bool" or flt.op != "eq":
            raise SpecError(file, path, "a flag filter needs a bool field and op eq")
        annotation, default = "bool", "False"
    else:
        if flt.op != "eq" and f.kind not in ("datetime", "int", "float"):
            raise SpecError(
                file, f"{path}.op", f"{flt.op} needs an ordered field, not {f.kind}"
            )
        annotation, default = (
            f.annotation.removesuffix(" | None") + " | None",
            "None",
        )
    return FilterIR(
        name=name,
        field=f,
        op=flt.op,
        flag=flt.flag,
        annotation=annotation,
        default=default,
        description=flt.description or f.description,
    )


def windows(filters: tuple[FilterIR, ...]) -> tuple[tuple[str, str], ...]:
    """Pairs of (lower, upper) filters on one field: ``until < since`` is refused."""
    pairs: list[tuple[str, str]] = []
    for low in filters:
        for high in filters:
            if (
                low.field is high.field
                and low.op in ("ge", "gt")
                and high.op in ("le", "lt")
            ):
                pairs.append((low.name, high.name))
    return tuple(pairs)
