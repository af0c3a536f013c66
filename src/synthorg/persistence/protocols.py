"""Generic repository categories and the one pagination check.

Every generated repository Protocol composes these categories (ADR-0001 in
the reference): :class:`IdKeyedRepository` for keyed CRUD and
:class:`FilteredQueryRepository` for filter-spec queries. Key and filter
type variables are contravariant because they only appear as parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from synthorg.persistence.errors import InvalidValueError

DEFAULT_PAGE_SIZE = 100
"""Default ``limit`` of every list method."""

ModelT = TypeVar("ModelT")
ModelT_co = TypeVar("ModelT_co", covariant=True)
KeyT_contra = TypeVar("KeyT_contra", contravariant=True)
FilterT_contra = TypeVar("FilterT_contra", contravariant=True)


def check_pagination(limit: int, offset: int) -> None:
    """Refuse a bad page window with :class:`InvalidValueError` before any SQL.

    ``bool`` is an ``int`` subclass, so ``limit=True`` would otherwise page
    by one row; it is refused explicitly.
    """
    if type(limit) is not int or limit < 1:
        raise InvalidValueError(
            f"limit must be an int >= 1, got {limit!r}", field="limit"
        )
    if type(offset) is not int or offset < 0:
        raise InvalidValueError(
            f"offset must be an int >= 0, got {offset!r}", field="offset"
        )


class IdKeyedRepository(Protocol[ModelT, KeyT_contra]):
    """Keyed CRUD: ``save`` upserts, ``get`` returns None on a miss."""

    async def save(self, entity: ModelT) -> None:
        """Insert or update ``entity`` by its key."""
        ...

    async def save_many(self, entities: Sequence[ModelT]) -> None:
        """Upsert every entity in one transaction (all or nothing)."""
        ...

    async def get(self, entity_id: KeyT_contra) -> ModelT | None:
        """The entity with this key, or None."""
        ...

    async def delete(self, entity_id: KeyT_contra) -> bool:
        """Delete by key; True when a row was deleted."""
        ...

    async def list_items(
        self, limit: int = DEFAULT_PAGE_SIZE, offset: int = 0
    ) -> tuple[ModelT, ...]:
        """One page in the entity's declared ordering."""
        ...


class FilteredQueryRepository(Protocol[ModelT_co, FilterT_contra]):
    """Queries by a filter spec whose set fields are combined with AND."""

    async def query(
        self,
        filter_spec: FilterT_contra,
        limit: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
    ) -> tuple[ModelT_co, ...]:
        """One page of matching entities in the declared ordering."""
        ...

    async def count(self, filter_spec: FilterT_contra) -> int:
        """The number of entities ``query`` can page through."""
        ...


class FilterSql:
    """The SQL of a filtered statement for each combination of set filters.

    A filter spec with ``n`` optional filters has ``2**n`` WHERE clauses; each
    is built once, on first use, and reused, so no call assembles SQL text.
    ``mask`` bit ``i`` is set when filter ``i`` is present.
    """

    __slots__ = (
        "_always",
        "_conditions",
        "_prefix",
        "_suffix",
        "_variants",
        "min_mask",
    )

    def __init__(
        self,
        prefix: str,
        conditions: tuple[str, ...],
        suffix: str,
        always: tuple[str, ...] = (),
        *,
        require_any: bool = False,
    ) -> None:
        self._prefix = prefix
        self._conditions = conditions
        self._suffix = suffix
        self._always = always
        # Callers guarantee a set filter (they raise before running SQL), so
        # the unfiltered variant is never built and needs no index.
        self.min_mask = 1 if require_any else 0
        self._variants: dict[int, str] = {}

    def __getitem__(self, mask: int) -> str:
        sql = self._variants.get(mask)
        if sql is None:
            parts = [c for i, c in enumerate(self._conditions) if mask >> i & 1]
            parts.extend(self._always)
            where = f" WHERE {' AND '.join(parts)}" if parts else ""
            sql = self._variants[mask] = f"{self._prefix}{where}{self._suffix}"
        return sql


class AppendOnlyRepository(Protocol[ModelT, FilterT_contra]):
    """Append-only logs: ``append`` never overwrites; retention by time."""

    async def append(self, entity: ModelT) -> None:
        """Insert; :class:`DuplicateRecordError` when the key already exists."""
        ...

    async def append_many(self, entities: Sequence[ModelT]) -> None:
        """Insert every entry in one transaction; on a duplicate key nothing
        is written and :class:`DuplicateRecordError` names the key."""
        ...

    async def query(
        self,
        filter_spec: FilterT_contra,
        limit: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
    ) -> tuple[ModelT, ...]:
        """One page of matching entries, newest first."""
        ...

    async def purge_before(self, threshold: datetime) -> int:
        """Delete entries older than the aware ``threshold``; the count."""
        ...


def duplicate_keys(keys: Sequence[object]) -> list[object]:
    """Keys that occur more than once in a batch, in first-seen order."""
    seen: set[object] = set()
    dupes: dict[object, None] = {}
    for key in keys:
        if key in seen:
            dupes[key] = None
        seen.add(key)
    return list(dupes)


def require_aware(value: datetime) -> datetime:
    """Refuse a naive datetime argument with :class:`InvalidValueError`."""
    if value.utcoffset() is None:
        raise InvalidValueError(
            "a timezone-aware datetime is required, got a naive one",
            field="datetime",
        )
    return value
