"""Render dialect-neutral table changes as the statements of one dialect.

How each dialect spells a change (PostgreSQL alters tables in place, SQLite
rebuilds them) is the dialect object's
(:meth:`codegen.dialects.Dialect.render_table_change`); this module orders
the result. Statements come out in phases across all tables, so that every
drop (which may be needed by a referencing constraint) precedes every add.
"""

from __future__ import annotations

from typing import Any

from codegen.dialects import DIALECTS, FillError, quote
from codegen.dialects.base import Phases
from codegen.migration_types import TableDiff

__all__ = ["FillError", "fill_sql", "render"]


def fill_sql(kind: str, value: Any, dialect: str) -> str:
    """The SQL value existing rows get for a column of ``kind``."""
    return DIALECTS[dialect].fill_sql(kind, value)


def render(diffs: list[TableDiff], dropped: list[str], dialect: str) -> list[str]:
    """The statements of one revision in ``dialect``."""
    out: Phases = {"rename": [], "drop": [], "create": [], "add": []}
    for d in diffs:
        DIALECTS[dialect].render_table_change(d, out)
    out["drop"] += [f"DROP TABLE {quote(t)};" for t in dropped]
    return [*out["rename"], *out["drop"], *out["create"], *out["add"]]
