"""PostgreSQL: column types and codecs, CHECK spellings, migrations by ALTER.

Native types throughout: TIMESTAMPTZ, JSONB, BOOLEAN, BIGINT, DOUBLE
PRECISION, BYTEA; enums are TEXT guarded by an ``IN`` list so adding a value
is a constraint change rather than an ``ALTER TYPE``. Tables are altered in
place (``ALTER TABLE ... RENAME / ADD COLUMN / ALTER COLUMN TYPE / SET NOT
NULL / ADD CONSTRAINT``).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, ClassVar

from codegen.dialects.base import (
    JSON_KINDS,
    Dialect,
    Phases,
    fk_sql,
    new_column,
    quote,
    sql_literal,
    support,
)

if TYPE_CHECKING:
    from codegen.migration_types import TableDiff


class Postgres(Dialect):
    """PostgreSQL through psycopg 3 and a psycopg_pool connection pool."""

    name = "postgres"
    title = "PostgreSQL"
    class_prefix = "Postgres"
    placeholder = "%s"
    nulls_sort_high = True
    count_returning = ""  # the cursor's rowcount counts affected rows
    # xmax is 0 exactly for a row the upsert inserted.
    upsert_created_returning = " RETURNING (xmax = 0)"
    time_bind = "{v}"  # psycopg binds an aware datetime as TIMESTAMPTZ
    codec_uses = {
        "datetime": frozenset({"datetime:UTC"}),
        **dict.fromkeys(
            JSON_KINDS,
            frozenset({"psycopg.types.json:Jsonb", support("json_text")}),
        ),
    }
    now = "now()"
    # Text sorts byte-wise ("C" collation), exactly as SQLite's BINARY does, so
    # a list ordered by a text column pages identically on both backends and
    # does not depend on the server's locale.
    column_types = {
        "str": 'TEXT COLLATE "C"',
        "text": 'TEXT COLLATE "C"',
        "enum": 'TEXT COLLATE "C"',
        "int": "BIGINT",
        "bool": "BOOLEAN",
        "float": "DOUBLE PRECISION",
        "datetime": "TIMESTAMPTZ",
        "bytes": "BYTEA",
        "json": "JSONB",
        "list[str]": "JSONB",
        "list[int]": "JSONB",
        "list[json]": "JSONB",
    }
    encoders = {
        "enum": "{v}.value",
        # SQLite REAL and jsonb keep no negative zero: 0.0 on both backends.
        "float": "{v} + 0.0",
        # COPY refuses offsets beyond +-15:59 that Python allows: bind UTC.
        "datetime": "{v}.astimezone(UTC)",
        # The text json_text checked (naming field {f}) goes out as is (dumps=str).
        "json": "Jsonb(json_text({v}, {f}), str)",
        "list[str]": "Jsonb(json_text({v}, {f}), str)",
        "list[int]": "Jsonb(json_text({v}, {f}), str)",
        "list[json]": "Jsonb(json_text({v}, {f}), str)",
    }
    # Text COPY hands a str to the server as is: JSON goes as its checked
    # text, without a Jsonb wrapper (a Python dumper call per value).
    copy_encoders = dict.fromkeys(JSON_KINDS, "json_text({v}, {f})")
    # psycopg already returns Python objects for JSONB, TIMESTAMPTZ and BOOLEAN.
    decoders: ClassVar[dict[str, str]] = {}
    # save_many: COPY for inserts; a staged COPY + merge for large upserts.
    bulk_consts = ("_STORED", "_COPY", "_STAGE", "_STAGE_COPY", "_STAGE_MERGE")
    driver_module = "synthorg.persistence.postgres.driver"
    driver_names = frozenset({"PostgresRepositoryBase", "map_postgres_error"})
    plain_imports = frozenset({"psycopg"})
    init_driver_names = frozenset({"Pool"})

    def kind_check(self, kind: str, column: str, optional: bool) -> str | None:
        if kind == "json":
            return f"jsonb_typeof({column}) = 'object'"
        if kind in ("list[str]", "list[int]", "list[json]"):
            return f"jsonb_typeof({column}) = 'array'"
        return None

    def pattern_check(self, column: str, pattern: str, glob: str) -> str:
        return f"{column} ~ {sql_literal(pattern)}"

    def string_agg(self, expression: str) -> str:
        return f"STRING_AGG(DISTINCT {expression}, ',' ORDER BY {expression})"

    def existing_keys_sql(self, table: str, key: str) -> str:
        return f"SELECT {key} FROM {table} WHERE {key} = ANY(%s)"

    def bulk_doc(self, mode: str) -> str:
        if mode == "insert":
            return "PostgreSQL streams the rows with `COPY`"
        return (
            "PostgreSQL pipelines the upserts with `executemany` below 64 rows; "
            "from 64 rows it streams them with `COPY` straight into the table "
            "when the key is one column and none of a sample of the batch's keys "
            "is stored (a stored key fails that `COPY`, which writes nothing), "
            "else into a session temp table merged with one "
            "`INSERT ... SELECT ... ON CONFLICT`"
        )

    def bulk_statements(
        self, table: str, columns: str, keys: str, conflict: str, mode: str
    ) -> list[tuple[str, str]]:
        t = quote(table)
        if mode == "insert":  # COPY streams the rows
            return [("_COPY", f"COPY {t} ({columns}) FROM STDIN")]
        # Large upsert batches: when no key of the batch is stored (_STORED,
        # single-column keys), COPY straight into the table under a
        # savepoint; otherwise (or on a key stored meanwhile) COPY into a
        # session temp table, then one INSERT ... SELECT ... ON CONFLICT
        # (rows cleared at commit). See synthorg.persistence.postgres.bulk.
        stage = quote(f"_stage_{table}")
        direct: list[tuple[str, str]] = []
        if "," not in keys:  # a single-column key can be looked up with ANY
            direct = [
                ("_STORED", f"SELECT 1 FROM {t} WHERE {keys} = ANY(%s) LIMIT 1"),
                ("_COPY", f"COPY {t} ({columns}) FROM STDIN"),
            ]
        return [
            *direct,
            (
                "_STAGE",
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
                f"(LIKE {t} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS",
            ),
            ("_STAGE_COPY", f"COPY {stage} ({columns}) FROM STDIN"),
            (
                "_STAGE_MERGE",
                # The merge empties the staging table as it reads it: a second
                # batch in the same transaction must not merge the first again.
                f"WITH staged AS (DELETE FROM {stage} RETURNING {columns}) "
                f"INSERT INTO {t} ({columns}) "
                f"SELECT {columns} FROM staged ON CONFLICT ({keys}) {conflict}",
            ),
        ]

    def repository_imports(
        self, shapes: AbstractSet[str]
    ) -> tuple[dict[str, set[str]], set[str]]:
        modules, plain = super().repository_imports(shapes)
        driver = modules[self.driver_module]
        if "batch" in shapes:
            modules.setdefault("synthorg.persistence.postgres", set()).add("bulk")
        if "entity" in shapes:  # versioned_append: retried on a race
            driver.add("connection")
            driver.add("savepoint_in_transaction")
            modules["psycopg"] = {"errors as pg_errors"}
            plain |= {"asyncio", "random"}
        return modules, plain

    def literal(self, kind: str, value: Any) -> str:
        if kind == "bool":
            return "TRUE" if value else "FALSE"
        if kind == "datetime":
            return f"{sql_literal(str(value))}::timestamptz"
        if kind in ("json", "list[str]", "list[int]", "list[json]"):
            return f"{sql_literal(str(value))}::jsonb"
        return sql_literal(str(value))

    def render_table_change(self, d: TableDiff, out: Phases) -> None:
        t, rendered = quote(d.table), d.new["rendered"][self.name]
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
        self._drops(d, out, alter)
        self._columns(d, out, alter)
        if d.pk_changed:
            keys = ", ".join(quote(k) for k in d.new["primary_key"])
            out["add"].append(
                f"{alter} ADD CONSTRAINT {quote('pk_' + d.table)} PRIMARY KEY ({keys});"
            )
        for name in d.checks_added:
            sql = d.new["checks"][name]["sql"].get(self.name)
            if sql is not None:
                out["add"].append(
                    f"{alter} ADD CONSTRAINT {quote(name)} CHECK ({sql});"
                )
        out["add"] += [
            f"{alter} ADD CONSTRAINT {quote(n)} {fk_sql(d.new['foreign_keys'][n])};"
            for n in d.fks_added
        ]
        out["add"] += [rendered["indexes"][n] + ";" for n in d.indexes_added]

    @staticmethod
    def _drops(d: TableDiff, out: Phases, alter: str) -> None:
        out["drop"] += [
            f"DROP INDEX IF EXISTS {quote(ix)};" for ix in d.indexes_dropped
        ]
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
            f"ALTER INDEX {quote(a)} RENAME TO {quote(b)};"
            for a, b in d.renamed_indexes
        ]
        out["drop"] += [f"{alter} DROP COLUMN {quote(c)};" for c in d.dropped]

    def _columns(self, d: TableDiff, out: Phases, alter: str) -> None:
        t, body = quote(d.table), out["create"]
        for name, fill in d.added.items():
            col = new_column(d, name)
            head = f"{alter} ADD COLUMN {quote(name)} {col['type'][self.name]}"
            null = "" if col["nullable"] else " NOT NULL"
            if fill is None:
                body.append(f"{head}{null};")
                continue
            # A DEFAULT fills every existing row in one step; the column itself
            # keeps no database default (defaults are the model's).
            body.append(f"{head}{null} DEFAULT {self.fill_sql(col['kind'], fill)};")
            body.append(f"{alter} ALTER COLUMN {quote(name)} DROP DEFAULT;")
        for ch in d.changed:
            c = quote(ch.name)
            new_type = ch.new["type"][self.name]
            if ch.old["type"][self.name] != new_type:
                base = new_type.split(" COLLATE ")[0]
                body.append(
                    f"{alter} ALTER COLUMN {c} TYPE {new_type} USING {c}::{base};"
                )
            if ch.set_not_null:
                if ch.fill is not None:
                    value = self.fill_sql(ch.new["kind"], ch.fill)
                    body.append(f"UPDATE {t} SET {c} = {value} WHERE {c} IS NULL;")
                body.append(f"{alter} ALTER COLUMN {c} SET NOT NULL;")
            if ch.drop_not_null:
                body.append(f"{alter} ALTER COLUMN {c} DROP NOT NULL;")
