"""The data of a planned table change, shared by planning and the dialects.

A leaf module: :mod:`codegen.migration_diff` computes :class:`TableDiff`
values and each dialect (:meth:`codegen.dialects.base.Dialect.render_table_change`)
renders them, without either importing the other's module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Table = dict[str, Any]  # one table of the recorded migration state


@dataclass
class ColumnChange:
    """A column present before and after (under its new name)."""

    name: str
    old: dict[str, Any]
    new: dict[str, Any]
    retype: bool
    set_not_null: bool
    drop_not_null: bool
    fill: Any


@dataclass
class TableDiff:
    """Everything that changes in one table; ``old`` is None for a new table."""

    table: str
    old_table: str
    old: Table | None
    new: Table
    column_renames: dict[str, str] = field(default_factory=dict)  # old -> new
    added: dict[str, Any] = field(default_factory=dict)  # name -> fill value
    dropped: list[str] = field(default_factory=list)
    changed: list[ColumnChange] = field(default_factory=list)
    checks_dropped: list[str] = field(default_factory=list)  # database names
    checks_added: list[str] = field(default_factory=list)
    fks_dropped: list[str] = field(default_factory=list)
    fks_added: list[str] = field(default_factory=list)
    renamed_constraints: list[tuple[str, str]] = field(default_factory=list)
    indexes_dropped: list[str] = field(default_factory=list)
    indexes_added: list[str] = field(default_factory=list)
    renamed_indexes: list[tuple[str, str]] = field(default_factory=list)
    pk_changed: bool = False
    summary: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.summary
