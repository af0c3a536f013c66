"""IR of values: enums, fields with their per-dialect codecs, typed checks, filters.

A field's column type, encoder, decoder and rendered CHECKs are decided per
dialect (:class:`Codec`, keyed by dialect name in :attr:`FieldIR.codecs`);
its checks are also kept as typed rules (:class:`CheckIR`) that migration
planning reasons about without reading SQL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codegen.dialects import DIALECTS, quote, support
from codegen.rules import CheckRule

Dialect = str  # a key of codegen.dialects.DIALECTS

PY_TYPES = {
    "str": "NotBlankStr",
    "text": "Text",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "datetime": "Timestamp",
    "bytes": "bytes",
    "json": "dict[str, JsonValue]",
    "list[str]": "tuple[str, ...]",
    "list[int]": "tuple[int, ...]",
    "list[json]": "tuple[JsonValue, ...]",
}


@dataclass(frozen=True)
class CheckIR:
    """A named CHECK constraint on ``column`` (None: a table check)."""

    name: str
    column: str | None
    rule: CheckRule


@dataclass(frozen=True)
class EnumIR:
    name: str
    description: str
    members: tuple[tuple[str, str], ...]  # (MEMBER_NAME, value)


@dataclass(frozen=True)
class Codec:
    """Per-dialect column type and Python expressions for one field."""

    column_type: str
    encode: str  # template with {v}
    decode: str  # template with {v}
    checks: tuple[tuple[str, str], ...]  # (constraint name, expression)
    # The runtime names encode and decode call, as "module:name" (imports).
    uses: frozenset[str] = frozenset()
    # The bulk COPY row's encoder where it differs from ``encode``, else None.
    copy_encode: str | None = None

    def encode_expr(self, value: str, optional: bool) -> str:
        return _optional(self.encode.format(v=value), value, optional)

    def copy_expr(self, value: str, optional: bool) -> str:
        """The value of a bulk ``COPY`` row (``encode_expr`` unless overridden)."""
        if self.copy_encode is None:
            return self.encode_expr(value, optional)
        return _optional(self.copy_encode.format(v=value), value, optional)

    def decode_expr(self, value: str, optional: bool) -> str:
        expr = self.decode.format(v=value)
        if optional and expr != value:
            return f"None if {value} is None else {expr}"
        return expr


def _optional(expr: str, value: str, optional: bool) -> str:
    if optional and expr != value:
        return f"None if {value} is None else {expr}"
    return expr


@dataclass(frozen=True)
class FieldIR:
    name: str
    kind: str  # a FieldSpec.type or "enum"
    enum: str | None
    optional: bool
    description: str
    annotation: str
    default: str | None  # a Python expression for Field(default=...), or None
    default_factory: str | None
    constraints: tuple[tuple[str, str], ...]  # pydantic Field kwargs
    unique: bool
    sample: Any  # a JSON-able description the conformance suite uses
    codecs: Mapping[str, Codec]  # per dialect name
    pattern: str | None = None
    # Schema evolution: the raw YAML default and backfill, the previous name.
    default_value: Any = None
    backfill: Any = None
    renamed_from: str | None = None
    owner: str = ""  # the table (or value model) declaring the field
    checks: tuple[CheckIR, ...] = ()  # typed rules; each dialect renders its SQL

    @property
    def column(self) -> str:
        return quote(self.name)

    def codec(self, dialect: Dialect) -> Codec:
        return self.codecs[dialect]

    def arg_helper(self, *, blank_ok: bool = False) -> str:
        """The ``synthorg.persistence.support`` check an argument of this field
        goes through (``arg_str``, ``arg_int``, ...).

        ``blank_ok`` lets a ``str`` field take ``""`` (a compare-and-set's
        "absent" marker).
        """
        if self.kind == "str":
            return "arg_text" if blank_ok else "arg_str"
        if self.kind == "datetime":
            return "arg_time"
        known = ("text", "int", "float", "bool", "enum", "bytes")
        return f"arg_{self.kind}" if self.kind in known else "arg_json"

    def arg_uses(self, *, blank_ok: bool = False) -> frozenset[str]:
        """The runtime names :meth:`arg_check` calls, as "module:name"."""
        names = {support(self.arg_helper(blank_ok=blank_ok))}
        if self.enum is not None:
            names.add(f"synthorg.persistence.generated.enums:{self.enum}")
        return frozenset(names)

    def arg_check(self, value: str, label: str, *, blank_ok: bool = False) -> str:
        """A Python expression refusing a raw argument outside this field's domain.

        The check (:meth:`arg_helper`) raises InvalidValueError naming
        ``label`` and returns the value to bind.
        """
        helper = self.arg_helper(blank_ok=blank_ok)
        args = [value, json.dumps(label)]
        if helper == "arg_str" and self.pattern is not None:
            args.append(repr(self.pattern))
        elif helper == "arg_int":
            bounds = dict(self.constraints)
            low = int(bounds["ge"]) if "ge" in bounds else None
            if "gt" in bounds:
                low = int(bounds["gt"]) + 1
            high = int(bounds["le"]) if "le" in bounds else None
            if "lt" in bounds:
                high = int(bounds["lt"]) - 1
            args += [
                f"{name}={bound}"
                for name, bound in (("low", low), ("high", high))
                if bound is not None
            ]
        elif helper == "arg_float":
            args += [
                f"{op}={bound}"
                for op, bound in self.constraints
                if op in ("ge", "gt", "le", "lt")
            ]
        elif helper == "arg_enum":
            args.insert(1, str(self.enum))
        elif helper == "arg_json":
            args.append(repr(self.kind))
        return f"{helper}({', '.join(args)})"

    def field_call(self) -> str | None:
        """The ``Field(...)`` right-hand side of the model attribute, if any."""
        args: list[str] = []
        if self.default_factory is not None:
            args.append(f"default_factory={self.default_factory}")
        elif self.default is not None:
            args.append(f"default={self.default}")
        args.extend(f"{key}={value}" for key, value in self.constraints)
        if self.description:
            args.append(f"description={json.dumps(self.description)}")
        return f"Field({', '.join(args)})" if args else None


OPERATORS = {"eq": "=", "ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


@dataclass(frozen=True)
class FilterIR:
    name: str
    field: FieldIR
    op: str  # eq, ge, gt, le, lt
    flag: bool | None  # a boolean filter adding ``field = flag`` when True
    annotation: str
    default: str
    description: str

    def param(self, dialect: Dialect) -> str:
        value = repr(self.flag) if self.flag is not None else f"spec.{self.name}"
        return self.field.codec(dialect).encode_expr(value, False)

    def condition(self, dialect: Dialect) -> str:
        return (
            f"{self.field.column} {OPERATORS[self.op]} {DIALECTS[dialect].placeholder}"
        )

    @property
    def test(self) -> str:
        """The Python test that this filter is set on ``spec``."""
        if self.flag is not None:
            return f"spec.{self.name}"
        return f"spec.{self.name} is not None"
