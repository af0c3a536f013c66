"""Build the IR of one field: Python type and default, column type, checks.

Type decisions per dialect live in the dialect objects
(:mod:`codegen.dialects`); this module combines them with the field's
declared constraints (bounds, pattern, enum membership), kept as typed
rules (:class:`~codegen.ir.CheckRule`) that each dialect renders as SQL.
"""

from __future__ import annotations

import json
import re
from typing import Any

from codegen.dialects import DIALECTS
from codegen.dialects.base import Dialect
from codegen.ir import PY_TYPES, CheckIR, CheckRule, Codec, FieldIR, quote
from codegen.spec import FieldSpec, SpecError


def sqlite_glob(pattern: str) -> str | None:
    """Translate an anchored regex of literals, classes and ``{n}`` to a GLOB.

    SQLite has no regular expressions without a loadable function, and a
    CHECK that needs one breaks every other tool opening the file; a GLOB
    covers the fixed-shape patterns entities use (``^[A-Z]{3}$``). Returns
    None when the pattern is outside that subset.
    """
    if not (pattern.startswith("^") and pattern.endswith("$")):
        return None
    body = pattern[1:-1]
    token = re.compile(r"(\[[^\]\[]+\]|[A-Za-z0-9_:. -])(\{(\d+)\})?")
    out: list[str] = []
    pos = 0
    while pos < len(body):
        match = token.match(body, pos)
        if match is None:
            return None
        atom, count = match.group(1), int(match.group(3) or 1)
        out.append(atom * count)
        pos = match.end()
    return "".join(out)


def python_default(
    spec: FieldSpec, kind: str, enum: str | None
) -> tuple[str | None, str | None]:
    """(default expression, default_factory expression) for a field."""
    value = spec.default
    if value is None:
        return ("None", None) if spec.optional else (None, None)
    if kind == "datetime":
        if value != "now":
            raise ValueError("a datetime default must be 'now'")
        return None, "utc_now"
    if kind in ("list[str]", "list[int]", "list[json]"):
        if value != []:
            raise ValueError("a list default must be []")
        return "()", None
    if kind == "json":
        if value != {}:
            raise ValueError("a json default must be {}")
        return None, "dict"
    if kind == "enum":
        assert enum is not None
        return f"{enum}.{str(value).upper().replace('-', '_').replace('.', '_')}", None
    expected: dict[str, type | tuple[type, ...]] = {
        "str": str,
        "text": str,
        "int": int,
        "float": (int, float),
        "bool": bool,
    }
    wanted = expected.get(kind)
    if wanted is None:
        raise ValueError(f"a {kind} field cannot declare a default")
    if isinstance(value, bool) and kind != "bool":
        raise ValueError(f"default must be a {kind}")
    if not isinstance(value, wanted):
        raise ValueError(f"default must be a {kind}")
    if kind == "float":
        return repr(float(str(value))), None
    return repr(value), None


def build_field(
    table: str,
    file: str,
    name: str,
    spec: FieldSpec,
    enums: dict[str, Any],
    prefix: str = "fields",
) -> FieldIR:
    """The IR of ``<prefix>.<name>``; ``table`` names its CHECK constraints."""
    path = f"{prefix}.{name}"
    if (spec.type is None) == (spec.enum is None):
        raise SpecError(file, path, "declare exactly one of 'type' or 'enum'")
    kind = spec.type or "enum"
    if spec.enum is not None and spec.enum not in enums:
        known = ", ".join(sorted(enums)) or "none"
        raise SpecError(
            file, f"{path}.enum", f"unknown enum {spec.enum!r} (known: {known})"
        )
    if (
        spec.default is not None
        and spec.enum is not None
        and spec.default not in enums[spec.enum].values
    ):
        raise SpecError(
            file, f"{path}.default", f"{spec.default!r} is not a value of {spec.enum}"
        )
    try:
        default, factory = python_default(spec, kind, spec.enum)
    except ValueError as exc:
        raise SpecError(file, f"{path}.default", str(exc)) from None

    constraints: list[tuple[str, str]] = []
    bounds: list[CheckRule] = []
    for op in ("ge", "gt", "le", "lt"):
        bound = getattr(spec, op)
        if bound is None:
            continue
        if kind not in ("int", "float"):
            raise SpecError(
                file,
                f"{path}.{op}",
                f"bounds apply to int and float fields, not {kind}",
            )
        constraints.append((op, repr(bound)))
        bounds.append(CheckRule("bound", op=op, value=bound))

    if kind == "int":
        # Both drivers bind BIGINT / INTEGER: refuse wider ints in the model,
        # naming the field, instead of a driver error naming nothing.
        declared = {op for op, _ in constraints}
        if not declared & {"ge", "gt"}:
            constraints.append(("ge", repr(-(2**63))))
        if not declared & {"le", "lt"}:
            constraints.append(("le", repr(2**63 - 1)))

    pattern: CheckRule | None = None
    if spec.pattern is not None:
        if kind not in ("str", "text"):
            raise SpecError(
                file, f"{path}.pattern", f"a pattern applies to str fields, not {kind}"
            )
        try:
            re.compile(spec.pattern)
        except re.error as exc:
            raise SpecError(
                file, f"{path}.pattern", f"invalid regular expression: {exc}"
            ) from None
        glob = sqlite_glob(spec.pattern)
        if glob is None:
            raise SpecError(
                file,
                f"{path}.pattern",
                "SQLite CHECK needs an anchored pattern of literal characters, "
                "[classes] and {n} repeats (e.g. ^[A-Z]{3}$)",
            )
        constraints.append(("pattern", repr(spec.pattern)))
        pattern = CheckRule("pattern", pattern=spec.pattern, glob=glob)

    base = PY_TYPES.get(kind, spec.enum or "")
    annotation = f"{base} | None" if spec.optional else base

    # The typed checks, in the order each dialect renders them.
    checks: list[CheckIR] = []
    if kind == "enum":
        assert spec.enum is not None
        values = tuple(enums[spec.enum].values)
        checks.append(CheckIR(f"ck_{table}_{name}", name, CheckRule("in", values)))
    fmt = CheckRule("format", field_kind=kind, optional=spec.optional)
    checks.append(CheckIR(f"ck_{table}_{name}_format", name, fmt))
    checks += [CheckIR(f"ck_{table}_{name}_{r.op}", name, r) for r in bounds]
    if pattern is not None:
        checks.append(CheckIR(f"ck_{table}_{name}_pattern", name, pattern))

    def codec(dialect: Dialect) -> Codec:
        label = json.dumps(f"{table}.{name}")  # [a-z_] only: no braces
        rendered = ((c.name, dialect.check_sql(c.rule, quote(name))) for c in checks)
        return Codec(
            column_type=dialect.column_type(kind),
            encode=dialect.encoders.get(kind, "{v}").replace("{f}", label),
            copy_encode=(
                dialect.copy_encoders[kind].replace("{f}", label)
                if kind in dialect.copy_encoders
                else None
            ),
            decode=dialect.decoders.get(kind, "{v}"),
            checks=tuple((n, sql) for n, sql in rendered if sql is not None),
            uses=dialect.codec_uses.get(kind, frozenset()),
        )

    codecs = {n: codec(d) for n, d in DIALECTS.items()}
    return FieldIR(
        name=name,
        kind=kind,
        enum=spec.enum,
        optional=spec.optional,
        description=spec.description,
        annotation=annotation,
        default=default,
        default_factory=factory,
        constraints=tuple(constraints),
        unique=spec.unique,
        sample={
            "kind": kind,
            "enum": spec.enum,
            "optional": spec.optional,
            "ge": spec.ge if spec.ge is not None else spec.gt,
            "le": spec.le if spec.le is not None else spec.lt,
        },
        codecs=codecs,
        pattern=spec.pattern,
        default_value=spec.default,
        backfill=spec.backfill,
        renamed_from=spec.renamed_from,
        owner=table,
        # The rules some dialect enforces (a type may make one needless).
        checks=tuple(
            c for c in checks if any(c.name in dict(x.checks) for x in codecs.values())
        ),
    )
