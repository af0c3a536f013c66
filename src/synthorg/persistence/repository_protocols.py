"""The generic repository protocols every generated repository composes.

Every generated repository Protocol composes these categories (ADR-0001 in
the reference): :class:`IdKeyedRepository` for keyed CRUD,
:class:`FilteredQueryRepository` for filter-spec queries and
:class:`AppendOnlyRepository` for append-only logs. Key and filter type
variables are contravariant because they only appear as parameters. Every
paged list method takes ``limit`` from 1 to :data:`MAX_PAGE_SIZE`; its
``iter_*`` sibling streams any number of rows (:mod:`.keyset`). The
helpers the generated code runs are in :mod:`synthorg.persistence.support`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

DEFAULT_PAGE_SIZE = 100
"""Default ``limit`` of every list method."""

MAX_PAGE_SIZE = 10_000
"""Largest ``limit`` of every list method: a page is held in memory whole, so
reading more rows than this goes through the method's ``iter_*`` sibling,
which streams them in batches with memory flat in the number of rows."""

DEFAULT_BATCH_SIZE = 500
"""Default ``batch_size`` of every ``iter_*`` method (rows per read)."""

ModelT = TypeVar("ModelT")
ModelT_co = TypeVar("ModelT_co", covariant=True)
KeyT_contra = TypeVar("KeyT_contra", contravariant=True)
FilterT_contra = TypeVar("FilterT_contra", contravariant=True)


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

    def iter_list_items(
        self, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[ModelT]:
        """Every entity in the declared ordering, read ``batch_size`` rows at a
        time (keyset batches: memory flat in the number of rows; not a
        snapshot, but a row present throughout whose ordering columns do not
        change is yielded exactly once, none twice)."""
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

    def iter_query(
        self, filter_spec: FilterT_contra, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[ModelT_co]:
        """Every matching entity in the declared ordering, streamed in batches
        (see :meth:`IdKeyedRepository.iter_list_items`)."""
        ...

    async def count(self, filter_spec: FilterT_contra) -> int:
        """The number of entities ``query`` can page through."""
        ...


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

    def iter_query(
        self, filter_spec: FilterT_contra, *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> AsyncIterator[ModelT]:
        """Every matching entry, newest first, streamed in batches (see
        :meth:`IdKeyedRepository.iter_list_items`)."""
        ...

    async def purge_before(self, threshold: datetime) -> int:
        """Delete entries older than the aware ``threshold``; the count."""
        ...
