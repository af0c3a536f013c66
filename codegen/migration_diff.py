"""Compare two structured states into dialect-neutral table changes.

Renames come only from the YAML (``renamed_from`` on an entity or a field):
the old state is first rewritten under those renames (table, column and
constraint names, expressions), then compared item by item. Each change is
classified as safe (create, add, widen, relax, rename) or destructive
(drop, narrow, NOT NULL without a value for existing rows, a new primary
key); destructive changes are refused unless allowed, naming each one.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from codegen.migration_types import ColumnChange, Table, TableDiff

# (old kind, new kind) pairs whose stored values stay valid unchanged.
WIDENINGS = frozenset(
    {
        ("str", "text"),
        ("enum", "str"),
        ("enum", "text"),
        ("int", "float"),
        ("list[str]", "list[json]"),
        ("list[int]", "list[json]"),
    }
)
PREFIXES = ("pk", "ck", "fk", "ix", "ux")
QUOTED = re.compile(r'"([a-z_][a-z0-9_]*)"')
EXPLAIN = {
    "drop_table": "dropping table {table!r}",
    "drop_column": "dropping column {name!r} of table {table!r}",
    "narrow_type": "narrowing the type of column {name!r} of table {table!r}",
    "narrow_check": "narrowing check {name!r} of table {table!r}",
    "not_null": (
        "making column {name!r} of table {table!r} NOT NULL without a default "
        "or backfill for existing rows"
    ),
    "primary_key": "changing the primary key of table {table!r}",
}


class DestructiveChangeError(Exception):
    """The schema change would lose or invalidate data and is not allowed."""


def _map_name(name: str, old: str, new: str, columns: dict[str, str]) -> str:
    """A constraint or index name under the table and column renames."""
    for prefix in PREFIXES:
        head = f"{prefix}_{old}"
        if name == head or name.startswith(head + "_"):
            rest = name[len(head) :]
            for before, after in columns.items():
                rest = re.sub(rf"(?<=_){re.escape(before)}(?=_|$)", after, rest)
            return f"{prefix}_{new}{rest}"
    return name


def _map_sql(text: str | None, columns: dict[str, str]) -> str | None:
    if text is None:
        return None
    return QUOTED.sub(lambda m: f'"{columns.get(m.group(1), m.group(1))}"', text)


def _relaxes(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether check rule ``new`` accepts every value ``old`` accepted."""
    if "in" in old and "in" in new:
        return set(old["in"]) <= set(new["in"])
    if "bound" in old and "bound" in new:
        lower = {"ge": True, "gt": True, "le": False, "lt": False}
        if lower[old["bound"]] != lower[new["bound"]]:
            return False
        a, b = old["value"], new["value"]
        if a != b:
            return bool(b < a) if lower[old["bound"]] else bool(b > a)
        return not (new["bound"] in ("gt", "lt") and old["bound"] in ("ge", "le"))
    return False


def _same(was: dict[str, Any], now: dict[str, Any] | None) -> bool:
    """Whether a mapped old definition equals the new one (names aside)."""
    return {k: v for k, v in was.items() if k != "db_name"} == now


def _fill(column: dict[str, Any], meta: dict[str, Any]) -> Any:
    backfill = meta.get("backfill")
    return backfill if backfill is not None else column["default"]


class Planner:
    """Diffs ``old`` into ``new`` tables; collects refused destructive changes."""

    def __init__(
        self,
        old: dict[str, Table],
        new: dict[str, Table],
        meta: dict[str, dict[str, Any]],
        allow_all: bool,
    ) -> None:
        # meta[table]: file, renamed_from, allow (tokens), fields (name -> field
        # meta: renamed_from, backfill).
        self.old, self.new, self.meta, self.allow_all = old, new, meta, allow_all
        self.refused: list[str] = []
        self.tables: dict[str, str] = {}  # old table -> new table
        self.columns: dict[str, dict[str, str]] = {}  # new table -> old -> new
        for table, info in sorted(meta.items()):
            source = info.get("renamed_from")
            if table not in old and source in old and source not in new:
                self.tables[source] = table
            before = old.get(self.old_name(table))
            if before is None:
                continue
            names = {c["name"] for c in before["columns"]}
            for name, fmeta in sorted(info["fields"].items()):
                src = fmeta.get("renamed_from")
                if src in names and name not in names:
                    self.columns.setdefault(table, {})[src] = name

    def old_name(self, table: str) -> str:
        for old, new in self.tables.items():
            if new == table:
                return old
        return table

    def _refuse(self, table: str, token: str, name: str = "") -> None:
        key = f"{token}:{name}" if name else token
        info = self.meta.get(table, {})
        if self.allow_all or key in info.get("allow", ()):
            return
        what = EXPLAIN[token].format(table=table, name=name)
        flag = "`python -m codegen generate --allow-destructive`"
        if token == "drop_table":  # no entity is left to carry a marker
            self.refused.append(f"{what} is destructive: allow it with {flag}")
            return
        self.refused.append(
            f"{what} is destructive: allow it with `allow_destructive: [{key}]` "
            f"in {info.get('file', 'the schema')} or {flag}"
        )

    def mapped_old(self, table: str) -> Table | None:
        """The old state of ``table`` with every rename applied."""
        old_table = self.old_name(table)
        before = self.old.get(old_table)
        if before is None:
            return None
        cols = self.columns.get(table, {})
        state = copy.deepcopy(before)
        for c in state["columns"]:
            c["name"] = cols.get(c["name"], c["name"])
        state["primary_key"] = [cols.get(n, n) for n in state["primary_key"]]

        def rename(name: str) -> str:
            return _map_name(name, old_table, table, cols)

        checks = {}
        for name, check in state["checks"].items():
            check["db_name"] = name
            if check["column"] is not None:
                check["column"] = cols.get(check["column"], check["column"])
            if "differs" in check["rule"]:
                check["rule"]["differs"] = [
                    cols.get(c, c) for c in check["rule"]["differs"]
                ]
            check["sql"] = {d: _map_sql(s, cols) for d, s in check["sql"].items()}
            checks[rename(name)] = check
        state["checks"] = checks
        fks = {}
        for name, fk in state["foreign_keys"].items():
            fk["db_name"] = name
            fk["column"] = cols.get(fk["column"], fk["column"])
            target = self.tables.get(fk["table"], fk["table"])
            fk["table"] = target
            fk["target"] = self.columns.get(target, {}).get(fk["target"], fk["target"])
            fks[rename(name)] = fk
        state["foreign_keys"] = fks
        indexes = {}
        for name, ix in state["indexes"].items():
            ix["db_name"] = name
            ix["columns"] = [_map_sql(c, cols) for c in ix["columns"]]
            ix["where"] = _map_sql(ix["where"], cols)
            indexes[rename(name)] = ix
        state["indexes"] = indexes
        return state

    def diff_table(self, table: str) -> TableDiff:
        new = self.new[table]
        old = self.mapped_old(table)
        d = TableDiff(table=table, old_table=self.old_name(table), old=old, new=new)
        if old is None:
            d.summary.append(f"create_{table}")
            return d
        if d.old_table != table:
            d.summary.append(f"rename_{d.old_table}_{table}")
        d.column_renames = dict(self.columns.get(table, {}))
        d.summary += [f"rename_{table}_{a}_{b}" for a, b in d.column_renames.items()]
        self._columns(d, old, new)
        self._constraints(d, old, new)
        return d

    def _columns(self, d: TableDiff, old: Table, new: Table) -> None:
        table, fmeta = d.table, self.meta[d.table]["fields"]
        before = {c["name"]: c for c in old["columns"]}
        after = {c["name"]: c for c in new["columns"]}
        for name in sorted(set(before) - set(after)):
            self._refuse(table, "drop_column", name)
            d.dropped.append(name)
            d.summary.append(f"drop_{table}_{name}")
        for name, col in after.items():
            fill = _fill(col, fmeta.get(name, {}))
            if name not in before:
                if not col["nullable"] and fill is None:
                    self._refuse(table, "not_null", name)
                d.added[name] = fill
                d.summary.append(f"add_{table}_{name}")
                continue
            was = before[name]
            kind_changed = (was["kind"], was["enum"]) != (col["kind"], col["enum"])
            widening = (was["kind"], col["kind"]) in WIDENINGS
            if was["kind"] != col["kind"] and not widening:
                self._refuse(table, "narrow_type", name)
            retype = kind_changed or was["type"] != col["type"]
            set_nn = was["nullable"] and not col["nullable"]
            if set_nn and fill is None:
                self._refuse(table, "not_null", name)
            drop_nn = col["nullable"] and not was["nullable"]
            if retype or set_nn or drop_nn:
                d.changed.append(
                    ColumnChange(name, was, col, retype, set_nn, drop_nn, fill)
                )
                d.summary.append(f"alter_{table}_{name}")

    def _constraints(self, d: TableDiff, old: Table, new: Table) -> None:
        """Checks, foreign keys, the primary key and indexes of one table.

        A constraint equal up to its name is renamed, not dropped and added
        (no data is rechecked); a changed check is refused unless its typed
        rule relaxes the old one.
        """
        table = d.table
        for name in sorted(set(old["checks"]) | set(new["checks"])):
            was, now = old["checks"].get(name), new["checks"].get(name)
            if was is not None and now is not None:
                if was["rule"] == now["rule"] and was["sql"] == now["sql"]:
                    if was["db_name"] != name:
                        d.renamed_constraints.append((was["db_name"], name))
                    continue
                if (
                    not _relaxes(was["rule"], now["rule"])
                    and was["rule"] != now["rule"]
                ):
                    self._refuse(table, "narrow_check", name)
            if was is not None:
                d.checks_dropped.append(was["db_name"])
            if now is not None:
                d.checks_added.append(name)
            d.summary.append(f"check_{name.removeprefix('ck_')}")
        for name in sorted(set(old["foreign_keys"]) | set(new["foreign_keys"])):
            was, now = old["foreign_keys"].get(name), new["foreign_keys"].get(name)
            if was is not None and _same(was, now):
                if was["db_name"] != name:
                    d.renamed_constraints.append((was["db_name"], name))
                continue
            if was is not None:
                d.fks_dropped.append(was["db_name"])
            if now is not None:
                d.fks_added.append(name)
            d.summary.append(f"fk_{name.removeprefix('fk_')}")
        if old["primary_key"] != new["primary_key"]:
            self._refuse(table, "primary_key")
            d.pk_changed = True
            d.summary.append(f"pk_{table}")
        elif d.old_table != table:
            d.renamed_constraints.append((f"pk_{d.old_table}", f"pk_{table}"))
        for name in sorted(set(old["indexes"]) | set(new["indexes"])):
            was, now = old["indexes"].get(name), new["indexes"].get(name)
            if was is not None and _same(was, now):
                if was["db_name"] != name:
                    d.renamed_indexes.append((was["db_name"], name))
                continue
            if was is not None:
                d.indexes_dropped.append(was["db_name"])
                d.summary.append(f"drop_{was['db_name']}")
            if now is not None:
                d.indexes_added.append(name)
                d.summary.append(f"index_{name}")

    def run(self, order: tuple[str, ...]) -> tuple[list[TableDiff], list[str]]:
        """(table diffs in creation order, dropped tables); raises when refused."""
        renamed = set(self.tables)
        dropped = sorted(t for t in self.old if t not in self.new and t not in renamed)
        for table in dropped:
            self._refuse(table, "drop_table", table)
        diffs = [self.diff_table(t) for t in order]
        if self.refused:
            raise DestructiveChangeError(
                "destructive schema change refused:\n  " + "\n  ".join(self.refused)
            )
        return [d for d in diffs if not d.empty], dropped
