"""PostgreSQL bulk writes: the COPY paths of the generated batch methods.

A large upsert batch (``save_many`` from ``_STAGE_THRESHOLD`` rows) used to
be copied into a session temp table and merged with one ``INSERT ...
SELECT ... ON CONFLICT`` inside ``BEGIN``/``COMMIT``: every row crossed the
server twice, the merge inserts row by row (a speculative insertion each)
and the batch cost seven round trips, about half the rate of a plain
``COPY``. :func:`copy_upsert` first asks whether a sample of the batch's
keys (:data:`SAMPLE` of them, spread over the batch, and the last) is
stored: one round trip. When none is, the rows are copied straight into the
table, which is exactly an upsert of new rows. A stored key the sample
missed (or one stored meanwhile by a concurrent writer) fails that ``COPY``
with a unique violation, which writes nothing; the batch is then merged as
before, so the upsert semantics never depend on the look-up. (Looking up
every key costs ~60 ms for 10,000 keys, 7 % of the batch; a batch of
stored keys the sample misses wastes one ``COPY``: the server stops at the
first stored key, the client still sends every row.)

Outside a transaction a ``COPY`` is one statement, atomic on its own: no
``BEGIN``/``COMMIT`` round trips. Inside the caller's ``transaction()`` the
connection is joined and every write runs under a savepoint, so a failed
batch leaves the caller's transaction usable, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow

from synthorg.persistence.postgres.driver import Pool, connection

SAMPLE = 16
"""How many keys of a large upsert batch are looked up before a direct COPY."""


def key_sample(keys: list[Any]) -> list[Any]:
    """:data:`SAMPLE` keys spread evenly over ``keys``, and the last one."""
    if len(keys) <= SAMPLE:
        return keys
    step = len(keys) / SAMPLE
    return [keys[int(i * step)] for i in range(SAMPLE)] + [keys[-1]]


Convert = Callable[[Any], Sequence[Any]]
"""An entity -> its COPY values (the generated ``_copy_row``)."""


async def copy_rows(
    cur: psycopg.AsyncCursor[TupleRow],
    sql: str,
    entities: Iterable[Any],
    convert: Convert,
) -> None:
    """``COPY ... FROM STDIN`` of ``entities`` (text format) on ``cur``.

    Each entity is converted as it is written, so the conversion (a JSON
    dump per JSON value) overlaps the server's work on the rows already
    sent; a value refused midway aborts the ``COPY``, which writes nothing.
    """
    async with cur.copy(sql) as copy:
        for entity in entities:
            await copy.write_row(convert(entity))


def _atomic(
    conn: psycopg.AsyncConnection[TupleRow],
) -> AbstractAsyncContextManager[object]:
    """A savepoint inside the caller's transaction; nothing in autocommit."""
    if conn.info.transaction_status == TransactionStatus.IDLE:
        return nullcontext()  # one statement: atomic by itself
    return conn.transaction()


async def copy_insert(
    pool: Pool, sql: str, entities: Sequence[Any], convert: Convert
) -> None:
    """Insert ``entities`` with one ``COPY``: all or nothing."""
    async with connection(pool) as conn, conn.cursor() as cur, _atomic(conn):
        await copy_rows(cur, sql, entities, convert)


async def copy_upsert(
    pool: Pool,
    entities: Sequence[Any],
    convert: Convert,
    keys: list[Any] | None,
    statements: tuple[str | None, str | None, str, str, str],
) -> bool:
    """Upsert ``entities`` (keys unique in the batch): all or nothing.

    ``statements``: the look-up of stored keys (``... WHERE key = ANY(%s)
    LIMIT 1``, given :func:`key_sample`) and the ``COPY`` into the table (both
    None for a composite key), the staging table's creation, the ``COPY`` into
    it and the merge (which empties the staging table). Returns
    whether the rows went straight in (no key was stored).
    """
    stored, direct, stage, stage_copy, merge = statements
    async with connection(pool) as conn, conn.cursor() as cur:
        if stored is not None and direct is not None and keys is not None:
            await cur.execute(stored, (key_sample(keys),), prepare=True)
            if await cur.fetchone() is None:
                try:
                    async with _atomic(conn):
                        await copy_rows(cur, direct, entities, convert)
                except pg_errors.UniqueViolation:
                    pass  # a key stored meanwhile (or another unique index)
                else:
                    return True
        async with conn.transaction():  # BEGIN, or a savepoint when joined
            await cur.execute(stage)
            await copy_rows(cur, stage_copy, entities, convert)
            await cur.execute(merge)
    return False
