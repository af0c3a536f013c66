"""SQLite implementation of the generic ``VersionRepository[T]``."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from synthorg.persistence._codec import dt_to_text, json_loads, json_text
from synthorg.persistence.sqlite.driver import Connections, map_sqlite_error
from synthorg.persistence.sqlite.rows import unreadable
from synthorg.persistence.versions import ModelT, VersionRepositoryBase, VersionSql


class SQLiteVersionRepository(VersionRepositoryBase[ModelT]):
    """Snapshots of ``model`` in ``table`` on the backend's connections."""

    __slots__ = ("_conns",)

    _json_columns = (3,)

    def __init__(self, conns: Connections, table: str, model: type[ModelT]) -> None:
        super().__init__(table, model, VersionSql(table, "?", returning_deletes=True))
        self._conns = conns

    def _row_snapshot(self, value: Any) -> Any:
        return json_loads(value)

    def _param_snapshot(self, snapshot: BaseModel) -> Any:
        return json_text(snapshot.model_dump(mode="json"), f"{self._name}.snapshot")

    def _param_time(self, value: datetime) -> Any:
        return dt_to_text(value)

    async def _fetch(self, op: str, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return list(await self._conns.read(sql, params))
        except (sqlite3.Error, ValueError, OverflowError) as exc:
            raise await unreadable(
                self._conns, exc, sql, params, self._from_row, f"{self._name}.{op}"
            ) from exc

    async def _write(self, op: str, sql: str, params: tuple[Any, ...]) -> int:
        try:
            rows = await self._conns.write(sql, params)
        except (sqlite3.Error, ValueError, OverflowError) as exc:
            raise map_sqlite_error(exc, f"{self._name}.{op}") from exc
        return sum(1 for _ in rows)
