"""SQLite's side of the drift check: its catalog read into the compared shape.

``sqlite_master``, ``PRAGMA table_info``, ``index_list``, ``index_xinfo``,
``foreign_key_list``, and the named CHECK constraints of the stored CREATE
TABLE text. The desired side is built in an in-memory database from the
generated DDL and read through the same queries; the comparison itself is
dialect-neutral (:mod:`synthorg.persistence.drift`).
"""

from __future__ import annotations

import re
from typing import Any

import aiosqlite

from synthorg.persistence.drift import Fetch, Schema, compare, norm
from synthorg.persistence.migrations import MIGRATIONS_TABLE, split_sqlite
from synthorg.persistence.sqlite.driver import fetch

CHECK = re.compile(r'CONSTRAINT\s+"([^"]+)"\s+CHECK\s*\(')


def _checks(create: str) -> dict[str, str]:
    """The named CHECK constraints of a stored CREATE TABLE text."""
    found: dict[str, str] = {}
    for match in CHECK.finditer(create):
        depth, pos = 1, match.end()
        while depth and pos < len(create):
            depth += {"(": 1, ")": -1}.get(create[pos], 0)
            pos += 1
        found[match.group(1)] = norm(create[match.end() : pos - 1])
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
            indexes[str(ix)] = (bool(unique), cols, norm(where))
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


async def sqlite_drift(db: aiosqlite.Connection, ddl: str) -> list[str]:
    """Differences of the SQLite database ``db`` from the desired ``ddl``."""

    async def live(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        # The driver's fetch: the live database's statements are released
        # even when reading fails (a read-only drift check pins no snapshot).
        return [tuple(r) for r in await fetch(db, sql, params)]

    async with aiosqlite.connect(":memory:") as scratch:
        for statement in split_sqlite(ddl):
            await scratch.execute(statement)

        async def want(sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in await fetch(scratch, sql, params)]

        return compare(await sqlite_schema(live), await sqlite_schema(want))
