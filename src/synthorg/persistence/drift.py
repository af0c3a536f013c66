"""Live drift check: where a database's schema differs from the generated one.

The desired state is the generated desired-state DDL
(``generated/ddl/<dialect>.sql``). Rather than parse it, the check builds it
in a scratch place (an in-memory SQLite database; a PostgreSQL schema inside
a transaction that is rolled back) and reads both sides through the same
catalog queries, so each side's text is normalised by the database itself:

* SQLite: ``sqlite_master``, ``PRAGMA table_info``, ``index_list``,
  ``index_xinfo``, ``foreign_key_list``, and the named CHECK constraints of
  the stored CREATE TABLE text;
* PostgreSQL: ``pg_class``, ``pg_attribute``, ``pg_constraint``
  (``pg_get_constraintdef``) and ``pg_index`` (``pg_get_indexdef``).

Tables, columns (type, nullability, default), primary keys, checks, foreign
keys and indexes are compared by name; column order is not (an added column
comes last on both dialects). Command line::

    python -m synthorg.persistence.drift --sqlite PATH
    python -m synthorg.persistence.drift --dsn "host=... dbname=..."
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import sys
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from synthorg.persistence.migrations import MIGRATIONS_TABLE, TIME_COLUMNS, split_sqlite

if TYPE_CHECKING:
    import aiosqlite
    from psycopg import AsyncConnection

    from synthorg.persistence.protocol import PersistenceBackend

Fetch = Callable[[str, tuple[Any, ...]], Awaitable[list[tuple[Any, ...]]]]
Schema = dict[str, dict[str, dict[str, Any]]]  # table -> aspect -> name -> shape
CHECK = re.compile(r'CONSTRAINT\s+"([^"]+)"\s+CHECK\s*\(')
ASPECTS = ("columns", "primary key", "checks", "foreign keys", "indexes")


def desired_ddl(
    dialect: Literal["sqlite", "postgres"], generated: Path | None = None
) -> str:
    """The generated desired-state DDL of ``dialect``."""
    root = (
        resources.files("synthorg.persistence.generated")
        if generated is None
        else generated
    )
    return (root / "ddl" / f"{dialect}.sql").read_text("utf-8")


def _norm(text: str) -> str:
    return " ".join(text.split())


def _checks(create: str) -> dict[str, str]:
    """The named CHECK constraints of a stored CREATE TABLE text."""
    found: dict[str, str] = {}
    for match in CHECK.finditer(create):
        depth, pos = 1, match.end()
        while depth and pos < len(create):
            depth += {"(": 1, ")": -1}.get(create[pos], 0)
            pos += 1
        found[match.group(1)] = _norm(create[match.end() : pos - 1])
    return found


async def sqlite_schema(fetch: Fetch) -> Schema:
    """Every table of a SQLite database, read from its catalog."""
    schema: Schema = {}
    tables = await fetch(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite_%' AND name <> ?",
        (MIGRATIONS_TABLE,),
    )
    index_sql = {
        str(name): str(sql or "")
        for name, sql in await fetch(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index'", ()
        )
    }
    for name, create in tables:
        q = f'"{name}"'
        info = await fetch(f"PRAGMA table_info({q})", ())
        indexes: dict[str, Any] = {}
        for _, ix, unique, origin, _partial in await fetch(
            f"PRAGMA index_list({q})", ()
        ):
            if origin == "pk":
                continue
            cols = [
                (str(col), bool(desc))
                for _, _, col, desc, _, key in await fetch(
                    f'PRAGMA index_xinfo("{ix}")', ()
                )
                if key
            ]
            where = index_sql.get(str(ix), "").partition(" WHERE ")[2]
            indexes[str(ix)] = (bool(unique), cols, _norm(where))
        schema[str(name)] = {
            "columns": {str(r[1]): (str(r[2]), bool(r[3]), r[4]) for r in info},
            "primary key": {
                "": [str(r[1]) for r in sorted(info, key=lambda r: r[5]) if r[5]]
            },
            "checks": _checks(str(create)),
            "foreign keys": {
                f"{r[3]}->{r[2]}.{r[4]}": r[6]
                for r in await fetch(f"PRAGMA foreign_key_list({q})", ())
            },
            "indexes": indexes,
        }
    return schema


async def postgres_schema(fetch: Fetch) -> Schema:
    """Every table of the current PostgreSQL schema, read from pg_catalog."""
    schema: Schema = {}
    tables = await fetch(
        "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
        "AND c.relkind IN ('r', 'p') AND c.relname <> %s",
        (MIGRATIONS_TABLE,),
    )
    for oid, name in tables:
        columns = await fetch(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), co.collname FROM pg_attribute a "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "LEFT JOIN pg_collation co ON co.oid = a.attcollation "
            "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped",
            (oid,),
        )
        constraints = await fetch(
            "SELECT conname, contype, pg_get_constraintdef(oid, true) "
            "FROM pg_constraint WHERE conrelid = %s",
            (oid,),
        )
        indexes = await fetch(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s AND NOT x.indisprimary",
            (oid,),
        )
        by_type: dict[str, dict[str, Any]] = {"p": {}, "c": {}, "f": {}}
        for conname, contype, definition in constraints:
            by_type.setdefault(str(contype), {})[str(conname)] = _norm(str(definition))
        schema[str(name)] = {
            "columns": {
                str(r[0]): (
                    f"{r[1]} collate {r[4]}" if r[4] else str(r[1]),
                    bool(r[2]),
                    r[3],
                )
                for r in columns
            },
            "primary key": by_type["p"],
            "checks": by_type["c"],
            "foreign keys": by_type["f"],
            # The table's schema qualifier differs between the two sides.
            "indexes": {
                str(ix): re.sub(r" ON \S+\.", " ON ", _norm(str(sql)))
                for ix, sql in indexes
            },
        }
    return schema


def compare(
    live: Schema, desired: Schema, skip_pk: frozenset[str] = frozenset()
) -> list[str]:
    """Every difference of ``live`` from ``desired``, one readable line each."""
    problems: list[str] = []
    for table in sorted(set(desired) - set(live)):
        problems.append(f"missing table {table!r}")
    for table in sorted(set(live) - set(desired)):
        problems.append(f"unexpected table {table!r}")
    for table in sorted(set(live) & set(desired)):
        for aspect in ASPECTS:
            if aspect == "primary key" and table in skip_pk:
                continue
            have, want = live[table][aspect], desired[table][aspect]
            for name in sorted(set(want) - set(have)):
                problems.append(f"{table}: missing {aspect} {name!r}: {want[name]}")
            for name in sorted(set(have) - set(want)):
                problems.append(f"{table}: unexpected {aspect} {name!r}: {have[name]}")
            for name in sorted(set(have) & set(want)):
                if have[name] != want[name]:
                    problems.append(
                        f"{table}: {aspect} {name!r} differs: "
                        f"database has {have[name]}, schema wants {want[name]}"
                    )
    return problems


def report(problems: list[str]) -> list[str]:
    """``compare``'s lines grouped by table, for people: a heading per table.

    Whole-table lines (missing or unexpected tables) come first, then each
    table's differences, indented under its name.
    """
    tables: dict[str, list[str]] = {}
    lines: list[str] = []
    for problem in problems:
        table, sep, rest = problem.partition(": ")
        if sep and " " not in table:
            tables.setdefault(table, []).append(rest)
        else:
            lines.append(problem)
    for table in sorted(tables):
        lines.append(f"{table}:")
        lines.extend(f"  {rest}" for rest in tables[table])
    return lines


async def sqlite_drift(db: aiosqlite.Connection, ddl: str) -> list[str]:
    """Differences of the SQLite database ``db`` from the desired ``ddl``."""
    import aiosqlite

    async def live(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in await db.execute_fetchall(sql, params)]

    async with aiosqlite.connect(":memory:") as scratch:
        for statement in split_sqlite(ddl):
            await scratch.execute(statement)

        async def want(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in await scratch.execute_fetchall(sql, params)]

        return compare(await sqlite_schema(live), await sqlite_schema(want))


class _Rollback(Exception):
    pass


async def postgres_drift(
    conn: AsyncConnection[Any], ddl: str, skip_pk: frozenset[str] = frozenset()
) -> list[str]:
    """Differences of the connected PostgreSQL database from ``ddl``.

    The desired tables are built in a scratch schema inside a transaction
    that is always rolled back.
    """

    async def fetch(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        cur = await conn.execute(sql.encode("utf-8"), params)
        return list(await cur.fetchall())

    live = await postgres_schema(fetch)
    scratch = f"_synthorg_drift_{secrets.token_hex(4)}"
    desired: Schema = {}
    try:
        async with conn.transaction():
            await conn.execute(f'CREATE SCHEMA "{scratch}"'.encode())
            await conn.execute(f'SET LOCAL search_path TO "{scratch}"'.encode())
            await conn.execute(ddl.encode("utf-8"))
            desired = await postgres_schema(fetch)
            raise _Rollback
    except _Rollback:
        pass
    return compare(live, desired, skip_pk)


async def check_drift(
    backend: PersistenceBackend, generated: Path | None = None
) -> list[str]:
    """Where the connected ``backend``'s database differs from the generated schema.

    With TimescaleDB enabled the hypertables' primary keys are not compared
    (their key is widened by the time column; see ``hypertable_statements``).
    """
    if backend.backend_name == "sqlite":
        return await sqlite_drift(backend.get_db(), desired_ddl("sqlite", generated))
    config = getattr(backend, "config", None)
    skip = (
        frozenset(TIME_COLUMNS)
        if getattr(config, "enable_timescaledb", False)
        else frozenset()
    )
    async with backend.get_db().connection() as conn:
        return await postgres_drift(conn, desired_ddl("postgres", generated), skip)


async def _run(args: argparse.Namespace) -> list[str]:
    if args.sqlite is not None:
        import aiosqlite

        async with aiosqlite.connect(f"file:{args.sqlite}?mode=ro", uri=True) as db:
            return await sqlite_drift(db, desired_ddl("sqlite", args.generated))
    import psycopg

    async with await psycopg.AsyncConnection.connect(args.dsn, autocommit=True) as conn:
        return await postgres_drift(conn, desired_ddl("postgres", args.generated))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synthorg.persistence.drift")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--sqlite", help="path of a SQLite database file")
    target.add_argument(
        "--dsn", help="libpq connection string of a PostgreSQL database"
    )
    parser.add_argument(
        "--generated", type=Path, help="a generated/ folder (default: installed)"
    )
    args = parser.parse_args(argv)
    problems = asyncio.run(_run(args))
    where = f"sqlite {args.sqlite}" if args.sqlite else "postgres"
    if problems:
        print(f"{where}: schema drift:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    print(f"{where}: no drift from the generated schema")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
