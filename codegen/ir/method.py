"""IR of repository methods: parameters, SQL constants and their binding.

Everything per dialect is keyed by dialect name (:attr:`ParamIR.binds`,
:attr:`MethodIR.binds`), so a new dialect adds keys, not fields; the thin
accessors (:meth:`ParamIR.bind`, :meth:`MethodIR.bound`) are what the kind
builders and templates call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from codegen.ir.field import Dialect
from codegen.shapes import Decode, Guard, Shape, Variant


@dataclass(frozen=True)
class SqlConst:
    """A module-level SQL constant of a generated repository.

    Either a plain statement, or a :class:`FilterSql` whose WHERE clause is
    chosen per call from the set filters (``conditions``); ``always`` holds
    the conditions every variant carries (a declared ``exclude``).
    """

    name: str
    sql: str = ""
    prefix: str = ""
    conditions: tuple[str, ...] = ()
    suffix: str = ""
    always: tuple[str, ...] = ()
    require_any: bool = False  # mask 0 (no condition set) is never executed
    # A KeysetSql (an ``iter_*`` method's batches): the ordering's columns as
    # (quoted column, index in the row, descending, nullable), the dialect's
    # placeholder and whether it sorts NULL above every value.
    keys: tuple[tuple[str, int, bool, bool], ...] = ()
    placeholder: str = ""
    nulls_high: bool = False

    @property
    def filtered(self) -> bool:
        return not self.sql and not self.keys

    @property
    def keyset(self) -> bool:
        return bool(self.keys)


@dataclass(frozen=True)
class ParamIR:
    """A method parameter and how it is bound in each dialect."""

    name: str
    annotation: str
    default: str | None = None
    binds: Mapping[str, str] = field(default_factory=dict)  # per dialect name
    arity: int = 1  # how many SQL parameters the binding expands to
    # Per dialect name: the runtime names the binding calls ("module:name").
    uses: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def bind(self, dialect: Dialect) -> str:
        return self.binds.get(dialect) or self.name

    @property
    def signature(self) -> str:
        if self.default is None:
            return f"{self.name}: {self.annotation}"
        return f"{self.name}: {self.annotation} = {self.default}"


@dataclass(frozen=True)
class MethodIR:
    """One repository method: signature, SQL per dialect, result shape.

    ``kind`` is the YAML kind (built-ins: the kind they behave as);
    ``shape`` is how the templates render it, with the data fields below;
    ``consts`` name the SQL constants the method uses.
    """

    name: str
    kind: str
    doc: str
    params: tuple[ParamIR, ...]
    returns: str
    declared: bool  # part of the entity's own Protocol (not a generic category)
    shape: Shape = "custom"
    write: bool = False
    paged: str = "none"  # limit_offset | limit | none
    consts: tuple[str, ...] = ()
    result: str = ""  # shape detail (bulk mode, the column a retry names, ...)
    extra: tuple[str, ...] = ()  # kind-specific names (e.g. custom imports)
    # An explicit bound tuple expression per dialect name (else the params).
    binds: Mapping[str, str] = field(default_factory=dict)
    guards: tuple[Guard, ...] = ()  # checks run before any SQL
    mask_params: tuple[str, ...] = ()  # optional params choosing a FilterSql variant
    # Where the FilterSql mask comes from: the filter spec, or mask_params.
    mask: Literal["", "filter_spec", "params"] = ""
    variants: tuple[Variant, ...] = ()  # statements chosen per call
    decode: Decode = ""  # value shape: how the row becomes the result
    protect: tuple[str, ...] = ()  # rowcount: protected rows' names (refused)
    stream: str = ""  # a paged list: the name of its iter_* sibling

    @property
    def keyword_only(self) -> tuple[str, ...]:
        """Parameters after ``*`` (a stream's ``batch_size``)."""
        return ("batch_size",) if self.shape == "stream" else ()

    def bound(self, dialect: Dialect) -> str:
        """The parameters tuple expression passed with the statement."""
        explicit = self.binds.get(dialect, "")
        if explicit:
            return explicit
        return self.args(dialect, paging=True)

    def param(self, name: str) -> ParamIR:
        return next(p for p in self.params if p.name == name)

    @property
    def signature(self) -> str:
        parts = ["self"]
        for p in self.params:
            if p.name in self.keyword_only and "*" not in parts:
                parts.append("*")
            parts.append(p.signature)
        return ", ".join(parts)

    def args(self, dialect: Dialect, paging: bool = False) -> str:
        """The bound parameters as a tuple expression (limit/offset if ``paging``)."""
        binds = [
            p.bind(dialect)
            for p in self.params
            if paging or p.name not in ("limit", "offset")
        ]
        if not binds:
            return "()"
        arity = sum(
            p.arity for p in self.params if paging or p.name not in ("limit", "offset")
        )
        return "(" + ", ".join(binds) + ("," if arity == 1 else "") + ")"

    @property
    def call_args(self) -> str:
        return ", ".join(p.name for p in self.params)
