"""PostgreSQL's side of the drift check: pg_catalog read into the compared shape.

``pg_class``, ``pg_attribute``, ``pg_constraint`` (``pg_get_constraintdef``)
and ``pg_index`` (``pg_get_indexdef``). The desired side is built in a
scratch schema inside a transaction that is always rolled back, and read
through the same queries; the comparison itself is dialect-neutral
(:mod:`synthorg.persistence.drift`).
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from psycopg import AsyncConnection

from synthorg.persistence.drift import Fetch, Schema, compare, norm
from synthorg.persistence.migrations import MIGRATIONS_TABLE


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
            by_type.setdefault(str(contype), {})[str(conname)] = norm(str(definition))
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
                str(ix): re.sub(r" ON \S+\.", " ON ", norm(str(sql)))
                for ix, sql in indexes
            },
        }
    return schema


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
