"""SQLite implementation of the generic ``VersionRepository[T]``."""

from __future__ import annotations

import sqlite3
from typing import Any, Generic

from pydantic import ValidationError

from synthorg.persistence._codec import dt_to_text, json_dumps, json_loads
from synthorg.persistence.errors import MalformedRowError
from synthorg.persistence.protocols import check_pagination
from synthorg.persistence.sqlite.driver import Connections, map_sqlite_error
from synthorg.persistence.types import NotBlankStr
from synthorg.persistence.versions import (
    DEFAULT_VERSION_PAGE_SIZE,
    ModelT,
    VersionSnapshot,
    VersionSql,
)


class SQLiteVersionRepository(Generic[ModelT]):
    """Snapshots of ``model`` in ``table`` on the shared aiosqlite connection."""

    __slots__ = ("_conns", "_name", "_snapshot", "_sql")

    def __init__(self, conns: Connections, table: str, model: type[ModelT]) -> None:
        self._conns = conns
        self._name = table
        self._sql = VersionSql(table, "?", returning_deletes=True)
        # The parametrized model validates the snapshot as ``model`` once.
        self._snapshot: type[VersionSnapshot[ModelT]] = VersionSnapshot[model]  # type: ignore[valid-type]

    def _from_row(self, row: Any) -> VersionSnapshot[ModelT]:
        try:
            return self._snapshot.model_validate(
                {
                    "entity_id": row[0],
                    "version": row[1],
                    "content_hash": row[2],
                    "snapshot": json_loads(row[3]),
                    "saved_by": row[4],
                    "saved_at": row[5],
                }
            )
        except (ValidationError, ValueError, TypeError) as exc:
            raise MalformedRowError(
                f"{self._name} row {row[0]!r} v{row[1]!r} cannot be read: {exc}"
            ) from exc

    async def _fetch(self, op: str, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return list(await self._conns.read(sql, params))
        except (sqlite3.Error, ValueError, OverflowError) as exc:
            raise map_sqlite_error(exc, f"{self._name}.{op}") from exc

    async def _write(self, op: str, sql: str, params: tuple[Any, ...]) -> int:
        try:
            rows = await self._conns.write(sql, params)
        except (sqlite3.Error, ValueError, OverflowError) as exc:
            raise map_sqlite_error(exc, f"{self._name}.{op}") from exc
        return sum(1 for _ in rows)

    async def save_version(self, snapshot: VersionSnapshot[ModelT]) -> bool:
        """Insert-or-ignore; True when this call inserted the snapshot."""
        params = (
            snapshot.entity_id,
            snapshot.version,
            snapshot.content_hash,
            json_dumps(snapshot.snapshot.model_dump(mode="json")),
            snapshot.saved_by,
            dt_to_text(snapshot.saved_at),
        )
        return await self._write("save_version", self._sql.insert, params) > 0

    async def get_version(
        self, entity_id: NotBlankStr, version: int
    ) -> VersionSnapshot[ModelT] | None:
        """One version, or None."""
        rows = await self._fetch("get_version", self._sql.get, (entity_id, version))
        return self._from_row(rows[0]) if rows else None

    async def get_latest_version(
        self, entity_id: NotBlankStr
    ) -> VersionSnapshot[ModelT] | None:
        """The highest version of an entity, or None."""
        rows = await self._fetch("get_latest_version", self._sql.latest, (entity_id,))
        return self._from_row(rows[0]) if rows else None

    async def get_by_content_hash(
        self, entity_id: NotBlankStr, content_hash: NotBlankStr
    ) -> VersionSnapshot[ModelT] | None:
        """The newest version of an entity with this content hash, or None."""
        rows = await self._fetch(
            "get_by_content_hash", self._sql.get_by_hash, (entity_id, content_hash)
        )
        return self._from_row(rows[0]) if rows else None

    async def list_versions(
        self,
        entity_id: NotBlankStr,
        limit: int = DEFAULT_VERSION_PAGE_SIZE,
        offset: int = 0,
    ) -> tuple[VersionSnapshot[ModelT], ...]:
        """One page of an entity's versions, newest first."""
        check_pagination(limit, offset)
        rows = await self._fetch(
            "list_versions", self._sql.list, (entity_id, limit, offset)
        )
        return tuple(map(self._from_row, rows))

    async def count_versions(self, entity_id: NotBlankStr) -> int:
        """How many versions an entity has."""
        rows = await self._fetch("count_versions", self._sql.count, (entity_id,))
        return int(rows[0][0])

    async def delete_versions_for_entity(self, entity_id: NotBlankStr) -> int:
        """Delete every version of an entity; the count."""
        return await self._write(
            "delete_versions_for_entity", self._sql.delete, (entity_id,)
        )
