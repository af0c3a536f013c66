"""Streaming a list method's rows in batches by keyset: the ``iter_*`` methods.

Every paged list method of a generated repository (``kind: list`` methods,
``list_items``, ``query``) has an ``iter_<name>`` sibling that yields the same
entities in the same order, a batch at a time, with memory flat in the number
of rows. Each batch is one ordinary bounded read (``... WHERE <the method's
filters> AND <after the last row> ORDER BY <the method's order> LIMIT n``):
no connection, transaction or snapshot is held between batches, so a consumer
that stops iterating or is cancelled leaves nothing behind, and every batch
seeks through the index the ordering already uses.

:class:`KeysetSql` (a class constant of the repository, like
:class:`~synthorg.persistence.support.FilterSql`) holds the statement's parts
and builds each continuation statement once, on first use. The ordering
always ends in a unique key (the generator checks it), so "after the last
row" continues exactly. The continuation is split into *groups* of the
ordering: a run of NOT NULL columns sorted in one direction compares as one
row value (``(a, b) > (?, ?)``); a nullable column becomes two groups, "is
it NULL" then its value, placed where the dialect sorts NULLs (SQLite: below
every value; PostgreSQL: above), so the predicate matches ``ORDER BY``
exactly on both. Rows after position ``p`` are, in order, those that equal
``p`` on every group but the last and come after it on the last, then those
equal on all but the last two and after on the one before, and so on: one
statement per group, each an index range. :class:`Keyset` walks them.

Consistency: not a snapshot. A row present for the whole iteration whose
ordering columns do not change is yielded exactly once; no row is ever
yielded twice; rows inserted, deleted or moved meanwhile may or may not be.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from synthorg.persistence.errors import InvalidValueError
from synthorg.persistence.repository_protocols import DEFAULT_BATCH_SIZE, MAX_PAGE_SIZE

MAX_BATCH_SIZE = MAX_PAGE_SIZE
"""Largest ``batch_size``: one batch is one page of at most this many rows."""

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MAX_BATCH_SIZE",
    "Keyset",
    "KeysetSql",
    "check_batch_size",
]


def check_batch_size(batch_size: int) -> None:
    """Refuse a bad ``batch_size`` with :class:`InvalidValueError` before any SQL."""
    if type(batch_size) is not int or not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise InvalidValueError(
            f"batch_size must be an int from 1 to {MAX_BATCH_SIZE}, got {batch_size!r}",
            field="batch_size",
        )


@dataclass(frozen=True, slots=True)
class _Group:
    """Part of an ordering that a continuation compares as one.

    ``run``: NOT NULL columns sorted the same way (``indexes`` into the row);
    ``flag``: whether a nullable column is NULL (``nulls_after``: NULLs come
    after the values in this direction); ``value``: a nullable column's value.
    """

    kind: str  # run | flag | value
    columns: tuple[str, ...]
    indexes: tuple[int, ...]
    descending: bool = False
    nulls_after: bool = False


def _groups(
    keys: tuple[tuple[str, int, bool, bool], ...], nulls_high: bool
) -> tuple[_Group, ...]:
    groups: list[_Group] = []
    for column, index, descending, nullable in keys:
        if nullable:
            after = nulls_high != descending
            groups.append(_Group("flag", (column,), (index,), descending, after))
            groups.append(_Group("value", (column,), (index,), descending))
            continue
        last = groups[-1] if groups else None
        if last is not None and last.kind == "run" and last.descending == descending:
            groups[-1] = _Group(
                "run", (*last.columns, column), (*last.indexes, index), descending
            )
        else:
            groups.append(_Group("run", (column,), (index,), descending))
    return tuple(groups)


class KeysetSql:
    """The statements that stream one list method, built once each, on use.

    ``prefix`` is ``SELECT <columns> FROM <table>``; ``conditions`` the
    optional filters (bit ``i`` of the mask: condition ``i`` is set, as in
    :class:`~synthorg.persistence.support.FilterSql`); ``always`` the
    conditions every statement carries (their parameters follow the
    filters'); ``suffix`` is ``ORDER BY ... LIMIT <placeholder>``. ``keys``
    are the ordering's columns as ``(quoted column, index in the row,
    descending, nullable)``; ``nulls_high`` says the dialect sorts NULL above
    every value (PostgreSQL) rather than below (SQLite).
    """

    __slots__ = (
        "_always",
        "_cache",
        "_conditions",
        "_groups",
        "_nullable",
        "_ph",
        "_prefix",
        "_suffix",
    )

    def __init__(
        self,
        prefix: str,
        conditions: tuple[str, ...],
        suffix: str,
        *,
        keys: tuple[tuple[str, int, bool, bool], ...],
        placeholder: str,
        nulls_high: bool,
        always: tuple[str, ...] = (),
    ) -> None:
        self._prefix = prefix
        self._conditions = conditions
        self._suffix = suffix
        self._always = always
        self._ph = placeholder
        self._groups = _groups(keys, nulls_high)
        self._nullable = tuple(index for _, index, _, nullable in keys if nullable)
        self._cache: dict[tuple[int, int, tuple[bool, ...]], Any] = {}

    @property
    def depth(self) -> int:
        """The number of continuation statements (groups of the ordering)."""
        return len(self._groups)

    def _where(self, mask: int, extra: list[str]) -> str:
        parts = [c for i, c in enumerate(self._conditions) if mask >> i & 1]
        parts += [*self._always, *extra]
        where = f" WHERE {' AND '.join(parts)}" if parts else ""
        return f"{self._prefix}{where}{self._suffix}"

    def first(self, mask: int) -> str:
        """The first batch's statement (no position yet)."""
        key = (mask, -1, ())
        sql = self._cache.get(key)
        if sql is None:
            sql = self._cache[key] = self._where(mask, [])
        return str(sql)

    def after(
        self, mask: int, depth: int, row: Sequence[Any]
    ) -> tuple[str, tuple[int, ...]] | None:
        """The statement for rows equal to ``row`` on the groups before
        ``depth`` and after it on group ``depth``, with the row indexes of its
        parameters; None when no row can be there (e.g. after a NULL that
        sorts last)."""
        nulls = tuple(row[i] is None for i in self._nullable)
        key = (mask, depth, nulls)
        if key in self._cache:
            found: tuple[str, tuple[int, ...]] | None = self._cache[key]
            return found
        conds: list[str] = []
        indexes: list[int] = []
        for group in self._groups[:depth]:
            self._equal(group, row, conds, indexes)
        built: tuple[str, tuple[int, ...]] | None = None
        if self._after(self._groups[depth], row, conds, indexes):
            built = (self._where(mask, conds), tuple(indexes))
        self._cache[key] = built
        return built

    def _equal(
        self, g: _Group, row: Sequence[Any], conds: list[str], indexes: list[int]
    ) -> None:
        ph = self._ph
        if g.kind == "flag":
            null = row[g.indexes[0]] is None
            conds.append(f"{g.columns[0]} IS {'' if null else 'NOT '}NULL")
        elif g.kind == "value":
            if row[g.indexes[0]] is not None:  # NULL = NULL: the flag said it
                conds.append(f"{g.columns[0]} = {ph}")
                indexes.append(g.indexes[0])
        else:
            conds.extend(f"{c} = {ph}" for c in g.columns)
            indexes.extend(g.indexes)

    def _after(
        self, g: _Group, row: Sequence[Any], conds: list[str], indexes: list[int]
    ) -> bool:
        """Add "after ``row`` on ``g``"; False when nothing can be after."""
        op = "<" if g.descending else ">"
        ph = self._ph
        if g.kind == "flag":
            null = row[g.indexes[0]] is None
            if null == g.nulls_after:  # already in the group that sorts last
                return False
            conds.append(f"{g.columns[0]} IS {'' if g.nulls_after else 'NOT '}NULL")
        elif g.kind == "value":
            if row[g.indexes[0]] is None:  # NULLs tie: nothing after on value
                return False
            conds.append(f"{g.columns[0]} {op} {ph}")
            indexes.append(g.indexes[0])
        elif len(g.columns) == 1:
            conds.append(f"{g.columns[0]} {op} {ph}")
            indexes.append(g.indexes[0])
        else:
            marks = ", ".join(ph for _ in g.columns)
            conds.append(f"({', '.join(g.columns)}) {op} ({marks})")
            indexes.extend(g.indexes)
        return True


class Keyset:
    """One iteration's position: which statement runs next, with what.

    ``next()`` gives ``(sql, params)`` or None when the rows are exhausted;
    ``took(rows)`` records what that statement returned and gives the rows
    back as a list. ``params`` are the method's own (computed once, so a
    ``now`` in its filters is fixed for the whole iteration).
    """

    __slots__ = ("_depth", "_last", "_mask", "_params", "_size", "_sql", "_started")

    def __init__(
        self, sql: KeysetSql, mask: int, params: Iterable[Any], batch_size: int
    ) -> None:
        check_batch_size(batch_size)
        self._sql = sql
        self._mask = mask
        self._params = tuple(params)
        self._size = batch_size
        self._last: Sequence[Any] | None = None
        self._started = False
        self._depth = -1  # the group the next continuation advances on

    def next(self) -> tuple[str, tuple[Any, ...]] | None:
        if not self._started:
            return self._sql.first(self._mask), (*self._params, self._size)
        last = self._last
        while last is not None and self._depth >= 0:
            found = self._sql.after(self._mask, self._depth, last)
            if found is not None:
                sql, indexes = found
                return sql, (*self._params, *(last[i] for i in indexes), self._size)
            self._depth -= 1  # nothing can follow on this group: the one before
        return None

    def took(self, rows: Iterable[Any]) -> list[Any]:
        batch = list(rows)
        if batch:
            self._last = batch[-1]
        if len(batch) >= self._size:
            # A full batch may stop inside a tie: continue at the deepest group.
            self._depth = self._sql.depth - 1
        elif not self._started:
            self._depth = -1  # the first batch was short: that was everything
        else:
            self._depth -= 1  # this group is exhausted: the one before it
        self._started = True
        return batch
