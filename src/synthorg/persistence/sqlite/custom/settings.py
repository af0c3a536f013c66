"""SQLite bodies of the settings repository's custom methods."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from synthorg.persistence.sqlite.driver import map_sqlite_error

if TYPE_CHECKING:
    from synthorg.persistence.generated.settings import SettingRow, SettingRowKey
    from synthorg.persistence.generated.sqlite.settings import (
        SQLiteSettingRowRepository,
    )


class _CompareFailed(Exception):
    """Rolls the transaction back when one compare-and-set misses."""


async def set_many(
    repo: SQLiteSettingRowRepository,
    items: Sequence[SettingRow],
    expected_updated_at_map: Mapping[SettingRowKey, str] | None = None,
) -> bool:
    """Every item in one transaction; any failed compare rolls all back.

    Each write goes through ``set_if_unchanged``, which joins the transaction
    (the write lock is re-entrant), so the compare-and-set rules are the
    generated ones, not a second copy.
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
    except (
        sqlite3.Error,
        ValueError,
        OverflowError,
    ) as exc:  # ValueError: connection closed
        raise map_sqlite_error(exc, "settings.set_many") from exc
    return True
