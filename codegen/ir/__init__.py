"""Stage 2 data: the frozen intermediate representation the templates lay out.

Every decision is made before any template runs (by :mod:`codegen.build`
and the method builders): Python annotations, defaults, column types,
constraint and index names, SQL statements per dialect, value encoders and
decoders. This package only holds the data, by concern: values and fields
(:mod:`.field`), methods (:mod:`.method`), tables and the schema
(:mod:`.schema`). Everything per dialect is keyed by the dialect's name in
:data:`codegen.dialects.DIALECTS`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from codegen.dialects import DIALECTS, quote, sql_literal
from codegen.ir.field import (
    OPERATORS,
    PY_TYPES,
    CheckIR,
    Codec,
    Dialect,
    EnumIR,
    FieldIR,
    FilterIR,
)
from codegen.ir.method import MethodIR, ParamIR, SqlConst
from codegen.ir.schema import (
    DdlIR,
    EntityIR,
    ForeignKeyIR,
    IndexColumn,
    IndexIR,
    SchemaIR,
    ValueModelIR,
    VersionIR,
)
from codegen.rules import CheckRule

PKG = "synthorg.persistence"
GEN = f"{PKG}.generated"


class _Placeholders(Mapping[str, str]):
    """The bind-parameter marker of each registered dialect, by name."""

    def __getitem__(self, dialect: str) -> str:
        return DIALECTS[dialect].placeholder

    def __iter__(self) -> Iterator[str]:
        return iter(DIALECTS)

    def __len__(self) -> int:
        return len(DIALECTS)


PLACEHOLDER: Mapping[str, str] = _Placeholders()

__all__ = [
    "DIALECTS",
    "GEN",
    "OPERATORS",
    "PKG",
    "PLACEHOLDER",
    "PY_TYPES",
    "CheckIR",
    "CheckRule",
    "Codec",
    "DdlIR",
    "Dialect",
    "EntityIR",
    "EnumIR",
    "FieldIR",
    "FilterIR",
    "ForeignKeyIR",
    "IndexColumn",
    "IndexIR",
    "MethodIR",
    "ParamIR",
    "SchemaIR",
    "SqlConst",
    "ValueModelIR",
    "VersionIR",
    "quote",
    "sql_literal",
]
