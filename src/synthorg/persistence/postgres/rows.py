"""PostgreSQL: how fetched values load, and the error of a read that failed.

:class:`JsonbLoader` is the text ``jsonb`` loader of every pooled
connection: one call of the standard library's C scanner per value, where
``json.loads`` adds three Python frames and an encoding detection (~5x the
cost of the parse itself for the small documents rows hold). The values are
the ones ``json.loads`` returns.

psycopg turns each value into a Python object while it fetches. A stored
``timestamptz`` outside Python's years 1-9999 (``'infinity'``,
``'-infinity'``, year 10000, a BC date) makes its loader raise a client-side
``DataError`` that names neither the column nor the row. Only on that
failure, :func:`unreadable` runs the statement again with a lenient
timestamp loader (an unloadable value becomes :class:`Unreadable`) and hands
each row to the repository's ``_from_row``, whose
:class:`MalformedRowError` then names table, key and column. The loaders of
the hot path are untouched.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from json.decoder import JSONDecoder
from typing import Any, TypeVar

import psycopg
from psycopg.adapt import Loader
from psycopg.pq.abc import Buffer
from psycopg.types.datetime import TimestamptzLoader

from synthorg.persistence._codec import Unreadable
from synthorg.persistence.errors import MalformedRowError, PersistenceError
from synthorg.persistence.keyset import Keyset
from synthorg.persistence.postgres.driver import (
    Executor,
    Pool,
    connection,
    map_postgres_error,
)

_REASON = "timestamp outside years 1-9999"
# json.loads's own C scanner (an attribute typeshed does not declare).
_SCAN: Callable[[str, int], tuple[Any, int]] = JSONDecoder().scan_once  # type: ignore[attr-defined]

T = TypeVar("T")


class JsonbLoader(Loader):
    """Text ``jsonb`` -> Python, as ``json.loads`` would, in one C call.

    The server's ``jsonb`` output is canonical (no surrounding space), so
    the scanner reads the whole text; anything else (never seen) goes
    through ``json.loads``, which returns or raises exactly as before.
    """

    def load(self, data: Buffer) -> Any:
        """The value of one fetched ``jsonb`` (UTF-8 text)."""
        text = str(data, "utf-8")
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:
            return json.loads(text)
        return value if end == len(text) else json.loads(text)


class _LenientTimestamptz(TimestamptzLoader):
    """The text ``timestamptz`` loader; an unloadable value is marked, not raised."""

    def load(self, data: Buffer) -> datetime | Unreadable:  # type: ignore[override]
        try:
            return super().load(data)
        except (psycopg.DataError, ValueError, OverflowError):
            return Unreadable(bytes(data).decode("utf-8", "replace"), _REASON)


def is_load_error(exc: BaseException) -> bool:
    """Whether ``exc`` is psycopg failing to load a fetched value (client side)."""
    return isinstance(exc, psycopg.DataError) and exc.sqlstate is None


async def unreadable(
    pool: Pool,
    exc: BaseException,
    sql: str,
    params: Any,
    from_row: Callable[[Any], object],
    operation: str,
) -> PersistenceError:
    """The persistence error of a failed read of ``sql``.

    A value psycopg could not load becomes a :class:`MalformedRowError`
    naming the first unreadable row's table, key and column (found by
    re-reading leniently); anything else is mapped as usual by
    :func:`map_postgres_error`.
    """
    mapped = map_postgres_error(exc, operation)
    if not is_load_error(exc):
        return mapped
    try:
        async with connection(pool) as conn, conn.cursor() as cur:
            cur.adapters.register_loader("timestamptz", _LenientTimestamptz)
            await cur.execute(sql, params)
            rows = await cur.fetchall()
    except psycopg.Error:
        return mapped  # not a value of a fetched row (e.g. a refused parameter)
    for row in rows:
        try:
            from_row(row)
        except MalformedRowError as error:
            return error
    return mapped  # the row changed between the two reads


async def stream_rows(
    executor: Executor,
    pool: Pool,
    keyset: Keyset,
    from_row: Callable[[Any], T],
    operation: str,
) -> AsyncIterator[T]:
    """The rows of an ``iter_*`` method, one bounded read per keyset batch.

    Nothing is held between batches (each is an ordinary read through
    ``executor``); a batch that cannot be read raises :func:`unreadable`'s
    error.
    """
    while (step := keyset.next()) is not None:
        sql, params = step
        try:
            rows = await executor.fetch_all(sql, params)
        except psycopg.Error as exc:
            raise await unreadable(pool, exc, sql, params, from_row, operation) from exc
        for row in keyset.took(rows):
            yield from_row(row)
