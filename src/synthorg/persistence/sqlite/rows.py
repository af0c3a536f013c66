"""SQLite: the error of a read whose rows the driver could not decode.

``sqlite3`` decodes every TEXT value as UTF-8 while it fetches; a stored
value that is not valid UTF-8 fails the whole fetch with an
``OperationalError`` that names the result column but not the row. Only
on that failure, :func:`unreadable` runs the statement again with a
lenient text factory (undecodable text becomes :class:`Unreadable`) and
hands each row to the repository's ``_from_row``, whose
:class:`MalformedRowError` then names table, key and column. The hot path
is untouched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import aiosqlite

from synthorg.persistence._codec import Unreadable
from synthorg.persistence.errors import MalformedRowError, PersistenceError
from synthorg.persistence.keyset import Keyset
from synthorg.persistence.sqlite.driver import (
    Connections,
    map_sqlite_error,
    undecodable_column,
)

_REASON = "invalid UTF-8 text"

T = TypeVar("T")


def _lenient_text(data: bytes) -> str | Unreadable:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return Unreadable(data, _REASON)


def _fetch_lenient(
    conn: aiosqlite.Connection, sql: str, params: Any
) -> list[sqlite3.Row]:
    """On the connection's own thread: the statement, text decoded leniently."""
    raw: sqlite3.Connection = conn._conn
    previous = raw.text_factory
    raw.text_factory = _lenient_text
    try:
        cursor = raw.execute(sql, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()
    finally:
        raw.text_factory = previous


async def _reread(conns: Connections, sql: str, params: Any) -> list[Any]:
    """The statement again, on the connection a read would use."""
    lock = conns.lock
    if lock.held_by_current_task or conns.reader is conns.db:
        conn = conns.db
        if not lock.held_by_current_task and lock.locked():
            async with lock:
                return await _run(conn, sql, params)
        return await _run(conn, sql, params)
    return await _run(conns.reader, sql, params)


async def _run(conn: aiosqlite.Connection, sql: str, params: Any) -> list[Any]:
    # One job on the connection's thread: nothing else runs on that
    # connection while the text factory is changed.
    rows: list[Any] = await conn._execute(  # type: ignore[no-untyped-call]
        _fetch_lenient, conn, sql, params
    )
    return rows


async def unreadable(
    conns: Connections,
    exc: BaseException,
    sql: str,
    params: Any,
    from_row: Callable[[Any], object],
    operation: str,
) -> PersistenceError:
    """The persistence error of a failed read of ``sql``.

    A stored value that is not valid UTF-8 becomes a
    :class:`MalformedRowError` naming the first unreadable row's table, key
    and column (found by re-reading leniently); anything else is mapped as
    usual by :func:`map_sqlite_error`.
    """
    mapped = map_sqlite_error(exc, operation)
    if undecodable_column(exc) is None:
        return mapped
    try:
        rows = await _reread(conns, sql, params)
    except (sqlite3.Error, ValueError):
        return mapped
    for row in rows:
        try:
            from_row(row)
        except MalformedRowError as error:
            return error
    return mapped  # the row changed between the two reads


async def stream_rows(
    conns: Connections,
    keyset: Keyset,
    from_row: Callable[[Any], T],
    operation: str,
) -> AsyncIterator[T]:
    """The rows of an ``iter_*`` method, one bounded read per keyset batch.

    Nothing is held between batches (each is an ordinary read through
    ``conns``); a batch that cannot be read raises :func:`unreadable`'s error.
    """
    while (step := keyset.next()) is not None:
        sql, params = step
        try:
            rows = await conns.read(sql, params)
        except (sqlite3.Error, ValueError, OverflowError) as exc:
            raise await unreadable(
                conns, exc, sql, params, from_row, operation
            ) from exc
        for row in keyset.took(rows):
            yield from_row(row)
