"""Typed CHECK rules: what a constraint means, before any dialect spells it.

A leaf module (it imports nothing of the generator), so the IR, migration
planning and the dialects (:meth:`codegen.dialects.base.Dialect.check_sql`)
share it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CheckRule:
    """The meaning of a CHECK, independent of any dialect's spelling.

    ``kind`` is ``in`` (``values``), ``bound`` (``op`` and ``value``),
    ``pattern`` (``pattern``, ``glob`` its SQLite GLOB), ``format`` (the
    field ``kind``'s storage shape; ``optional`` columns admit NULL) or
    ``differs`` (``columns``: two that must not be equal).
    """

    kind: str
    values: tuple[str, ...] = ()
    op: str = ""
    value: int | float = 0
    pattern: str = ""
    glob: str = ""
    field_kind: str = ""
    optional: bool = False
    columns: tuple[str, ...] = ()

    def state(self) -> dict[str, Any]:
        """The rule as ``state.json`` records it."""
        if self.kind == "in":
            return {"in": list(self.values)}
        if self.kind == "bound":
            return {"bound": self.op, "value": self.value}
        if self.kind == "pattern":
            return {"pattern": self.pattern}
        if self.kind == "differs":
            return {"differs": list(self.columns)}
        return {"format": self.field_kind}
