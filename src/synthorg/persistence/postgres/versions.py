"""PostgreSQL implementation of the generic ``VersionRepository[T]``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from synthorg.persistence._codec import json_text
from synthorg.persistence.postgres.driver import Executor, Pool, map_postgres_error
from synthorg.persistence.postgres.rows import unreadable
from synthorg.persistence.versions import ModelT, VersionRepositoryBase, VersionSql


class PostgresVersionRepository(VersionRepositoryBase[ModelT]):
    """Snapshots of ``model`` in ``table`` on the backend's pool."""

    __slots__ = ("_executor",)

    def __init__(self, pool: Pool, table: str, model: type[ModelT]) -> None:
        super().__init__(table, model, VersionSql(table, "%s", returning_deletes=False))
        self._executor = Executor(pool)

    def _param_snapshot(self, snapshot: BaseModel) -> Any:
        text = json_text(snapshot.model_dump(mode="json"), f"{self._name}.snapshot")
        return Jsonb(text, str)

    def _param_time(self, value: datetime) -> Any:
        return value.astimezone(UTC)

    async def _fetch(self, op: str, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return await self._executor.fetch_all(sql, params)
        except psycopg.Error as exc:
            raise await unreadable(
                self._executor.pool,
                exc,
                sql,
                params,
                self._from_row,
                f"{self._name}.{op}",
            ) from exc

    async def _write(self, op: str, sql: str, params: tuple[Any, ...]) -> int:
        try:
            return await self._executor.execute(sql, params)
        except psycopg.Error as exc:
            raise map_postgres_error(exc, f"{self._name}.{op}") from exc
