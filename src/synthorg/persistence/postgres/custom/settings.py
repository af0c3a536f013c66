"""PostgreSQL bodies of the settings repository's custom methods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import psycopg

from synthorg.persistence.postgres.driver import map_postgres_error

if TYPE_CHECKING:
    from synthorg.persistence.generated.postgres.settings import (
        PostgresSettingRowRepository,
    )
    from synthorg.persistence.generated.settings import SettingRow, SettingRowKey


class _CompareFailed(Exception):
    """Rolls the transaction back when one compare-and-set misses."""


async def set_many(
    repo: PostgresSettingRowRepository,
    items: Sequence[SettingRow],
    expected_updated_at_map: Mapping[SettingRowKey, str] | None = None,
) -> bool:
    """Every item in one transaction; any failed compare rolls all back.

    Each write goes through ``set_if_unchanged``, which runs on this
    transaction's connection (the pool checkout is scoped to the context),
    so the compare-and-set rules are the generated ones.
    """
    expected = expected_updated_at_map or {}
    try:
        async with repo.executor.transaction():
            for item in items:
                version = expected.get((item.namespace, item.key))
                if not await repo.set_if_unchanged(item, version):
                    raise _CompareFailed
    except _CompareFailed:
        return False
    except psycopg.Error as exc:
        raise map_postgres_error(exc, "settings.set_many") from exc
    return True
