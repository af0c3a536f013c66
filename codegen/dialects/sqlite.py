"""SQLite: column types and codecs, CHECK spellings, migrations by rebuild.

Timestamps are fixed-width ISO-8601 UTC text so that text order is time
order; JSON is TEXT guarded by ``json_valid``; booleans are 0/1 integers;
enums are TEXT guarded by an ``IN`` list.

SQLite's ALTER TABLE can only rename a table and add a plain nullable
column, so any other change to an existing table uses SQLite's documented
rebuild: create the new table under a temporary name, copy the rows, drop
the old table, rename the new one and recreate its indexes. The runner
applies a revision in one transaction with foreign-key enforcement off and
``PRAGMA foreign_key_check`` before it commits (the documented procedure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codegen.dialects.base import (
    JSON_KINDS,
    Dialect,
    Phases,
    new_column,
    quote,
    sql_literal,
    support,
)

if TYPE_CHECKING:
    from codegen.ir import MethodIR
    from codegen.migration_types import TableDiff

REBUILD_PREFIX = "_synthorg_new_"


def read_entry(m: MethodIR) -> str:
    """The ``Connections`` method a generated SQLite read calls.

    Every generated statement is index-backed (``tests/test_index_backed.py``
    holds it), so what decides is how much a statement can produce. Reads
    bounded by construction try the loop thread first, each with its own
    VM-step budget (``synthorg.persistence.sqlite.inline``), and fall back
    to the reader thread past it: a key or unique lookup (``read_point``), a
    page bounded by a LIMIT or the first row in index order (``read_page``),
    and a single value over a parameter-bound index range -- a count, an
    aggregate, an existence test (``read_range``). Unbounded lists and
    whole-table values go straight to the reader thread (``read``).
    """
    if m.shape == "one":
        return "read_page" if m.mask else "read_point"
    if m.shape == "many" and m.paged != "none":
        return "read_page"
    if m.shape == "value" and (m.params or m.mask):
        return "read_range"
    return "read"


class SQLite(Dialect):
    """SQLite 3 through aiosqlite (one shared connection per backend)."""

    name = "sqlite"
    title = "SQLite"
    class_prefix = "SQLite"
    placeholder = "?"
    nulls_sort_high = False
    # aiosqlite has no reliable rowcount for a statement: count returned rows.
    count_returning = " RETURNING 1"
    time_bind = "dt_to_text({v})"
    time_bind_uses = frozenset({support("dt_to_text")})
    codec_uses = {
        "datetime": frozenset({support("dt_to_text")}),
        **dict.fromkeys(
            JSON_KINDS,
            frozenset({support("json_text"), support("json_loads")}),
        ),
    }
    now = "strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')"
    column_types = {
        "str": "TEXT",
        "text": "TEXT",
        "enum": "TEXT",
        "int": "INTEGER",
        "bool": "INTEGER",
        "float": "REAL",
        "datetime": "TEXT",
        "bytes": "BLOB",
        "json": "TEXT",
        "list[str]": "TEXT",
        "list[int]": "TEXT",
        "list[json]": "TEXT",
    }
    encoders = {
        "enum": "{v}.value",
        # REAL keeps no negative zero: normalising on write keeps backends equal.
        "float": "{v} + 0.0",
        "datetime": "dt_to_text({v})",
        # json_text refuses what jsonb could not store exactly, naming field {f}.
        "json": "json_text({v}, {f})",
        "list[str]": "json_text({v}, {f})",
        "list[int]": "json_text({v}, {f})",
        "list[json]": "json_text({v}, {f})",
    }
    decoders = {
        "json": "json_loads({v})",
        "list[str]": "json_loads({v})",
        "list[int]": "json_loads({v})",
        "list[json]": "json_loads({v})",
    }
    driver_module = "synthorg.persistence.sqlite.driver"
    driver_names = frozenset({"SQLiteRepositoryBase", "map_sqlite_error"})
    plain_imports = frozenset({"sqlite3"})
    init_driver_names = frozenset({"Connections"})

    def kind_check(self, kind: str, column: str, optional: bool) -> str | None:
        if kind == "bool":
            return f"{column} IN (0, 1)"
        if kind in JSON_KINDS:
            shape = "object" if kind == "json" else "array"
            check = f"json_valid({column}) AND json_type({column}) = '{shape}'"
            if optional:
                # SQLite before 3.45 has json_valid(NULL) = 0 (not NULL), which
                # would make the CHECK refuse a NULL in an optional JSON column.
                return f"{column} IS NULL OR ({check})"
            return check
        if kind == "datetime":
            # Fixed width keeps lexical order equal to time order.
            return f"length({column}) = 32"
        return None

    def pattern_check(self, column: str, pattern: str, glob: str) -> str:
        # No regular expressions without a loadable function; a CHECK that
        # needs one breaks every other tool opening the file.
        return f"{column} GLOB {sql_literal(glob)}"

    def string_agg(self, expression: str) -> str:
        return f"GROUP_CONCAT(DISTINCT {expression})"

    def bulk_doc(self, mode: str) -> str:
        return "SQLite runs `executemany` inside one `BEGIN IMMEDIATE` transaction"

    def existing_keys_sql(self, table: str, key: str) -> str:
        # The keys are bound as one JSON array.
        return (
            f"SELECT {key} FROM {table} WHERE {key} IN (SELECT value FROM json_each(?))"
        )

    def literal(self, kind: str, value: Any) -> str:
        if kind == "bool":
            return "1" if value else "0"
        return sql_literal(str(value))

    def render_table_change(self, d: TableDiff, out: Phases) -> None:
        t, rendered = quote(d.table), d.new["rendered"][self.name]
        if d.old is None:
            out["create"].append(rendered["create"] + ";")
            out["create"].extend(sql + ";" for sql in rendered["indexes"].values())
            return
        if not self._needs_rebuild(d):
            self._alter(d, out)
            return
        if d.old_table != d.table:
            # RENAME rewrites the foreign keys of referencing tables too.
            out["rename"].append(f"ALTER TABLE {quote(d.old_table)} RENAME TO {t};")
        self._rebuild(d, out)

    def _needs_rebuild(self, d: TableDiff) -> bool:
        """Whether the change exceeds what SQLite's ALTER TABLE can do."""
        plain_adds = all(
            new_column(d, name)["nullable"]
            and not any(c["column"] == name for c in d.new["checks"].values())
            for name in d.added
        )
        retyped = any(
            ch.old["type"][self.name] != ch.new["type"][self.name]
            or ch.set_not_null
            or ch.drop_not_null
            for ch in d.changed
        )
        return bool(
            d.old_table != d.table
            or d.column_renames
            or d.dropped
            or retyped
            or d.checks_added
            or d.checks_dropped
            or d.renamed_constraints
            or d.fks_added
            or d.fks_dropped
            or d.pk_changed
            or not plain_adds
        )

    def _alter(self, d: TableDiff, out: Phases) -> None:
        """Plain nullable columns and index changes: ALTER TABLE suffices."""
        t, rendered = quote(d.table), d.new["rendered"][self.name]
        out["drop"] += [
            f"DROP INDEX IF EXISTS {quote(ix)};" for ix in d.indexes_dropped
        ]
        out["drop"] += [
            f"DROP INDEX IF EXISTS {quote(a)};" for a, _ in d.renamed_indexes
        ]
        for name, fill in d.added.items():
            col = new_column(d, name)
            out["create"].append(
                f"ALTER TABLE {t} ADD COLUMN {quote(name)} {col['type'][self.name]};"
            )
            if fill is not None:
                value = self.fill_sql(col["kind"], fill)
                out["create"].append(f"UPDATE {t} SET {quote(name)} = {value};")
        names = [*d.indexes_added, *(b for _, b in d.renamed_indexes)]
        out["add"] += [rendered["indexes"][n] + ";" for n in sorted(names)]

    def _rebuild(self, d: TableDiff, out: Phases) -> None:
        """New table under a temporary name, copy, drop, rename, indexes."""
        t, rendered = quote(d.table), d.new["rendered"][self.name]
        temp = quote(REBUILD_PREFIX + d.table)
        create = rendered["create"].replace(
            f"CREATE TABLE {t} (", f"CREATE TABLE {temp} (", 1
        )
        sources = {new: old for old, new in d.column_renames.items()}
        changed = {ch.name: ch for ch in d.changed}
        targets: list[str] = []
        values: list[str] = []
        for col in d.new["columns"]:
            name, kind = col["name"], col["kind"]
            if name in d.added:
                if d.added[name] is None:
                    continue
                value = self.fill_sql(kind, d.added[name])
            else:
                value = quote(sources.get(name, name))
                ch = changed.get(name)
                if ch is not None and ch.set_not_null and ch.fill is not None:
                    value = f"COALESCE({value}, {self.fill_sql(kind, ch.fill)})"
            targets.append(quote(name))
            values.append(value)
        out["create"] += [
            f"-- rebuild {d.table}: new table, copy, drop, rename, indexes",
            create + ";",
            f"INSERT INTO {temp} ({', '.join(targets)})\n"
            f"    SELECT {', '.join(values)} FROM {t};",
            f"DROP TABLE {t};",
            f"ALTER TABLE {temp} RENAME TO {t};",
        ]
        out["create"] += [sql + ";" for sql in rendered["indexes"].values()]
