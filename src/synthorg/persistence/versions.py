"""Version snapshots: one generic definition for every ``*_versions`` accessor.

A snapshot freezes one version of a model (a workflow definition, an agent
identity, a budget config, ...) as JSON. ``VersionRepository[T]`` is the
Protocol; :mod:`synthorg.persistence.sqlite.versions` and
:mod:`synthorg.persistence.postgres.versions` implement it once, generic in
the versioned model, and the backend builds one per accessor declared in
``schema/_versions.yaml``.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synthorg.persistence._codec import (
    arg_int,
    arg_str,
    malformed_row,
    revalidate,
    utc_now,
)
from synthorg.persistence.support import check_pagination
from synthorg.persistence.types import NotBlankStr, Timestamp

DEFAULT_VERSION_PAGE_SIZE = 50
"""``list_versions``' own default limit."""

ModelT = TypeVar("ModelT", bound=BaseModel)

_VERSION_COLUMNS = (
    "entity_id",
    "version",
    "content_hash",
    "snapshot",
    "saved_by",
    "saved_at",
)
_TABLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class VersionSnapshot(BaseModel, Generic[ModelT]):
    """One saved version of a model."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    entity_id: NotBlankStr
    version: int = Field(ge=1)
    content_hash: NotBlankStr
    snapshot: ModelT
    saved_by: NotBlankStr
    saved_at: Timestamp = Field(default_factory=utc_now)

    @classmethod
    def of(
        cls,
        entity_id: str,
        version: int,
        snapshot: ModelT,
        saved_by: str,
    ) -> VersionSnapshot[ModelT]:
        """A snapshot whose ``content_hash`` is computed from ``snapshot``."""
        return cls(
            entity_id=entity_id,
            version=version,
            content_hash=content_hash(snapshot),
            snapshot=snapshot,
            saved_by=saved_by,
        )


def content_hash(model: BaseModel) -> str:
    """SHA-256 of the model's canonical JSON (sorted keys, no whitespace)."""
    data = model.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_table(table: str) -> str:
    """A version table name is a generated identifier; refuse anything else."""
    if not _TABLE.match(table):
        raise ValueError(f"invalid version table name {table!r}")
    return table


class VersionRepository(Protocol[ModelT]):
    """Snapshots of one model type, keyed by (entity_id, version)."""

    async def save_version(self, snapshot: VersionSnapshot[ModelT]) -> bool:
        """Insert-or-ignore; True when this call inserted the snapshot."""
        ...

    async def get_version(
        self, entity_id: NotBlankStr, version: int
    ) -> VersionSnapshot[ModelT] | None:
        """One version, or None."""
        ...

    async def get_latest_version(
        self, entity_id: NotBlankStr
    ) -> VersionSnapshot[ModelT] | None:
        """The highest version of an entity, or None."""
        ...

    async def get_by_content_hash(
        self, entity_id: NotBlankStr, content_hash: NotBlankStr
    ) -> VersionSnapshot[ModelT] | None:
        """The newest version of an entity with this content hash, or None."""
        ...

    async def list_versions(
        self,
        entity_id: NotBlankStr,
        limit: int = DEFAULT_VERSION_PAGE_SIZE,
        offset: int = 0,
    ) -> tuple[VersionSnapshot[ModelT], ...]:
        """One page of an entity's versions, newest first."""
        ...

    async def count_versions(self, entity_id: NotBlankStr) -> int:
        """How many versions an entity has."""
        ...

    async def delete_versions_for_entity(self, entity_id: NotBlankStr) -> int:
        """Delete every version of an entity; the count."""
        ...


class VersionSql:
    """The statements of one version table, built once per repository.

    ``table`` is validated as an identifier and always quoted; values are
    bound parameters. ``ph`` is the dialect's placeholder.
    """

    __slots__ = ("count", "delete", "get", "get_by_hash", "insert", "latest", "list")

    def __init__(self, table: str, ph: str, *, returning_deletes: bool) -> None:
        t = f'"{check_table(table)}"'
        cols = (
            '"entity_id", "version", "content_hash", "snapshot", "saved_by", "saved_at"'
        )
        select = f"SELECT {cols} FROM {t}"
        self.insert = (
            f"INSERT INTO {t} ({cols}) VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph}) "
            f'ON CONFLICT ("entity_id", "version") DO NOTHING'
            + (" RETURNING 1" if returning_deletes else "")
        )
        self.get = f'{select} WHERE "entity_id" = {ph} AND "version" = {ph}'
        self.latest = (
            f'{select} WHERE "entity_id" = {ph} ORDER BY "version" DESC LIMIT 1'
        )
        self.get_by_hash = (
            f'{select} WHERE "entity_id" = {ph} AND "content_hash" = {ph} '
            'ORDER BY "version" DESC LIMIT 1'
        )
        self.list = (
            f'{select} WHERE "entity_id" = {ph} ORDER BY "version" DESC '
            f"LIMIT {ph} OFFSET {ph}"
        )
        self.count = f'SELECT COUNT(*) FROM {t} WHERE "entity_id" = {ph}'
        self.delete = f'DELETE FROM {t} WHERE "entity_id" = {ph}' + (
            " RETURNING 1" if returning_deletes else ""
        )


class VersionRepositoryBase(Generic[ModelT]):
    """The dialect-neutral half of ``VersionRepository[T]``.

    A dialect supplies ``_fetch`` (rows of a read), ``_write`` (rows
    affected), ``_row_snapshot`` (the JSON column as Python) and
    ``_param_snapshot`` (the snapshot as a bound value); every public method
    is written once, here.
    """

    __slots__ = ("_name", "_snapshot", "_sql")

    # Indexes of columns the dialect decodes from JSON text itself.
    _json_columns: tuple[int, ...] = ()

    def __init__(self, table: str, model: type[ModelT], sql: VersionSql) -> None:
        self._name = table
        self._sql = sql
        # The parametrized model validates the snapshot as ``model`` once.
        self._snapshot: type[VersionSnapshot[ModelT]] = VersionSnapshot[model]  # type: ignore[valid-type]

    async def _fetch(self, op: str, sql: str, params: tuple[Any, ...]) -> list[Any]:
        raise NotImplementedError

    async def _write(self, op: str, sql: str, params: tuple[Any, ...]) -> int:
        raise NotImplementedError

    def _row_snapshot(self, value: Any) -> Any:
        return value

    def _param_snapshot(self, snapshot: BaseModel) -> Any:
        raise NotImplementedError

    def _param_time(self, value: datetime) -> Any:
        return value

    def _from_row(self, row: Any) -> VersionSnapshot[ModelT]:
        try:
            # Lax ``str`` would accept bytes: a BLOB in a text column is refused.
            if bytes in map(type, row):
                raise TypeError("a BLOB where text is expected")
            return self._snapshot.model_validate(
                {
                    "entity_id": row[0],
                    "version": row[1],
                    "content_hash": row[2],
                    "snapshot": self._row_snapshot(row[3]),
                    "saved_by": row[4],
                    "saved_at": row[5],
                }
            )
        except (ValidationError, ValueError, TypeError) as exc:
            raise malformed_row(
                exc,
                row,
                table=self._name,
                columns=_VERSION_COLUMNS,
                key=(0, 1),
                json=self._json_columns,
            ) from exc

    def _checked(self, snapshot: VersionSnapshot[ModelT]) -> VersionSnapshot[ModelT]:
        """The snapshot validated again, its inner model included.

        ``model_construct`` (of either) skips validation, and a nested model
        instance is not re-validated by its container: saving a version is
        rare, so both are validated on every save (InvalidValueError naming
        ``<table>.<field>``), before anything is written.
        """
        inner = snapshot.snapshot
        if isinstance(inner, BaseModel):
            inner = revalidate(type(inner), inner, f"{self._name}.snapshot")
        data = {**snapshot.__dict__, "snapshot": inner}
        return revalidate(self._snapshot, data, self._name)

    async def save_version(self, snapshot: VersionSnapshot[ModelT]) -> bool:
        """Insert-or-ignore; True when this call inserted the snapshot."""
        snapshot = self._checked(snapshot)
        params = (
            snapshot.entity_id,
            snapshot.version,
            snapshot.content_hash,
            self._param_snapshot(snapshot.snapshot),
            snapshot.saved_by,
            self._param_time(snapshot.saved_at),
        )
        return await self._write("save_version", self._sql.insert, params) > 0

    async def get_version(
        self, entity_id: NotBlankStr, version: int
    ) -> VersionSnapshot[ModelT] | None:
        """One version, or None."""
        key = (
            arg_str(entity_id, f"{self._name}.entity_id"),
            arg_int(version, f"{self._name}.version"),
        )
        rows = await self._fetch("get_version", self._sql.get, key)
        return self._from_row(rows[0]) if rows else None

    async def get_latest_version(
        self, entity_id: NotBlankStr
    ) -> VersionSnapshot[ModelT] | None:
        """The highest version of an entity, or None."""
        key = (arg_str(entity_id, f"{self._name}.entity_id"),)
        rows = await self._fetch("get_latest_version", self._sql.latest, key)
        return self._from_row(rows[0]) if rows else None

    async def get_by_content_hash(
        self, entity_id: NotBlankStr, content_hash: NotBlankStr
    ) -> VersionSnapshot[ModelT] | None:
        """The newest version of an entity with this content hash, or None."""
        key = (
            arg_str(entity_id, f"{self._name}.entity_id"),
            arg_str(content_hash, f"{self._name}.content_hash"),
        )
        rows = await self._fetch("get_by_content_hash", self._sql.get_by_hash, key)
        return self._from_row(rows[0]) if rows else None

    async def list_versions(
        self,
        entity_id: NotBlankStr,
        limit: int = DEFAULT_VERSION_PAGE_SIZE,
        offset: int = 0,
    ) -> tuple[VersionSnapshot[ModelT], ...]:
        """One page of an entity's versions, newest first."""
        check_pagination(limit, offset)
        entity_id = arg_str(entity_id, f"{self._name}.entity_id")
        rows = await self._fetch(
            "list_versions", self._sql.list, (entity_id, limit, offset)
        )
        return tuple(map(self._from_row, rows))

    async def count_versions(self, entity_id: NotBlankStr) -> int:
        """How many versions an entity has."""
        key = (arg_str(entity_id, f"{self._name}.entity_id"),)
        rows = await self._fetch("count_versions", self._sql.count, key)
        return int(rows[0][0])

    async def delete_versions_for_entity(self, entity_id: NotBlankStr) -> int:
        """Delete every version of an entity; the count."""
        key = (arg_str(entity_id, f"{self._name}.entity_id"),)
        return await self._write("delete_versions_for_entity", self._sql.delete, key)
