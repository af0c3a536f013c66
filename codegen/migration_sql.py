"""Render dialect-neutral table changes as the statements of one dialect.

PostgreSQL alters tables in place (``ALTER TABLE ... RENAME / ADD COLUMN /
ALTER COLUMN TYPE / SET NOT NULL / ADD CONSTRAINT``). SQLite's ALTER TABLE
can only rename a table and add a plain nullable column, so any other
change to an existing table uses SQLite's documented rebuild: create the new
table under a temporary name, copy the rows, drop the old table, rename the
new one and recreate its indexes. The runner applies a revision in one
transaction with foreign-key enforcement off and ``PRAGMA
foreign_key_check`` before it commits (the documented procedure).

Statements come out in phases across all tables, so that every drop (which
may be needed by a referencing constraint) precedes every add.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from codegen.ir import Dialect, quote, sql_literal
from codegen.migration_diff import TableDiff

REBUILD_PREFIX = "_synthorg_new_"
SQLITE_NOW = "strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')"


class FillError(ValueError):
    """A backfill or default cannot be written as a SQL value of the column."""


def fill_sql(kind: str, value: Any, dialect: Dialect) -> str:
    """The SQL value existing rows get for a column of ``kind``."""
    pg = dialect == "postgres"
    if kind in ("str", "text", "enum"):
        if not isinstance(value, str):
            raise FillError(f"expected a string for a {kind} column, got {value!r}")
        return sql_literal(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise FillError(f"expected true or false, got {value!r}")
        return ("TRUE" if value else "FALSE") if pg else ("1" if value else "0")
    if kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FillError(f"expected a number for a {kind} column, got {value!r}")
        if kind == "int" and not isinstance(value, int):
            raise FillError(f"expected an integer, got {value!r}")
        return repr(float(value)) if kind == "float" else str(value)
    if kind == "datetime":
        if value == "now":
            return "now()" if pg else SQLITE_NOW
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise FillError(
                f"expected 'now' or an ISO-8601 time, got {value!r}"
            ) from None
        if moment.tzinfo is None:
            raise FillError(f"a backfill time needs a timezone: {value!r}")
        text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        return f"{sql_literal(text)}::timestamptz" if pg else sql_literal(text)
    if kind in ("json", "list[str]", "list[int]", "list[json]"):
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
        return f"{sql_literal(text)}::jsonb" if pg else sql_literal(text)
    raise FillError(f"a {kind} column cannot be backfilled")


Phases = dict[str, list[str]]


def _column(d: TableDiff, name: str) -> dict[str, Any]:
    return next(c for c in d.new["columns"] if c["name"] == name)


def _fk_sql(fk: dict[str, Any]) -> str:
    return (
        f"FOREIGN KEY ({quote(fk['column'])}) REFERENCES {quote(fk['table'])} "
        f"({quote(fk['target'])}) ON DELETE {fk['on_delete']}"
    )


def _postgres(d: TableDiff, out: Phases) -> None:
    t, rendered = quote(d.table), d.new["rendered"]["postgres"]
    if d.old is None:
        out["create"].append(rendered["create"] + ";")
        out["create"].extend(sql + ";" for sql in rendered["indexes"].values())
        return
    alter = f"ALTER TABLE {t}"
    if d.old_table != d.table:
        out["rename"].append(f"ALTER TABLE {quote(d.old_table)} RENAME TO {t};")
    out["rename"] += [
        f"{alter} RENAME COLUMN {quote(a)} TO {quote(b)};"
        for a, b in d.column_renames.items()
    ]
    out["drop"] += [f"DROP INDEX IF EXISTS {quote(ix)};" for ix in d.indexes_dropped]
    out["drop"] += [
        f"{alter} DROP CONSTRAINT IF EXISTS {quote(c)};"
        for c in (*d.checks_dropped, *d.fks_dropped)
    ]
    if d.pk_changed:
        out["drop"].append(f"{alter} DROP CONSTRAINT {quote('pk_' + d.old_table)};")
    out["drop"] += [
        f"{alter} RENAME CONSTRAINT {quote(a)} TO {quote(b)};"
        for a, b in d.renamed_constraints
    ]
    out["drop"] += [
        f"ALTER INDEX {quote(a)} RENAME TO {quote(b)};" for a, b in d.renamed_indexes
    ]
    out["drop"] += [f"{alter} DROP COLUMN {quote(c)};" for c in d.dropped]
    body = out["create"]
    for name, fill in d.added.items():
        col = _column(d, name)
        head = f"{alter} ADD COLUMN {quote(name)} {col['type']['postgres']}"
        null = "" if col["nullable"] else " NOT NULL"
        if fill is None:
            body.append(f"{head}{null};")
            continue
        # A DEFAULT fills every existing row in one step; the column itself
        # keeps no database default (defaults are the model's).
        body.append(f"{head}{null} DEFAULT {fill_sql(col['kind'], fill, 'postgres')};")
        body.append(f"{alter} ALTER COLUMN {quote(name)} DROP DEFAULT;")
    for ch in d.changed:
        c = quote(ch.name)
        new_type = ch.new["type"]["postgres"]
        if ch.old["type"]["postgres"] != new_type:
            base = new_type.split(" COLLATE ")[0]
            body.append(f"{alter} ALTER COLUMN {c} TYPE {new_type} USING {c}::{base};")
        if ch.set_not_null:
            if ch.fill is not None:
                value = fill_sql(ch.new["kind"], ch.fill, "postgres")
                body.append(f"UPDATE {t} SET {c} = {value} WHERE {c} IS NULL;")
            body.append(f"{alter} ALTER COLUMN {c} SET NOT NULL;")
        if ch.drop_not_null:
            body.append(f"{alter} ALTER COLUMN {c} DROP NOT NULL;")
    if d.pk_changed:
        keys = ", ".join(quote(k) for k in d.new["primary_key"])
        out["add"].append(
            f"{alter} ADD CONSTRAINT {quote('pk_' + d.table)} PRIMARY KEY ({keys});"
        )
    for name in d.checks_added:
        sql = d.new["checks"][name]["sql"].get("postgres")
        if sql is not None:
            out["add"].append(f"{alter} ADD CONSTRAINT {quote(name)} CHECK ({sql});")
    out["add"] += [
        f"{alter} ADD CONSTRAINT {quote(n)} {_fk_sql(d.new['foreign_keys'][n])};"
        for n in d.fks_added
    ]
    out["add"] += [rendered["indexes"][n] + ";" for n in d.indexes_added]


def _sqlite_needs_rebuild(d: TableDiff) -> bool:
    """Whether the change exceeds what SQLite's ALTER TABLE can do."""
    plain_adds = all(
        _column(d, name)["nullable"]
        and not any(c["column"] == name for c in d.new["checks"].values())
        for name in d.added
    )
    retyped = any(
        ch.old["type"]["sqlite"] != ch.new["type"]["sqlite"]
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


def _sqlite(d: TableDiff, out: Phases) -> None:
    t, rendered = quote(d.table), d.new["rendered"]["sqlite"]
    if d.old is None:
        out["create"].append(rendered["create"] + ";")
        out["create"].extend(sql + ";" for sql in rendered["indexes"].values())
        return
    if not _sqlite_needs_rebuild(d):
        out["drop"] += [
            f"DROP INDEX IF EXISTS {quote(ix)};" for ix in d.indexes_dropped
        ]
        out["drop"] += [
            f"DROP INDEX IF EXISTS {quote(a)};" for a, _ in d.renamed_indexes
        ]
        for name, fill in d.added.items():
            col = _column(d, name)
            out["create"].append(
                f"ALTER TABLE {t} ADD COLUMN {quote(name)} {col['type']['sqlite']};"
            )
            if fill is not None:
                value = fill_sql(col["kind"], fill, "sqlite")
                out["create"].append(f"UPDATE {t} SET {quote(name)} = {value};")
        names = [*d.indexes_added, *(b for _, b in d.renamed_indexes)]
        out["add"] += [rendered["indexes"][n] + ";" for n in sorted(names)]
        return
    if d.old_table != d.table:
        # RENAME rewrites the foreign keys of referencing tables too.
        out["rename"].append(f"ALTER TABLE {quote(d.old_table)} RENAME TO {t};")
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
            value = fill_sql(kind, d.added[name], "sqlite")
        else:
            value = quote(sources.get(name, name))
            ch = changed.get(name)
            if ch is not None and ch.set_not_null and ch.fill is not None:
                value = f"COALESCE({value}, {fill_sql(kind, ch.fill, 'sqlite')})"
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


def render(diffs: list[TableDiff], dropped: list[str], dialect: Dialect) -> list[str]:
    """The statements of one revision in ``dialect``."""
    out: Phases = {"rename": [], "drop": [], "create": [], "add": []}
    for d in diffs:
        (_postgres if dialect == "postgres" else _sqlite)(d, out)
    out["drop"] += [f"DROP TABLE {quote(t)};" for t in dropped]
    return [*out["rename"], *out["drop"], *out["create"], *out["add"]]
